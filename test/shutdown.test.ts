import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canConnect } from '../src/db/embedded.js';
import { freePort } from '../src/ports.js';
import { signToken, TEST_SECRET } from './support/app.js';
import { createTestDatabase } from './support/database.js';
import { wsClient } from './support/ws.js';

/**
 * SIGTERM and SIGINT sent to the real process, started the way the Dockerfile and the README start
 * it: the request in flight is answered, new connections are refused, sockets close with 1001,
 * the process exits 0 within 10 s.
 */
let database: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => database?.drop());

interface Running {
  child: ChildProcess;
  port: number;
  /** Resolves with the first log line whose `msg` matches. */
  logged(pattern: RegExp): Promise<Record<string, unknown>>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: string[];
}

async function startServer(command: string, args: string[], env: Record<string, string | undefined>): Promise<Running> {
  const child = spawn(command, args, {
    cwd: process.cwd(),
    // The test holds a row lock on purpose: no statement timeout may end the request it holds up.
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'info', PORT: '0', JWT_SECRET: TEST_SECRET, DATABASE_STATEMENT_TIMEOUT_MS: '60000', ...env },
    // Its own process group, so that a test can do what a terminal's Ctrl-C does: signal the group.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      output.push(line);
      if (!line.startsWith('{')) return;
      lines.push(JSON.parse(line) as Record<string, unknown>);
      for (const waiter of waiters) waiter();
    });
  }
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const logged = (pattern: RegExp) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const line = lines.find((entry) => pattern.test(String(entry.msg)));
        if (line) {
          waiters.delete(check);
          resolve(line);
        }
      };
      waiters.add(check);
      void exit.then(() => {
        check();
        if (waiters.has(check)) reject(new Error(`exited before logging ${pattern}:\n${output.join('\n')}`));
      });
      check();
    });
  const ready = await logged(/GraphQL API ready/);
  return { child, port: Number(ready.port), logged, exit, output };
}

async function gql<T>(port: number, token: string, query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, connection: response.headers.get('connection'), body: (await response.json()) as { data?: T; errors?: unknown[] } };
}

interface Scenario {
  command: string;
  args: string[];
  deliver: (child: ChildProcess) => void;
  /** The database the server uses; the embedded one when `env` leaves DATABASE_URL unset. */
  databaseUrl: string;
  env: Record<string, string | undefined>;
  /** Adds a subscribed socket whose peer stops reading and answering before the signal. */
  vanishedPeer?: boolean;
}

/**
 * A graphql-ws socket with a live subscription whose peer then goes silent without closing, as a
 * laptop put to sleep or a phone off the network does: it stops reading, so it never answers the
 * server's close frame. Returns the socket, to be destroyed by the caller.
 */
async function vanishingPeer(port: number, token: string): Promise<WebSocket> {
  const peer = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
  peer.on('error', () => {});
  let raw: Socket | undefined;
  peer.once('upgrade', (response) => (raw = response.socket));
  await once(peer, 'open');
  const acknowledged = new Promise<void>((resolve) =>
    peer.on('message', (data) => {
      if ((JSON.parse(String(data)) as { type: string }).type === 'connection_ack') resolve();
    }),
  );
  peer.send(JSON.stringify({ type: 'connection_init', payload: { token } }));
  await acknowledged;
  peer.send(JSON.stringify({ id: 'asleep', type: 'subscribe', payload: { query: 'subscription { messageAdded { id } }' } }));
  raw!.pause();
  return peer;
}

async function shutdownScenario({ command, args, deliver, databaseUrl, env, vanishedPeer = false }: Scenario) {
  const server = await startServer(command, args, env);
  const { port } = server;
  const { salon, client, clientId } = await salonAndClient(port);
  const opened = await gql<{ createConversation: { id: string } }>(
    port,
    salon,
    'mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }',
    { input: { clientUserId: clientId, subject: 'Fermeture' } },
  );
  const conversationId = opened.body.data!.createConversation.id;

  // A client with a live subscription: it must see a 1001 close, not a reset.
  const ws = wsClient(`ws://127.0.0.1:${port}/graphql`, { token: client });
  const closeCode = new Promise<number>((resolve) => ws.on('closed', (event) => resolve((event as { code: number }).code)));
  await new Promise<void>((resolve, reject) => {
    ws.on('connected', () => resolve());
    ws.subscribe({ query: 'subscription { messageAdded { id } }' }, { next() {}, error: reject, complete() {} });
  });
  const asleep = vanishedPeer ? await vanishingPeer(port, client) : undefined;

  // A first send, answered at once: the process has compiled this path before the one that matters.
  const first = await gql(port, salon, 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }', {
    input: { conversationId, content: 'Premier message' },
  });
  expect(first.body.errors).toBeUndefined();

  // A request really in flight: the test holds the conversation's row lock, so the server's
  // sendMessage waits inside its transaction until the test lets it go.
  const locker = new pg.Client({ connectionString: databaseUrl });
  locker.on('error', () => {});
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('SELECT 1 FROM "Conversation" WHERE id = $1 FOR UPDATE', [conversationId]);
  const inFlight = gql<{ sendMessage: { id: string; content: string } }>(
    port,
    salon,
    'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id content } }',
    { input: { conversationId, content: 'Dernier message avant l’arrêt' } },
  );
  let settled: unknown;
  void inFlight.then((answer) => (settled = answer));
  await expect
    .poll(async () => {
      if (settled) return `answered before the lock was released: ${JSON.stringify(settled)}`;
      const waiting = await locker.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
      return waiting.rowCount! > 0 ? 'waiting on the lock' : 'not there yet';
    }, { timeout: 20_000 })
    .toBe('waiting on the lock');

  const signalled = Date.now();
  deliver(server.child);
  await server.logged(/shutting down/);
  // No new connection is accepted while the old request finishes, even while a silent peer's
  // close handshake is still awaited.
  await expect
    .poll(() => fetch(`http://127.0.0.1:${port}/health`).then(() => 'accepted', () => 'refused'))
    .toBe('refused');
  const cutSilent = (line: string) => /did not answer the close frame/.test(line);
  // Refused before the silent peer's 2 s are up, not after: nothing new starts meanwhile.
  if (vanishedPeer) expect(server.output.some(cutSilent), server.output.join('\n')).toBe(false);

  await locker.query('COMMIT');
  await locker.end();
  const answered = await inFlight;
  expect(answered.status).toBe(200);
  expect(answered.body.errors).toBeUndefined();
  expect(answered.body.data?.sendMessage.content).toBe('Dernier message avant l’arrêt');
  // Its connection is not offered for another request: the shutdown closes it once this is out.
  expect(answered.connection).toBe('close');

  expect(await closeCode).toBe(1001);
  const exit = await server.exit;
  asleep?.terminate();
  // The silent peer was still there at the 2 s mark, and was cut then.
  if (vanishedPeer) expect(server.output.some(cutSilent), server.output.join('\n')).toBe(true);
  expect(exit, server.output.join('\n')).toEqual({ code: 0, signal: null });
  expect(Date.now() - signalled).toBeLessThan(10_000);
}

/**
 * The scenario with no DATABASE_URL: the server starts its embedded PostgreSQL (in a folder of its
 * own), and its shutdown must stop it, after the answer.
 */
async function embeddedScenario(command: string, args: string[], deliver: Scenario['deliver']) {
  const dataDir = mkdtempSync(join(tmpdir(), 'salon-shutdown-'));
  chmodSync(dataDir, 0o755);
  const port = await freePort();
  try {
    await shutdownScenario({
      command,
      args,
      deliver,
      databaseUrl: `postgresql://postgres:postgres@127.0.0.1:${port}/salon`,
      env: { DATABASE_URL: undefined, EMBEDDED_POSTGRES_DIR: join(dataDir, 'pg'), EMBEDDED_POSTGRES_PORT: String(port) },
    });
    expect(await canConnect(`postgresql://postgres:postgres@127.0.0.1:${port}/postgres`)).toBe(false);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** A salon and a client, both known to the server (a first request creates each user). */
async function salonAndClient(port: number) {
  const salonId = crypto.randomUUID();
  const clientId = crypto.randomUUID();
  const salon = await signToken({ sub: salonId, email: `${salonId}@example.test`, role: 'salon' });
  const client = await signToken({ sub: clientId, email: `${clientId}@example.test`, role: 'client' });
  await gql(port, client, '{ me { id } }');
  return { salon, client, clientId };
}

/** SIGTERM, as a container runtime sends it: the process exits 0 within the 10 s budget. */
async function sigtermExitsCleanly(server: Running) {
  const signalled = Date.now();
  server.child.kill('SIGTERM');
  const exit = await server.exit;
  expect(exit, server.output.join('\n')).toEqual({ code: 0, signal: null });
  expect(Date.now() - signalled).toBeLessThan(10_000);
}

/**
 * A webhook receiver that takes each request and never answers (a partner's server hanging), with
 * the default attempt timeout (WEBHOOK_TIMEOUT_MS, 15 s): longer than the whole shutdown budget.
 */
async function shutdownDuringHangingDelivery() {
  const received: string[] = [];
  const receiver = createServer((request) => received.push(String(request.headers['webhook-id'])));
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const hooks = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  const server = await startServer(process.execPath, ['dist/server.js'], {
    DATABASE_URL: database.url,
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    JOB_POLL_MS: '500',
    WEBHOOK_TIMEOUT_MS: undefined,
  });
  const db = new pg.Client({ connectionString: database.url });
  try {
    const { salon, clientId } = await salonAndClient(server.port);
    const created = await gql<{ createWebhookEndpoint: { endpoint: { id: string } } }>(
      server.port,
      salon,
      'mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }',
      { input: { url: hooks, eventTypes: ['conversation.created'] } },
    );
    expect(created.body.errors).toBeUndefined();
    await gql(server.port, salon, 'mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }', {
      input: { clientUserId: clientId, subject: 'Webhook en cours' },
    });
    await expect.poll(() => received.length).toBe(1);

    await sigtermExitsCleanly(server);

    // The cut attempt left nothing recorded: the delivery still waits for its first attempt, with
    // its job queued again (not running, not given up), to be made with the same webhook-id.
    await db.connect();
    const endpointId = created.body.data!.createWebhookEndpoint.endpoint.id;
    const { rows } = await db.query<{ id: string; status: string; attemptCount: number; attempts: string }>(
      `SELECT d."id"::text AS "id", d."status", d."attemptCount", (SELECT count(*) FROM "WebhookAttempt" a WHERE a."deliveryId" = d."id")::text AS "attempts"
         FROM "WebhookDelivery" d WHERE d."endpointId" = $1`,
      [endpointId],
    );
    expect(rows).toEqual([{ id: received[0], status: 'PENDING', attemptCount: 0, attempts: '0' }]);
    const jobs = await db.query<{ state: string }>(`SELECT "state"::text AS "state" FROM pgboss.job WHERE "name" = 'webhook-delivery' AND "data"->>'deliveryId' = $1`, [
      received[0],
    ]);
    expect(jobs.rows.map((job) => job.state)).toEqual(['retry']);
  } finally {
    server.child.kill('SIGKILL');
    await db.end().catch(() => undefined);
    receiver.closeAllConnections();
    receiver.close();
  }
}

/**
 * An SMTP relay that greets, then never answers again (a mail relay hanging mid-conversation): the
 * offline notification's email waits for nodemailer's 30 s socket timeout, three times the whole
 * shutdown budget.
 */
async function shutdownDuringHangingEmail() {
  const connections: Socket[] = [];
  const relay = createNetServer((socket) => {
    connections.push(socket);
    socket.write('220 relay.test ESMTP\r\n');
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  const server = await startServer(process.execPath, ['dist/server.js'], {
    DATABASE_URL: database.url,
    SMTP_URL: `smtp://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    MAIL_FROM: 'Salon <notifications@salon.test>',
    NOTIFY_AFTER_S: '1',
    NOTIFY_SWEEP_MS: '200',
  });
  try {
    const { salon, clientId } = await salonAndClient(server.port);
    const opened = await gql<{ createConversation: { id: string } }>(
      server.port,
      salon,
      'mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }',
      { input: { clientUserId: clientId, subject: 'Rappel' } },
    );
    const sent = await gql(server.port, salon, 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }', {
      input: { conversationId: opened.body.data!.createConversation.id, content: 'Votre rendez-vous est demain' },
    });
    expect(sent.body.errors).toBeUndefined();
    // The client is offline: a second later the sweep emails them, and the relay holds it.
    await expect.poll(() => connections.length).toBe(1);

    await sigtermExitsCleanly(server);
  } finally {
    server.child.kill('SIGKILL');
    for (const socket of connections) socket.destroy();
    relay.close();
  }
}

describe('graceful shutdown of the real process', () => {
  // dist/ is what the Dockerfile runs, built once for the run (test/support/global-setup.ts);
  // `npm start` builds it again itself.

  /** SIGTERM to the built server on the test's database, as a container runtime sends it. */
  const sigtermToBuiltServer = (): Scenario => ({
    command: process.execPath,
    args: ['dist/server.js'],
    deliver: (child) => child.kill('SIGTERM'),
    databaseUrl: database.url,
    env: { DATABASE_URL: database.url },
  });

  it('SIGTERM to `node dist/server.js` (the Dockerfile command, after `npm run build`) answers the request in flight and exits 0', async () => {
    await shutdownScenario(sigtermToBuiltServer());
  });

  it('SIGTERM with a subscribed peer gone silent (never answering the close frame) still refuses new connections, answers the request in flight and exits 0 within 10 s', async () => {
    await shutdownScenario({ ...sigtermToBuiltServer(), vanishedPeer: true });
  });

  it('SIGTERM while a webhook delivery waits on a receiver that never answers (15 s timeout) still exits 0 within 10 s, the attempt queued to be made again', async () => {
    await shutdownDuringHangingDelivery();
  });

  it('SIGTERM while an offline notification waits on a mail relay that stopped answering still exits 0 within 10 s', async () => {
    await shutdownDuringHangingEmail();
  });

  it('SIGINT to the `npm start` process alone (a process manager) reaches the server and does the same', async () => {
    await shutdownScenario({
      command: 'npm',
      args: ['start', '--silent'],
      deliver: (child) => child.kill('SIGINT'),
      databaseUrl: database.url,
      env: { DATABASE_URL: database.url },
    });
  });

  it('Ctrl-C on `npm start` with the embedded PostgreSQL (SIGINT to the whole group) still answers the request in flight', async () => {
    // The README's first command: no DATABASE_URL. Ctrl-C reaches every process of the terminal's
    // group; the embedded PostgreSQL must not be one of them, or it ends the server's connections
    // before the request in flight is answered.
    await embeddedScenario('npm', ['start', '--silent'], (child) => process.kill(-child.pid!, 'SIGINT'));
  }, 90_000);

  it('SIGHUP to the group (the terminal of a backgrounded `npm start` closed) answers the request in flight and stops the embedded PostgreSQL', async () => {
    await embeddedScenario(process.execPath, ['dist/server.js'], (child) => process.kill(-child.pid!, 'SIGHUP'));
  }, 90_000);
});
