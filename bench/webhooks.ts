/**
 * `npm run bench:webhooks -- [--seconds 20] [--rate 100] [--clients 100] [--instances 1] [--warmup 200] [--dead]`
 *
 * Webhook delivery latency: one salon and N clients (one conversation each); the salon has one
 * endpoint subscribed to `message.created`, on a receiver in this process (127.0.0.1, every
 * request verified with `standardwebhooks`, test/support/webhook-receiver.ts). The clients send
 * `sendMessage` over HTTP at R per second for S seconds, round robin. For each message, latency is
 * the receiver having the whole request minus the message's `createdAt` (the send's statement sets
 * it with clock_timestamp(), just before its commit); the same from the send's HTTP response is
 * printed too. Every message must be delivered exactly once, verified: missing ones, duplicates
 * and unverified requests are counted, and fail the run.
 *
 * The floor, in the same run at the same rate: an autocommitted INSERT into a scratch table, then
 * a signed POST of a body of the same size on a new connection to the same receiver (what a
 * delivery needs at least: a commit and one HTTP request), from the INSERT's start to receipt.
 *
 * `--dead`: after that phase, a second endpoint of the salon pointing at a closed port of
 * 127.0.0.1 is registered and the same load runs again: the healthy endpoint's latency with a dead
 * one beside it, then how many of the dead one's deliveries are PENDING with attempts recorded.
 *
 * The API runs as the other benches start it (bench/support.ts startApi) with
 * WEBHOOK_ALLOW_PRIVATE_NETWORKS=true, since the receiver is on loopback, and NODE_ENV=development,
 * since production takes https URLs only (otherwise development differs only in GraphQL's field
 * suggestions); JOB_POLL_MS and WEBHOOK_CONCURRENCY at their defaults. Needs PostgreSQL
 * (BENCH_DATABASE_ADMIN_URL, default 127.0.0.1:5432) and Redis (REDIS_URL).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { migrateDatabase } from '../src/db/migrations.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from '../test/support/webhook-receiver.js';
import {
  createDatabase,
  describeMachine,
  freePort,
  graphqlPost,
  killProcesses,
  percentile,
  seedSalon,
  SEND_MESSAGE,
  signToken,
  sleep,
  startApi,
  stopProcesses,
  type BenchDatabase,
  type Salon,
} from './support.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    rate: { type: 'string', default: '100' },
    clients: { type: 'string', default: '100' },
    instances: { type: 'string', default: '1' },
    warmup: { type: 'string', default: '200' },
    dead: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const CLIENTS = Number(values.clients);
const INSTANCES = Number(values.instances);
/** Messages sent and delivered first, not measured: JIT, pools, the job queue's first runs. */
const WARMUP = Number(values.warmup);
const DEAD = values.dead;
const MESSAGES = Math.round(SECONDS * RATE);
/** How long the deliveries of a phase may take after its last send before the missing ones are counted. */
const DRAIN_MS = 60_000;

const CREATE_ENDPOINT =
  'mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id url } secret } }';
const DELIVERIES = `query($endpointId: ID!, $status: WebhookDeliveryStatus, $after: String) {
  webhookDeliveries(endpointId: $endpointId, status: $status, first: 50, after: $after) {
    edges { node { id status attemptCount attempts { attemptedAt responseStatus error } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

let stopping = false;

async function gql<T>(port: number, token: string, query: string, variables: Record<string, unknown>): Promise<T> {
  const text = await graphqlPost(port, token, query, variables);
  const body = JSON.parse(text) as { data?: T | null };
  if (!body.data) throw new Error(`no data in ${text.slice(0, 200)}`);
  return body.data;
}

async function createEndpoint(port: number, salonToken: string, url: string): Promise<{ id: string; secret: string }> {
  const data = await gql<{ createWebhookEndpoint: { endpoint: { id: string }; secret: string } }>(port, salonToken, CREATE_ENDPOINT, {
    input: { url, eventTypes: ['message.created'], description: 'bench' },
  });
  return { id: data.createWebhookEndpoint.endpoint.id, secret: data.createWebhookEndpoint.secret };
}

interface Sent {
  /** Date.now() when the send's HTTP response had arrived; null until then or when it failed. */
  respondedAt: number | null;
}

interface PhaseResult {
  name: string;
  sent: number;
  sendErrors: Map<string, number>;
  /** From the message's createdAt, one per message delivered (its first verified request). */
  fromCommit: number[];
  /** From the send's HTTP response, same messages. */
  fromResponse: number[];
  delivered: number;
  /** Messages received more than once (any request beyond the first counts). */
  duplicates: number;
  unverified: number;
  /** Messages the receiver got that this phase did not send (another phase's, or unknown). */
  strays: number;
}

interface MessageCreatedData {
  id?: string;
  content?: string;
  createdAt?: string;
}

/**
 * Sends `count` messages at RATE/s (each client in turn, instances in turn), waits until the
 * receiver has them all (or DRAIN_MS after the last send) on `path`, and tallies them.
 */
async function runPhase(
  name: string,
  count: number,
  context: { ports: number[]; fixture: Fixture; clientTokens: string[]; receiver: WebhookReceiver; path: string },
): Promise<PhaseResult> {
  const { ports, fixture, clientTokens, receiver, path } = context;
  const tag = `${name}#${randomUUID().slice(0, 8)}`;
  const sent = new Map<string, Sent>();
  const sendErrors = new Map<string, number>();
  const firstIndex = receiver.requests.length;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let n = 0; n < count; n++) {
    const due = started + (n * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const worker = n % CLIENTS;
    const content = `${tag} ${n}`;
    const record: Sent = { respondedAt: null };
    sent.set(content, record);
    pending.push(
      gql(ports[n % ports.length]!, clientTokens[worker]!, SEND_MESSAGE, { input: { conversationId: fixture.conversations[worker], content } }).then(
        () => void (record.respondedAt = Date.now()),
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          sendErrors.set(message, (sendErrors.get(message) ?? 0) + 1);
        },
      ),
    );
  }
  await Promise.all(pending);
  const expected = count - [...sendErrors.values()].reduce((a, b) => a + b, 0);

  const firstSeen = new Map<string, ReceivedWebhook>();
  const seenCount = new Map<string, number>();
  let unverified = 0;
  let strays = 0;
  let scanned = firstIndex;
  const tally = (requests: readonly ReceivedWebhook[]) => {
    for (; scanned < requests.length; scanned++) {
      const request = requests[scanned]!;
      if (request.path !== path) continue;
      const data = (request.body?.data ?? {}) as MessageCreatedData;
      const content = data.content ?? '';
      if (!sent.has(content)) {
        strays++;
        continue;
      }
      if (!request.verified) {
        unverified++;
        continue;
      }
      seenCount.set(content, (seenCount.get(content) ?? 0) + 1);
      if (!firstSeen.has(content)) firstSeen.set(content, request);
    }
    return firstSeen.size >= expected;
  };
  await receiver.waitUntil(tally, { timeoutMs: DRAIN_MS, description: `${expected} deliveries of ${name}` }).catch((error: Error) => {
    console.error(error.message.split('\n')[0]);
  });
  tally(receiver.requests);

  const fromCommit: number[] = [];
  const fromResponse: number[] = [];
  for (const [content, request] of firstSeen) {
    const data = (request.body?.data ?? {}) as MessageCreatedData;
    if (data.createdAt) fromCommit.push(request.receivedAt - Date.parse(data.createdAt));
    const respondedAt = sent.get(content)?.respondedAt;
    if (respondedAt) fromResponse.push(request.receivedAt - respondedAt);
  }
  const duplicates = [...seenCount.values()].reduce((total, times) => total + times - 1, 0);
  return { name, sent: count, sendErrors, fromCommit, fromResponse, delivered: firstSeen.size, duplicates, unverified, strays };
}

/**
 * The floor: an autocommitted INSERT, then a POST on a new connection (no keep-alive, as a
 * delivery makes it) signed like a delivery, to the same receiver; from the INSERT's start to receipt.
 */
async function runFloor(fixture: Fixture, receiver: WebhookReceiver, bodyBytes: number): Promise<number[]> {
  const pool = new pg.Pool({ connectionString: fixture.url, max: 10 });
  // The final DROP DATABASE … WITH (FORCE) ends connections pool.end() has not closed yet (57P01).
  pool.on('error', (error: Error & { code?: string }) => {
    if (error.code !== '57P01') throw error;
  });
  await pool.query('CREATE TABLE bench_floor (id uuid PRIMARY KEY, body text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())');
  const secret = `whsec_${Buffer.from(randomUUID()).toString('base64')}`;
  receiver.secrets.add(secret);
  const signer = new Webhook(secret);
  const path = '/floor';
  const url = new URL(receiver.url(path));
  const post = (n: number) => {
    const id = randomUUID();
    const content = `floor ${n}`;
    const envelope = { type: 'message.created', timestamp: new Date().toISOString(), data: { id, content, pad: '' } };
    envelope.data.pad = 'x'.repeat(Math.max(0, bodyBytes - JSON.stringify(envelope).length));
    const body = JSON.stringify(envelope);
    const now = new Date();
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': signer.sign(id, now, body),
    };
    return { id, body, headers };
  };
  const latencies: number[] = [];
  const started = new Map<string, number>();
  const count = Math.min(MESSAGES, 1000);
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  for (let n = -WARMUP; n < count; n++) {
    const due = t0 + ((n + WARMUP) * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(
      (async () => {
        const request = post(n);
        if (n >= 0) started.set(request.id, Date.now());
        await pool.query('INSERT INTO bench_floor (id, body) VALUES ($1, $2)', [request.id, request.body]);
        await new Promise<void>((resolve, reject) => {
          const outgoing = http.request(url, { method: 'POST', headers: request.headers, agent: false }, (response) => {
            response.resume();
            response.on('end', resolve);
          });
          outgoing.on('error', reject);
          outgoing.end(request.body);
        });
      })(),
    );
  }
  await Promise.all(pending);
  for (const request of receiver.requests) {
    const at = request.path === path && request.verified && request.webhookId ? started.get(request.webhookId) : undefined;
    if (at !== undefined) latencies.push(request.receivedAt - at);
  }
  await pool.end();
  return latencies;
}

interface DeadReport {
  deliveries: number;
  pendingAttempted: number;
  pendingUnattempted: number;
  other: Map<string, number>;
  attempts: number;
  errors: Map<string, number>;
}

/** The dead endpoint's deliveries through the API (webhookDeliveries, every page). */
async function deadReport(port: number, salonToken: string, endpointId: string): Promise<DeadReport> {
  type Page = {
    webhookDeliveries: {
      edges: { node: { status: string; attemptCount: number; attempts: { responseStatus: number | null; error: string | null }[] } }[];
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
    };
  };
  const report: DeadReport = { deliveries: 0, pendingAttempted: 0, pendingUnattempted: 0, other: new Map(), attempts: 0, errors: new Map() };
  let after: string | null = null;
  for (;;) {
    const page: Page = await gql<Page>(port, salonToken, DELIVERIES, { endpointId, after });
    for (const { node } of page.webhookDeliveries.edges) {
      report.deliveries++;
      report.attempts += node.attempts.length;
      for (const attempt of node.attempts) {
        // One line per kind of failure: the port and numbers aside.
        const kind = (attempt.error ?? `HTTP ${attempt.responseStatus}`).replace(/\d+/g, 'N');
        report.errors.set(kind, (report.errors.get(kind) ?? 0) + 1);
      }
      if (node.status === 'PENDING' && node.attemptCount > 0 && node.attempts.length > 0) report.pendingAttempted++;
      else if (node.status === 'PENDING' && node.attemptCount === 0) report.pendingUnattempted++;
      else {
        const key = `${node.status}, ${node.attemptCount} attempt(s)`;
        report.other.set(key, (report.other.get(key) ?? 0) + 1);
      }
    }
    if (!page.webhookDeliveries.pageInfo.hasNextPage) return report;
    after = page.webhookDeliveries.pageInfo.endCursor;
  }
}

type Fixture = BenchDatabase & Salon;

const round = (value: number) => Math.round(value * 10) / 10;

function latencyRow(label: string, latencies: number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    latency: label,
    samples: sorted.length,
    'p50 ms': round(percentile(sorted, 50)),
    'p95 ms': round(percentile(sorted, 95)),
    'p99 ms': round(percentile(sorted, 99)),
    'max ms': round(sorted.at(-1) ?? NaN),
  };
}

const script = relative(process.cwd(), fileURLToPath(import.meta.url));
const command = `tsx ${script} ${process.argv.slice(2).join(' ')}`.trimEnd();
console.log(`command: ${command}   (cwd ${process.cwd()})`);
const database = await createDatabase((url) => migrateDatabase(url));
const fixture: Fixture = { ...database, ...(await seedSalon(database.url, CLIENTS)) };
const receiver = await startWebhookReceiver();
let failed = 0;
try {
  const machine = `machine: ${describeMachine()}, PostgreSQL ${fixture.postgres}`;
  const setup =
    `webhooks: 1 salon, ${CLIENTS} clients (one conversation each), ${MESSAGES} messages at ${RATE}/s (${SECONDS} s) after ${WARMUP} warm-up, ` +
    `${INSTANCES} API instance(s) (NODE_ENV=development for a plain-HTTP endpoint, WEBHOOK_ALLOW_PRIVATE_NETWORKS=true, ` +
    `WEBHOOK_CONCURRENCY and JOB_POLL_MS at their defaults)${DEAD ? ', --dead' : ''}`;
  console.log(`${setup}; ${machine}`);
  const ports: number[] = [];
  // One after the other: each runs the (already applied) migrations at start, and they need not race.
  for (let i = 0; i < INSTANCES; i++) {
    const port = await freePort();
    await startApi({
      port,
      databaseUrl: fixture.url,
      // Production takes https endpoints only; the receiver is plain HTTP on loopback.
      env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', NODE_ENV: 'development' },
      onExit: (code, signal) => {
        if (!stopping) {
          console.error(`API server on port ${port} exited (${signal ?? code}) during the bench`);
          process.exitCode = 1;
        }
      },
    });
    ports.push(port);
  }
  const salonToken = await signToken(fixture.salonId, 'salon');
  const clientTokens = await Promise.all(fixture.clients.map((id) => signToken(id, 'client')));
  const healthy = await createEndpoint(ports[0]!, salonToken, receiver.url('/healthy'));
  receiver.secrets.add(healthy.secret);
  const context = { ports, fixture, clientTokens, receiver, path: '/healthy' };

  const warmup = await runPhase('warm-up', WARMUP, context);
  await sleep(500);
  const phases = [await runPhase(DEAD ? 'healthy endpoint alone' : 'measured', MESSAGES, context)];
  let dead: { report: DeadReport; sentSince: number } | undefined;
  if (DEAD) {
    const deadPort = await freePort();
    const deadEndpoint = await createEndpoint(ports[0]!, salonToken, `http://127.0.0.1:${deadPort}/hooks`);
    await sleep(500);
    phases.push(await runPhase('healthy beside a dead one', MESSAGES, context));
    dead = { report: await deadReport(ports[0]!, salonToken, deadEndpoint.id), sentSince: MESSAGES };
  }
  stopping = true;
  await stopProcesses();

  const bodyBytes = Math.round(
    receiver.requests.filter((r) => r.path === '/healthy').reduce((total, r) => total + Buffer.byteLength(r.raw), 0) /
      Math.max(1, receiver.requests.filter((r) => r.path === '/healthy').length),
  );
  const floor = latencyRow('floor: INSERT then POST on a new connection', await runFloor(fixture, receiver, bodyBytes));

  console.log(`\n${setup}`);
  console.log(machine);
  console.log(`command: ${command}`);
  const rows = phases.flatMap((phase) => [
    { phase: phase.name, ...latencyRow("receipt − message's createdAt", phase.fromCommit) },
    { phase: phase.name, ...latencyRow("receipt − send's HTTP response", phase.fromResponse) },
  ]);
  console.table([...rows, { phase: 'floor, same run', ...floor }]);
  const ratio = (a: number, b: number) => (b > 0 ? `${(Math.round((a / b) * 100) / 100).toFixed(2)}×` : 'n/a');
  for (const row of rows.filter((r) => r.latency.includes('createdAt'))) {
    console.log(
      `ours/floor, ${row.phase}: p50 ${ratio(row['p50 ms'], floor['p50 ms'])}, p95 ${ratio(row['p95 ms'], floor['p95 ms'])}, ` +
        `p99 ${ratio(row['p99 ms'], floor['p99 ms'])}, max ${ratio(row['max ms'], floor['max ms'])}`,
    );
  }
  console.log(
    "latency: the receiver having the whole request (Date.now()) minus the message's createdAt (clock_timestamp() in the send's statement, " +
      "just before its commit; PostgreSQL and this process share a clock); the second row of each phase is from the send's HTTP response " +
      `(after the commit: delivery may even beat it). Floor: ${floor.samples} autocommitted INSERTs, each followed by a signed POST of the same body size (${bodyBytes} B) ` +
      'on a new connection, at the same rate, from the INSERT start to receipt.',
  );
  for (const phase of [warmup, ...phases]) {
    const sendErrors = [...phase.sendErrors.values()].reduce((a, b) => a + b, 0);
    const delivered = `${phase.name}: ${phase.sent} sent, ${sendErrors} send error(s), ${phase.delivered} delivered verified, ` +
      `${phase.sent - sendErrors - phase.delivered} missing, ${phase.duplicates} duplicate(s), ${phase.unverified} unverified, ${phase.strays} stray`;
    console.log(delivered);
    for (const [message, times] of phase.sendErrors) console.log(`  ${times} × ${message}`);
    if (sendErrors > 0 || phase.sent - sendErrors !== phase.delivered || phase.duplicates > 0 || phase.unverified > 0) failed++;
  }
  // Across phases and up to now: a late duplicate of an earlier phase's message shows here.
  const byMessage = new Map<string, number>();
  const byWebhookId = new Map<string, number>();
  for (const request of receiver.requests) {
    if (request.path !== '/healthy' || !request.verified) continue;
    const content = ((request.body?.data ?? {}) as MessageCreatedData).content ?? '';
    byMessage.set(content, (byMessage.get(content) ?? 0) + 1);
    if (request.webhookId) byWebhookId.set(request.webhookId, (byWebhookId.get(request.webhookId) ?? 0) + 1);
  }
  const extra = (counts: Map<string, number>) => [...counts.values()].reduce((total, times) => total + times - 1, 0);
  console.log(
    `healthy endpoint, every verified request up to now: ${[...byMessage.values()].reduce((a, b) => a + b, 0)} for ${byMessage.size} messages; ` +
      `${extra(byMessage)} beyond one per message, ${extra(byWebhookId)} repeating a webhook-id`,
  );
  if (extra(byMessage) > 0) failed++;
  if (dead) {
    const { report } = dead;
    console.log(
      `dead endpoint (closed port), read after the run: ${report.deliveries} deliveries for ${dead.sentSince} messages sent since it was registered; ` +
        `${report.pendingAttempted} PENDING with attempts recorded, ${report.pendingUnattempted} PENDING not yet attempted; ${report.attempts} attempts in all`,
    );
    for (const [key, times] of report.other) console.log(`  ${times} × ${key}`);
    for (const [kind, times] of report.errors) console.log(`  attempt error: ${times} × ${kind}`);
    if (report.deliveries !== dead.sentSince) failed++;
  }
  if (failed > 0) console.log('FAILED: a message was not delivered exactly once, verified (above)');
} catch (error) {
  console.error(error);
  failed++;
} finally {
  stopping = true;
  killProcesses();
  await receiver.close();
  await fixture.drop();
  process.exit(failed > 0 || process.exitCode ? 1 : 0);
}
