import { createHash } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { GraphiQLOptions } from 'graphql-yoga';
import { logger } from './logger.js';

const INBOX = `# Welcome to the salon messaging API.
# 1. Get a token:   npm run seed && npm run token -- salon@example.com
# 2. In the Headers tab below: {"authorization": "Bearer <token>"}
# 3. Run this query, then try the other tabs (the subscription runs over graphql-ws).
query Inbox {
  me { id firstName role }
  unreadCount
  conversations(first: 10) {
    totalCount
    edges {
      node {
        id
        subject
        unreadCount
        client { firstName lastName online }
        lastMessage { content createdAt author { firstName } }
      }
    }
  }
}
`;

/** A variable with this value is replaced by a fresh UUID on every run (see FRESH_IDS_SCRIPT). */
const FRESH_UUID = '$uuid';

const SEND = `# Sends "Bonjour !": put a conversation id from the inbox tab in the variables below.
# clientMessageId is the idempotency key: an app makes a new one for each message and sends it
# again, unchanged, when it retries (the retry then gets the first message back, never a
# duplicate). On this page "${FRESH_UUID}" in the variables becomes a fresh UUID on each run, so
# each run sends a new message.
mutation Send($conversationId: ID!, $clientMessageId: String) {
  sendMessage(input: { conversationId: $conversationId, content: "Bonjour !", clientMessageId: $clientMessageId }) {
    id
    seq
    createdAt
  }
}
`;

const LIVE = `# Open this tab, then send a message from another tab or client.
subscription Live {
  messageAdded { conversationId seq content author { firstName } }
}
`;

// Empty until a token is pasted ("Bearer eyJ…"): an empty header is anonymous, so GraphiQL's
// schema request (introspection) still works before the developer has a token.
const headers = JSON.stringify({ authorization: '' }, null, 2);

/** GraphiQL as developers first see it: the examples preloaded, subscriptions over graphql-ws. */
export const graphiqlOptions: GraphiQLOptions = {
  title: 'Salon messaging API',
  subscriptionsProtocol: 'WS',
  defaultQuery: INBOX,
  headers,
  defaultTabs: [
    { query: INBOX, headers },
    {
      query: SEND,
      variables: JSON.stringify({ conversationId: '<a conversation id from the inbox>', clientMessageId: FRESH_UUID }, null, 2),
      headers,
    },
    { query: LIVE, headers },
  ],
};

/**
 * GraphiQL keeps its tabs, variables included, in the browser's storage and sends a tab's
 * variables as they stand, so any fixed clientMessageId in the example, even one drawn at random
 * when the page is served, would be sent again on the next run (the old message comes back) or
 * in another conversation (CONFLICT). GraphiQL has no per-run hook, so the page wraps `fetch`,
 * which its HTTP requests (queries and mutations) go through, and puts a fresh UUID wherever a
 * variable's value is exactly "$uuid". Loaded before GraphiQL's own script, so it is the `fetch`
 * GraphiQL finds. `crypto.randomUUID` only exists on secure origins (not http://<LAN address>);
 * there a v4 UUID is built from `crypto.getRandomValues`, available everywhere.
 */
const FRESH_IDS_SCRIPT = `<script>
(() => {
  const marker = ${JSON.stringify(FRESH_UUID)};
  const uuid = () => {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  };
  const fresh = (value) =>
    value === marker ? uuid()
    : Array.isArray(value) ? value.map(fresh)
    : value !== null && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fresh(v)]))
    : value;
  const original = window.fetch;
  window.fetch = function (input, init) {
    if (init && typeof init.body === 'string' && init.body.includes(JSON.stringify(marker))) {
      try {
        const body = JSON.parse(init.body);
        if (body && body.variables) init = { ...init, body: JSON.stringify({ ...body, variables: fresh(body.variables) }) };
      } catch {}
    }
    return original.call(this, input, init);
  };
})();
</script>`;

/** Where the page's script, style sheet, editor workers and icon are served (graphiqlAssetRoutes). */
const GRAPHIQL_ASSET_PREFIX = '/graphiql/';

interface Asset {
  body: Buffer;
  contentType: string;
  /** The content's hash, in its name and (with the coding) in its ETag. */
  hash: string;
  /** Compressed on its first request that accepts gzip, then kept. */
  gzipped?: Promise<Buffer>;
}

type AssetUrls = Record<'script' | 'style' | 'icon' | 'editorWorkerService' | 'json' | 'graphql', string>;

let loading: Promise<{ byPath: Map<string, Asset>; url: AssetUrls }> | undefined;

/**
 * GraphiQL's bundle (yoga's own build: GraphiQL, Monaco, its three editor workers) as files named
 * by their content. yoga's page inlines all of it, 9 MB sent and compiled again on every visit;
 * as files with content-hashed names a browser keeps them (and V8 its compiled code) until the
 * bundle changes. Imported on the first request that needs it, not at start: the module is 9 MB
 * of string literals, 0.4 s of CPU and 34 MB of heap in an instance that may never serve the page.
 */
function graphiqlAssets() {
  // A module of yoga's package reached through its `./*` export, not its documented API: a yoga
  // release that changes it fails test/graphiql.test.ts, which loads the page in Chromium.
  loading ??= import('@graphql-yoga/render-graphiql/graphiql').then(({ css, editorWorkerService, favicon, graphqlWorker, js, jsonWorker }) => {
    const byPath = new Map<string, Asset>();
    const add = (name: string, extension: string, contentType: string, body: Buffer) => {
      const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
      const path = `${GRAPHIQL_ASSET_PREFIX}${name}.${hash}.${extension}`;
      byPath.set(path, { body, contentType, hash });
      return path;
    };
    const script = 'text/javascript; charset=utf-8';
    const icon = /^data:([^;,]+);base64,(.*)$/s.exec(favicon);
    const url: AssetUrls = {
      script: add('graphiql', 'js', script, Buffer.from(js)),
      style: add('graphiql', 'css', 'text/css; charset=utf-8', Buffer.from(css)),
      icon: icon ? add('favicon', 'ico', icon[1]!, Buffer.from(icon[2]!, 'base64')) : favicon,
      editorWorkerService: add('editor.worker', 'js', script, Buffer.from(editorWorkerService)),
      json: add('json.worker', 'js', script, Buffer.from(jsonWorker)),
      graphql: add('graphql.worker', 'js', script, Buffer.from(graphqlWorker)),
    };
    return { byPath, url };
  });
  // A failed import is tried again by the next request, not kept for the life of the process.
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}

const gzipAsync = promisify(gzip);

const ASSET_NAME = /^\/graphiql\/[a-z.]+\.[0-9a-f]{16}\.(js|css|ico)$/;

function acceptsGzip(req: IncomingMessage): boolean {
  const header = req.headers['accept-encoding'];
  if (typeof header !== 'string') return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().split(';');
    return coding?.trim().toLowerCase() === 'gzip' && !params.some((param) => /^\s*q=0(\.0*)?\s*$/.test(param));
  });
}

/**
 * GET and HEAD of GraphiQL's files under GRAPHIQL_ASSET_PREFIX, cached by browsers for a year
 * (their names change with their content), gzipped for clients that accept it, 304 to a matching
 * If-None-Match. Every other request goes to `next`.
 */
export function graphiqlAssetRoutes(next: RequestListener): RequestListener {
  return (req, res) => {
    if (!req.url?.startsWith(GRAPHIQL_ASSET_PREFIX) || (req.method !== 'GET' && req.method !== 'HEAD')) return next(req, res);
    const path = new URL(req.url, 'http://localhost').pathname;
    // Only a name of the form ours take loads the bundle: a guessed path does not cost 34 MB.
    if (!ASSET_NAME.test(path)) return next(req, res);
    graphiqlAssets()
      .then(({ byPath }) => {
        const asset = byPath.get(path);
        return asset ? serveAsset(req, res, asset) : next(req, res);
      })
      .catch((error: unknown) => {
        logger.error({ err: error, path }, 'graphiql: a file could not be served');
        if (res.headersSent) res.destroy();
        else res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Internal server error');
      });
  };
}

async function serveAsset(req: IncomingMessage, res: ServerResponse, asset: Asset) {
  const headers: Record<string, string | number> = {
    'content-type': asset.contentType,
    'cache-control': 'public, max-age=31536000, immutable',
    etag: `"${asset.hash}"`,
    vary: 'accept-encoding',
    'x-content-type-options': 'nosniff',
  };
  // One validator per coding (RFC 9110 §8.8.3): the gzipped body has its own.
  const zipped = acceptsGzip(req);
  if (zipped) headers.etag = `"${asset.hash}-gzip"`;
  if (req.headers['if-none-match']?.split(',').some((tag) => tag.trim() === '*' || tag.trim().replace(/^W\//, '') === headers.etag)) {
    res.writeHead(304, headers).end();
    return;
  }
  let body = asset.body;
  if (zipped) {
    if (!asset.gzipped) {
      asset.gzipped = gzipAsync(asset.body);
      asset.gzipped.catch(() => {
        asset.gzipped = undefined;
      });
    }
    body = await asset.gzipped;
    headers['content-encoding'] = 'gzip';
  }
  headers['content-length'] = body.length;
  res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : body);
}

/** A value written into an inline script: JSON, with `<` escaped so no string in it can end the script. */
const inlineJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * yoga's GraphiQL page (the same bundle and start-up, @graphql-yoga/render-graphiql) with its
 * files served apart (graphiqlAssetRoutes) instead of inlined, and FRESH_IDS_SCRIPT first in its
 * head.
 */
export async function renderGraphiQL(options: GraphiQLOptions): Promise<string> {
  const { url } = await graphiqlAssets();
  const workers = { editorWorkerService: url.editorWorkerService, json: url.json, graphql: url.graphql };
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    ${FRESH_IDS_SCRIPT}
    <title>${escapeHtml(options.title || 'Yoga GraphiQL')}</title>
    <link rel="icon" href="${escapeHtml(options.favicon || url.icon)}" />
    <link rel="stylesheet" href="${url.style}" />
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>You need to enable JavaScript to run this app.</noscript>
    <div id="root"></div>
    <script>
      const workers = ${inlineJson(workers)};
      self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: (moduleId, label) => workers[label] };
    </script>
    <script src="${url.script}"></script>
    <script>
      YogaGraphiQL.renderYogaGraphiQL(document.querySelector('#root'), ${inlineJson(options)});
    </script>
  </body>
</html>
`;
}
