/**
 * `npm run bench:churn -- [--sockets 1000] [--rounds 4]`
 *
 * What a day of browser tabs does to one API process: each round opens N graphql-ws sockets (N/10
 * users), each running `messageAdded` and `unreadCount`, then drops them the way tabs go — half
 * with a TCP reset, half with a close frame, none completing its subscriptions. After every round
 * it reads the server's gauges, its Redis channels and its JS heap after a full GC (SIGUSR2
 * report, --expose-gc), and prints the heap growth per closed socket against the first round
 * (the first round pays for JIT, pools and caches; what a leak adds shows in the rounds after).
 * Needs PostgreSQL (BENCH_DATABASE_ADMIN_URL, default 127.0.0.1:5432) and Redis (REDIS_URL).
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { migrateDatabase } from '../src/db/migrations.js';
import { createDatabase, describeMachine, memoryReport, REDIS_URL, signToken, sleep, startApi } from './support.js';

const { values } = parseArgs({ options: { sockets: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '4' } } });
const SOCKETS = Number(values.sockets);
const ROUNDS = Number(values.rounds);
const USERS = Math.max(1, Math.round(SOCKETS / 10));

const database = await createDatabase((url) => migrateDatabase(url));
const reports: NodeJS.MemoryUsage[] = [];
const { child: server, port } = await startApi({
  databaseUrl: database.url,
  nodeFlags: ['--expose-gc'],
  onLine: (line) => {
    const memory = memoryReport(line);
    if (memory) reports.push(memory);
  },
});
const base = `http://127.0.0.1:${port}`;

async function heapAfterGc(): Promise<number> {
  const count = reports.length;
  server.kill('SIGUSR2');
  while (reports.length === count) await sleep(20);
  return reports.at(-1)!.heapUsed;
}

async function gauges() {
  const text = await (await fetch(`${base}/metrics`)).text();
  const read = (name: string) => Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((line) => line.startsWith(`${name} `)) ?? '')?.[2] ?? NaN);
  return {
    sockets: read('salon_ws_open_sockets'),
    subscriptions: read('salon_active_subscriptions'),
    topics: read('salon_live_topic_subscriptions'),
  };
}

// Users the database does not know: each is created on its token's first use, as in production.
const tokens = await Promise.all(Array.from({ length: USERS }, () => signToken(randomUUID(), 'client')));

/** A raw graphql-transport-ws tab with two running subscriptions; resolves once both are sent and acknowledged. */
function openTab(token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
    socket.on('error', reject);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { token } })));
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string };
      if (message.type !== 'connection_ack') return;
      socket.send(JSON.stringify({ id: 'm', type: 'subscribe', payload: { query: 'subscription { messageAdded { id } }' } }));
      socket.send(JSON.stringify({ id: 'u', type: 'subscribe', payload: { query: 'subscription { unreadCount { totalUnread } }' } }));
      resolve(socket);
    });
  });
}

const redis = new Redis(REDIS_URL);
const channels = async () => (await redis.pubsub('CHANNELS', 'user:*')).length;
const settle = async (want: (g: Awaited<ReturnType<typeof gauges>>) => boolean) => {
  for (let i = 0; i < 600; i++) {
    const current = await gauges();
    if (want(current)) return current;
    await sleep(50);
  }
  throw new Error(`gauges did not settle: ${JSON.stringify(await gauges())}`);
};

// A first connect burst sizes pools and caches; it is not counted.
const warm = await Promise.all(tokens.map((token) => openTab(token)));
for (const socket of warm) socket.close();
await settle((g) => g.sockets === 0 && g.subscriptions === 0 && g.topics === 0);
const start = { heap: await heapAfterGc(), channels: await channels() };
console.log(`machine: ${describeMachine()}`);
console.log(`${SOCKETS} sockets × ${ROUNDS} rounds, ${USERS} users, 2 subscriptions per socket; heap after a full GC`);
console.log(`baseline (after a warm-up round): heap ${(start.heap / 2 ** 20).toFixed(1)} MB, Redis channels ${start.channels}`);

for (let round = 1; round <= ROUNDS; round++) {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < SOCKETS; i += 100) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, SOCKETS - i) }, (_, j) => openTab(tokens[(i + j) % USERS]!)))));
  }
  const open = await settle((g) => g.subscriptions === SOCKETS * 2 && g.topics === SOCKETS * 2);
  sockets.forEach((socket, i) => (i % 2 === 0 ? socket.terminate() : socket.close()));
  const closed = await settle((g) => g.sockets === 0 && g.subscriptions === 0 && g.topics === 0);
  const heap = await heapAfterGc();
  const perSocket = (heap - start.heap) / (SOCKETS * round);
  console.log(
    `round ${round}: open ${JSON.stringify(open)} → closed ${JSON.stringify(closed)}, Redis channels ${await channels()}, ` +
      `heap ${(heap / 2 ** 20).toFixed(1)} MB, growth ${(perSocket / 1024).toFixed(2)} KB per closed socket since the baseline`,
  );
}

server.kill('SIGTERM');
await new Promise((resolve) => server.once('exit', resolve));
redis.disconnect();
await database.drop();
