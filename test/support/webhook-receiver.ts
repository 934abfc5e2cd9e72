/**
 * A partner's webhook endpoint for tests: a real HTTP server on 127.0.0.1 (a kernel-picked port)
 * that checks each request with the official `standardwebhooks` library, as a partner would, and
 * records it whether or not it verifies. What it answers can be changed while a test runs:
 * `respond(500)`, `respond(302)` (a Location to this receiver's `/redirected`, so a followed
 * redirect would show as a request there), `hang()` (reads the request, never answers), `down()`
 * (connections refused) then `up()` (the same port again, so the endpoint's URL stays valid).
 *
 * Waiting is on events, never on time: `waitFor(n)` / `waitUntil(predicate)` re-check at each
 * request and reject after `timeoutMs` (a hang guard) with what was received so far.
 *
 *   const receiver = await startWebhookReceiver();
 *   // create the endpoint with receiver.url(), then: receiver.secrets.add(secret)
 *   const [first] = await receiver.waitFor(1);
 *   expect(first!.verified).toBe(true);
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** The JSON envelope of the contract (`{ type, timestamp, data }`); `data` depends on `type`. */
export interface WebhookBody {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

export interface ReceivedWebhook {
  method: string;
  /** Path and query of the request, e.g. `/hooks`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The `webhook-id` header (the delivery id, the same on every retry). */
  webhookId: string | undefined;
  /** The `webhook-timestamp` header as a number (unix seconds); NaN when absent or not a number. */
  timestamp: number;
  /** The `webhook-signature` header as sent: `v1,<b64>`, two of them space-separated during a rotation. */
  signatureHeader: string | undefined;
  /** The body exactly as received (UTF-8), which is what the signature covers. */
  raw: string;
  /** `raw` parsed, typed as the contract's envelope (not checked); null when it is not JSON. */
  body: WebhookBody | null;
  /** Whether one of `secrets` (as they were when the request arrived) verifies it. */
  verified: boolean;
  /** Which of `secrets` verify it: both during a rotation overlap, old and new. */
  verifiedWith: string[];
  /** Date.now() when the whole body had arrived: the wall clock, comparable with the API's and PostgreSQL's timestamps. */
  receivedAt: number;
  /** The status answered, or null when the receiver was hanging. */
  answeredWith: number | null;
}

export interface ReceiverResponse {
  /** Extra response headers; a 3xx without `location` gets this receiver's `/redirected`. */
  headers?: Record<string, string>;
  body?: string;
}

export interface WaitOptions {
  /** A guard against hangs, sized for a busy machine; a retry schedule's delays must fit in it. */
  timeoutMs?: number;
  /** Said in the timeout's message: what was being waited for. */
  description?: string;
}

export interface WebhookReceiver {
  /** Every request received so far, in arrival order (hung ones included). */
  readonly requests: readonly ReceivedWebhook[];
  /** The secrets (`whsec_…`) a request is verified with; add the one createWebhookEndpoint returns. */
  readonly secrets: Set<string>;
  readonly port: number;
  /** `http://127.0.0.1:<port><path>`. */
  url(path?: string): string;
  /** Answer every request from now on with `status` (or what `status(request)` returns). */
  respond(status: number | ((request: ReceivedWebhook) => number), response?: ReceiverResponse): void;
  /** Read each request from now on and never answer it: it stays open until its client gives up, `down()` or `close()`. */
  hang(): void;
  /** Stop listening and drop every open connection: new connections are refused. */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  /** Resolves with all requests once at least `count` have arrived in total. */
  waitFor(count: number, options?: WaitOptions): Promise<ReceivedWebhook[]>;
  /** Resolves with all requests once `predicate` holds for them (checked now and at each request). */
  waitUntil(predicate: (requests: readonly ReceivedWebhook[]) => boolean, options?: WaitOptions): Promise<ReceivedWebhook[]>;
  /** Stops for good: open connections dropped, pending waits rejected. */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 15_000;

type Behaviour = { kind: 'respond'; status: number | ((request: ReceivedWebhook) => number); response: ReceiverResponse } | { kind: 'hang' };

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The secrets that verify this request; a malformed secret verifies nothing. */
function verifyingSecrets(secrets: Iterable<string>, raw: string, headers: IncomingHttpHeaders): string[] {
  const signed: Record<string, string> = {};
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const value = header(headers, name);
    if (value !== undefined) signed[name] = value;
  }
  return [...secrets].filter((secret) => {
    try {
      new Webhook(secret).verify(raw, signed);
      return true;
    } catch {
      return false;
    }
  });
}

function parseBody(raw: string): WebhookBody | null {
  try {
    return JSON.parse(raw) as WebhookBody;
  } catch {
    return null;
  }
}

function summarize(requests: readonly ReceivedWebhook[]): string {
  const lines = requests.map(
    (r) => `  ${r.method} ${r.path} ${r.body?.type ?? '(no type)'} id=${r.webhookId ?? '-'} ${r.verified ? 'verified' : 'NOT verified'} → ${r.answeredWith ?? 'hung'}`,
  );
  return lines.length > 0 ? `\n${lines.join('\n')}` : '';
}

export async function startWebhookReceiver(options: { secrets?: Iterable<string> } = {}): Promise<WebhookReceiver> {
  const requests: ReceivedWebhook[] = [];
  const secrets = new Set(options.secrets ?? []);
  const events = new EventEmitter();
  // Every test of a file may wait on the same receiver at once.
  events.setMaxListeners(0);
  let behaviour: Behaviour = { kind: 'respond', status: 200, response: {} };
  let closed = false;
  /** Requests left unanswered by hang(), ended when the receiver goes down. */
  const hanging = new Set<ServerResponse>();

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const receivedAt = Date.now();
      const raw = Buffer.concat(chunks).toString('utf8');
      const verifiedWith = verifyingSecrets(secrets, raw, request.headers);
      const record: ReceivedWebhook = {
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        webhookId: header(request.headers, 'webhook-id'),
        timestamp: Number(header(request.headers, 'webhook-timestamp') ?? NaN),
        signatureHeader: header(request.headers, 'webhook-signature'),
        raw,
        body: parseBody(raw),
        verified: verifiedWith.length > 0,
        verifiedWith,
        receivedAt,
        answeredWith: null,
      };
      const current = behaviour;
      if (current.kind === 'hang') {
        hanging.add(response);
        response.on('close', () => hanging.delete(response));
      } else {
        const status = typeof current.status === 'function' ? current.status(record) : current.status;
        const headers: Record<string, string> = { 'content-type': 'text/plain', ...current.response.headers };
        if (status >= 300 && status < 400 && !Object.keys(headers).some((name) => name.toLowerCase() === 'location')) {
          headers.location = url('/redirected');
        }
        record.answeredWith = status;
        response.writeHead(status, headers).end(current.response.body ?? '');
      }
      requests.push(record);
      events.emit('request');
    });
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });

  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const url = (path = '/hooks') => `http://127.0.0.1:${port}${path}`;

  const down = () =>
    new Promise<void>((resolve, reject) => {
      if (!server.listening) return resolve();
      server.close((error) => (error ? reject(error) : resolve()));
      // Kept-alive and hung connections would otherwise still reach the handler.
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
    });

  const waitUntil = (predicate: (requests: readonly ReceivedWebhook[]) => boolean, waitOptions: WaitOptions = {}) =>
    new Promise<ReceivedWebhook[]>((resolve, reject) => {
      const timeoutMs = waitOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const what = waitOptions.description ?? 'a condition on the requests';
      const finish = (error?: Error) => {
        clearTimeout(timer);
        events.off('request', check);
        events.off('close', onClose);
        if (error) reject(error);
        else resolve([...requests]);
      };
      const check = () => {
        if (predicate(requests)) finish();
      };
      const onClose = () => finish(new Error(`webhook receiver closed while waiting for ${what}; ${requests.length} request(s) received${summarize(requests)}`));
      const timer = setTimeout(
        () => finish(new Error(`webhook receiver: no ${what} within ${timeoutMs} ms; ${requests.length} request(s) received${summarize(requests)}`)),
        timeoutMs,
      );
      events.on('request', check);
      events.on('close', onClose);
      if (closed) onClose();
      else check();
    });

  return {
    requests,
    secrets,
    port,
    url,
    respond(status, response = {}) {
      behaviour = { kind: 'respond', status, response };
    },
    hang() {
      behaviour = { kind: 'hang' };
    },
    down,
    async up() {
      if (closed) throw new Error('webhook receiver: up() after close()');
      if (server.listening) return;
      try {
        await listen(port);
      } catch (error) {
        throw new Error(`webhook receiver: cannot listen again on port ${port} (${(error as Error).message})`);
      }
    },
    waitFor(count, waitOptions = {}) {
      return waitUntil((all) => all.length >= count, { description: `${count} request(s)`, ...waitOptions });
    },
    waitUntil,
    async close() {
      closed = true;
      events.emit('close');
      await down();
    },
  };
}
