/**
 * `npm run bench:idle -- [--sockets 5000] [--seconds 25] [--settle 15] [--rounds 3] [--root <checkout>]…`
 *
 * What an instance costs while nothing happens: one built API instance (`node dist/server.js`, as
 * deployed, `--v8-pool-size=1` as bench:fanout runs it) holds `--sockets` subscribed `OnEvents`
 * sockets (real graphql-ws clients in a process of their own, as in bench:fanout), and once they
 * are all live and `--settle` seconds have passed, the CPU that the server process and the client
 * process use over `--seconds` is read from /proc (every thread's schedstat): the heartbeat's pings and their pongs, the
 * timers, the periodic checks. Nothing is sent.
 *
 * Each `--root` is a checkout to measure (this one by default; each is built and runs from its own
 * directory, so it needs its dependencies installed, `npm ci`; the database is migrated by this
 * checkout's migrations, so the checkouts compared must share the schema). Rounds alternate between the checkouts, so that a machine that drifts during
 * the run drifts for all of them; the report gives each round and the medians, and each checkout's
 * median against the first one's. CPU is read from each thread's schedstat (nanoseconds). Each server is stopped with SIGTERM, so that it releases its
 * users in Redis before the next one starts (a killed one would be reaped by the next, which would
 * count that work). Linux only (/proc).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { migrateDatabase } from '../src/db/migrations.js';
import type { Subscriber } from './fanout-clients.js';
import {
  connectSubscribers,
  createDatabase,
  describeCommit,
  describeMachine,
  killProcesses,
  REPO_ROOT,
  salonSubscribers,
  seedSalon,
  sleep,
  startApi,
  startClients,
  threadCpuSeconds,
} from './support.js';

const { values } = parseArgs({
  options: {
    sockets: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '25' },
    settle: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '3' },
    root: { type: 'string', multiple: true, default: [REPO_ROOT] },
  },
});
const SOCKETS = Number(values.sockets);
const SECONDS = Number(values.seconds);
const SETTLE_SECONDS = Number(values.settle);
const ROUNDS = Number(values.rounds);
// Relative to where the command was typed (npm runs scripts from the package's directory).
const ROOTS = values.root.map((root) => resolve(process.env.INIT_CWD ?? process.cwd(), root));

const database = await createDatabase(migrateDatabase);

/** One round of one checkout: server and client CPU in ms per second of the idle window. */
async function measure(root: string, subscribers: Subscriber[]): Promise<{ server: number; clients: number }> {
  const { child, port } = await startApi({ databaseUrl: database.url, root, nodeFlags: ['--v8-pool-size=1'] });
  const clients = startClients(['--no-memory-reducer']);
  try {
    await connectSubscribers(clients, port, subscribers);
    await sleep(SETTLE_SECONDS * 1000);
    const server0 = threadCpuSeconds(child.pid);
    const clients0 = threadCpuSeconds(clients.pid);
    await sleep(SECONDS * 1000);
    return {
      server: ((threadCpuSeconds(child.pid) - server0) / SECONDS) * 1000,
      clients: ((threadCpuSeconds(clients.pid) - clients0) / SECONDS) * 1000,
    };
  } finally {
    clients.kill('SIGKILL');
    await new Promise<void>((done) => {
      child.once('exit', () => done());
      child.kill('SIGTERM');
    });
  }
}

const results = new Map<string, { server: number; clients: number }[]>(ROOTS.map((root) => [root, []]));
try {
  const subscribers = await salonSubscribers(await seedSalon(database.url, SOCKETS));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const root of ROOTS) {
      const result = await measure(root, subscribers);
      results.get(root)!.push(result);
      console.log(`round ${round}, ${root} (${describeCommit(root)}): server ${result.server.toFixed(1)} ms/s, clients ${result.clients.toFixed(1)} ms/s`);
    }
  }
} finally {
  killProcesses();
  await database.drop();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
console.log(`\nidle: ${SOCKETS.toLocaleString('en')} subscribed sockets on one instance, ${SECONDS} s after ${SETTLE_SECONDS} s settling, ${ROUNDS} round${ROUNDS === 1 ? '' : 's'}; ${describeMachine()}, ${new Date().toISOString().slice(0, 16)} UTC`);
const first = results.get(ROOTS[0]!)!;
for (const root of ROOTS) {
  const rows = results.get(root)!;
  const server = median(rows.map((r) => r.server));
  const clients = median(rows.map((r) => r.clients));
  const against = root === ROOTS[0] ? '' : ` (${(server / median(first.map((r) => r.server))).toFixed(2)}× and ${(clients / median(first.map((r) => r.clients))).toFixed(2)}× the first checkout's)`;
  console.log(`${root} (${describeCommit(root)}): median server ${server.toFixed(1)} ms of CPU a second, its clients ${clients.toFixed(1)}${against}`);
}
process.exit(0);
