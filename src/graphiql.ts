import { renderGraphiQL as renderYogaGraphiQL } from '@graphql-yoga/render-graphiql';
import type { GraphiQLOptions } from 'graphql-yoga';

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

/** yoga's GraphiQL page with FRESH_IDS_SCRIPT first in its head. */
export function renderGraphiQL(options: GraphiQLOptions): string {
  const page = renderYogaGraphiQL(options);
  return page.includes('<head>') ? page.replace('<head>', `<head>${FRESH_IDS_SCRIPT}`) : FRESH_IDS_SCRIPT + page;
}
