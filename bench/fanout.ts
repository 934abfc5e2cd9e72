/**
 * `npm run bench:fanout -- [--subscribers 1000] [--messages 1000] [--rate 100] [--per-conversation 1]`
 *
 * Two API instances (separate processes) share one PostgreSQL and one Redis. N graphql-ws
 * subscribers, split across both, follow `messageAdded(conversationId)`; M messages are sent
 * through the `sendMessage` mutation at a steady rate. Prints send→delivery latency percentiles,
 * throughput and server RSS per subscribed socket; then runs the floor (bench/floor-server.ts: a
 * bare ws relay over the same Redis, no GraphQL) with the same load and prints our/floor ratios.
 * Needs PostgreSQL (BENCH_DATABASE_ADMIN_URL, default 127.0.0.1:5432) and Redis (REDIS_URL).
 */
import { type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { migrateDatabase } from '../src/db/migrations.js';
import {
  createDatabase,
  describeMachine,
  freePort,
  killProcesses,
  memoryReport,
  percentile,
  REDIS_URL,
  seedSalon,
  signToken,
  sleep,
  startApi,
  startProcess,
  waitForHttp,
  type BenchDatabase,
  type Salon,
} from './support.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    messages: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '100' },
    'per-conversation': { type: 'string', default: '1' },
    warmup: { type: 'string', default: '1000' },
  },
});
const SUBSCRIBERS = Number(values.subscribers);
const MESSAGES = Number(values.messages);
const RATE = Number(values.rate);
const PER_CONVERSATION = Math.max(1, Number(values['per-conversation']));
/** Messages sent first and not measured: JIT, pools and caches warm up in a freshly started server. */
const WARMUP = Number(values.warmup);
const CONNECT_BATCH = Number(process.env.BENCH_CONNECT_BATCH ?? 100);
const CONVERSATIONS = Math.ceil(SUBSCRIBERS / PER_CONVERSATION);
/** The latest `memory report` each API server logged (pid → process.memoryUsage()). */
const heapReports = new Map<number, NodeJS.MemoryUsage>();
/** --expose-gc for the memory reports; BENCH_CPU_PROF=<dir> profiles the servers, BENCH_NODE_FLAGS adds any. */
const NODE_FLAGS = [
  ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
  ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
  '--expose-gc',
];

type Fixture = BenchDatabase & Salon;

function rssKb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0);
}

/** RSS after a full collection in each server (SIGUSR2 → gc()), so garbage is not counted as held. */
async function settledRss(servers: ChildProcess[]): Promise<number[]> {
  for (const server of servers) server.kill('SIGUSR2');
  await sleep(1000);
  return servers.map((server) => rssKb(server.pid!));
}

/** Keeps each server's latest memory report (its other lines are dropped); BENCH_DUMP prints them as they come. */
function recordMemoryReport(line: string, server: ChildProcess) {
  const memory = memoryReport(line);
  if (!memory) return;
  if (process.env.BENCH_DUMP) console.log(line);
  heapReports.set(server.pid!, memory);
}

let heapPerSocketKb: number | null = null;

interface RunResult {
  latencies: number[];
  delivered: number;
  expected: number;
  sendSeconds: number;
  rssPerSocketKb: number | null;
}

/** Sends at a steady rate and records send→delivery latency for each delivery. */
async function load(send: (n: number, sentAt: number) => Promise<void>, latencies: number[], expected: () => number): Promise<{ sendSeconds: number }> {
  for (let n = -WARMUP; n < 0; n++) {
    await send(n, Date.now()).catch(() => undefined);
    await sleep(1000 / RATE);
  }
  await sleep(500);
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let n = 0; n < MESSAGES; n++) {
    const due = started + (n * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(send(n, Date.now()).catch((error: unknown) => console.error('send failed', (error as Error).message)));
  }
  await Promise.all(pending);
  const sendSeconds = (performance.now() - started) / 1000;
  for (let i = 0; i < 100 && latencies.length < expected(); i++) await sleep(100);
  return { sendSeconds };
}

/** N graphql-ws clients split across both instances, each following one conversation. */
async function connectSubscribers(
  ports: number[],
  db: Fixture,
  clientTokens: string[],
  latencies: number[],
): Promise<Client[]> {
  const sockets: Client[] = [];
  let subscribed = 0;
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const c = i % CONVERSATIONS;
    const client = createClient({
      url: `ws://127.0.0.1:${ports[i % 2]}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { token: clientTokens[c] },
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => {},
      on: { connected: () => void subscribed++ },
    });
    client.subscribe<{ messageAdded: { content: string } }>(
      { query: 'subscription($id: ID) { messageAdded(conversationId: $id) { id seq content } }', variables: { id: db.conversations[c] } },
      {
        next: (result) => {
          const [n, sentAt] = (result.data?.messageAdded.content ?? '').split(':').map(Number);
          if (n! >= 0) latencies.push(Date.now() - sentAt!);
        },
        error: (error) => console.error('subscription error', error),
        complete: () => {},
      },
    );
    sockets.push(client);
    if (i % CONNECT_BATCH === CONNECT_BATCH - 1) await sleep(20);
  }
  for (let i = 0; i < 300 && subscribed < SUBSCRIBERS; i++) await sleep(100);
  return sockets;
}

async function runApi(db: Fixture): Promise<RunResult> {
  const started = await Promise.all(
    [0, 1].map(() => startApi({ databaseUrl: db.url, env: { DATABASE_POOL_SIZE: '20' }, nodeFlags: NODE_FLAGS, onLine: recordMemoryReport })),
  );
  const ports = started.map((api) => api.port);
  const servers = started.map((api) => api.child);
  const clientTokens = await Promise.all(db.clients.map((id) => signToken(id, 'client')));
  // A first round of connections brings each server to its working size (Prisma's WebAssembly
  // memory grows with the peak of concurrent queries and is never returned), so the second round
  // measures what holding a socket costs rather than that one-off growth.
  await connectSubscribers(ports, db, clientTokens, []).then((clients) => Promise.all(clients.map((c) => c.dispose())));
  await sleep(4000);
  const rssBefore = await settledRss(servers);
  const heapBefore = servers.map((s) => heapReports.get(s.pid!)?.heapUsed ?? 0);

  const latencies: number[] = [];
  const sockets = await connectSubscribers(ports, db, clientTokens, latencies);
  await sleep(2000);
  const rssAfter = await settledRss(servers);
  const perInstance = SUBSCRIBERS / 2;
  const heapAfter = servers.map((s) => heapReports.get(s.pid!)?.heapUsed ?? 0);
  heapPerSocketKb = (heapAfter[0]! - heapBefore[0]! + heapAfter[1]! - heapBefore[1]!) / 2 / perInstance / 1024;
  const rssPerSocketKb = (rssAfter[0]! - rssBefore[0]! + rssAfter[1]! - rssBefore[1]!) / 2 / perInstance;

  const salonToken = await signToken(db.salonId, 'salon');
  const mutation = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }';
  const { sendSeconds } = await load(
    async (n, sentAt) => {
      const response = await fetch(`http://127.0.0.1:${ports[Math.abs(n) % 2]}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${salonToken}` },
        body: JSON.stringify({ query: mutation, variables: { input: { conversationId: db.conversations[Math.abs(n) % CONVERSATIONS], content: `${n}:${sentAt}` } } }),
      });
      const body = (await response.json()) as { errors?: unknown[] };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
    },
    latencies,
    () => MESSAGES * PER_CONVERSATION,
  );
  await Promise.all(sockets.map((s) => s.dispose()));
  for (const server of servers) server.kill('SIGTERM');
  return { latencies, delivered: latencies.length, expected: MESSAGES * PER_CONVERSATION, sendSeconds, rssPerSocketKb };
}

async function runFloor(db: Fixture): Promise<RunResult> {
  const ports = [await freePort(), await freePort()];
  // Its stdout says only which port it took, which we chose.
  const servers = ports.map((port) => startProcess('bench/floor-server.ts', { env: { PORT: String(port), REDIS_URL }, nodeFlags: NODE_FLAGS, onLine: () => undefined }));
  await Promise.all(ports.map((port) => waitForHttp(`http://127.0.0.1:${port}/`)));
  await sleep(500);
  const rssBefore = servers.map((s) => rssKb(s.pid!));
  const latencies: number[] = [];
  const sockets: WebSocket[] = [];
  let ready = 0;
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const socket = new WebSocket(`ws://127.0.0.1:${ports[i % 2]}/?c=${db.conversations[i % CONVERSATIONS]}`);
    socket.on('message', (data) => {
      const text = data.toString();
      if (text === 'ready') return void ready++;
      const message = (JSON.parse(text) as { data: { messageAdded: { content: string } } }).data.messageAdded;
      const [n, sentAt] = message.content.split(':').map(Number);
      if (n! >= 0) latencies.push(Date.now() - sentAt!);
    });
    sockets.push(socket);
    if (i % 100 === 99) await sleep(20);
  }
  for (let i = 0; i < 300 && ready < SUBSCRIBERS; i++) await sleep(100);
  await sleep(2000);
  const rssAfter = servers.map((s) => rssKb(s.pid!));
  const rssPerSocketKb = (rssAfter[0]! - rssBefore[0]! + rssAfter[1]! - rssBefore[1]!) / 2 / (SUBSCRIBERS / 2);
  const { sendSeconds } = await load(
    async (n, sentAt) => {
      const conversationId = db.conversations[Math.abs(n) % CONVERSATIONS]!;
      await fetch(`http://127.0.0.1:${ports[Math.abs(n) % 2]}/send`, {
        method: 'POST',
        body: JSON.stringify({ conversationId, message: { id: randomUUID(), seq: n, content: `${n}:${sentAt}` } }),
      });
    },
    latencies,
    () => MESSAGES * PER_CONVERSATION,
  );
  for (const socket of sockets) socket.close();
  for (const server of servers) server.kill('SIGTERM');
  return { latencies, delivered: latencies.length, expected: MESSAGES * PER_CONVERSATION, sendSeconds, rssPerSocketKb };
}

function summary(name: string, result: RunResult) {
  if (process.env.BENCH_DUMP) console.log(name, JSON.stringify(result.latencies));
  const sorted = [...result.latencies].sort((a, b) => a - b);
  return {
    name,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    delivered: `${result.delivered}/${result.expected}`,
    'sent msg/s': Math.round((MESSAGES / result.sendSeconds) * 10) / 10,
    'RSS KB/socket': result.rssPerSocketKb === null ? '-' : Math.round(result.rssPerSocketKb * 10) / 10,
  };
}

const database = await createDatabase((url) => migrateDatabase(url));
const db: Fixture = { ...database, ...(await seedSalon(database.url, CONVERSATIONS)) };
try {
  console.log(
    `fanout: ${SUBSCRIBERS} subscribers (${PER_CONVERSATION} per conversation, ${CONVERSATIONS} conversations) on 2 instances, ` +
      `${MESSAGES} messages at ${RATE}/s; machine: ${describeMachine()}`,
  );
  const api = summary('graphql (ours)', await runApi(db));
  await sleep(1000);
  const floor = summary('ws + redis (floor)', await runFloor(db));
  console.table([api, floor]);
  const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : NaN);
  console.log(`ratios ours/floor: p50 ${ratio(api.p50, floor.p50)}×, p95 ${ratio(api.p95, floor.p95)}×, p99 ${ratio(api.p99, floor.p99)}×`);
  console.log('latency in ms from the sender starting the request to the subscriber receiving the message');
  if (heapPerSocketKb !== null) console.log(`API servers: JS heap held per subscribed socket after a full GC: ${(heapPerSocketKb as number).toFixed(1)} KB`);
  if (process.env.BENCH_DUMP) console.log([...heapReports.values()]);
} finally {
  killProcesses();
  await db.drop();
  process.exit(0);
}
