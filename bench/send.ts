/**
 * `npm run bench:send -- [--clients 200] [--messages 10] [--warmup 200] [--pool 20] [--instances 1] [--root <checkout>]`
 *
 * The busy-salon figure: one salon and N clients, one conversation each. Phase 1: all N clients
 * send `sendMessage` over HTTP at once, M messages each back to back (concurrency N, the salon is
 * the recipient of every message). Phase 2: the salon sends M messages to each of its N
 * conversations, concurrency N. Then the floor: the same concurrency of bare single-statement
 * INSERTs into "Message" through node-postgres, with as many connections as the API servers hold,
 * i.e. what PostgreSQL alone does. Exits 1 if any send failed (warm-up included).
 *
 * `--root` measures another checkout with this same file: its src/server.ts runs from its own
 * directory (its node_modules, its generated Prisma client) and its own scripts/migrate.ts builds
 * the database. Needs PostgreSQL (BENCH_DATABASE_ADMIN_URL, default 127.0.0.1:5432) and Redis (REDIS_URL).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import {
  createDatabase,
  describeMachine,
  freePort,
  killProcesses,
  percentile,
  REPO_ROOT,
  seedSalon,
  signToken,
  sleep,
  startApi,
  stopProcesses,
  type BenchDatabase,
  type Salon,
} from './support.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    messages: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '200' },
    pool: { type: 'string', default: '20' },
    instances: { type: 'string', default: '1' },
    root: { type: 'string', default: REPO_ROOT },
  },
});
const CLIENTS = Number(values.clients);
const MESSAGES = Number(values.messages);
/** Sends made first and not measured: JIT, connection pools and caches warm up in a fresh server. */
const WARMUP = Number(values.warmup);
/** DATABASE_POOL_SIZE of each API instance; the floor's pool holds as many connections in all. */
const POOL = Number(values.pool);
const INSTANCES = Number(values.instances);
const ROOT = resolve(values.root);
const SEND = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }';
let stopping = false;

/** The checkout measured, as a reader of the figures needs it: its commit and whether it has edits. */
function describeRoot(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).trim();
    const edited = git('status', '--porcelain', '--untracked-files=no') !== '';
    return `${ROOT} at ${git('rev-parse', '--short', 'HEAD')}${edited ? ' + uncommitted changes' : ''}`;
  } catch {
    return `${ROOT} (not a git checkout)`;
  }
}

/**
 * Migrations of the measured checkout, not of this one: each commit builds the schema its code
 * expects. Its scripts/migrate.ts (migrateDatabase) runs in a child process, whose pool ends with it.
 */
async function migrate(url: string): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/migrate.ts')], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.on('exit', done));
  if (code !== 0) throw new Error(`migrations of ${ROOT} failed (exit ${code}):\n${output}`);
}

type Fixture = BenchDatabase & Salon;

/** One API instance of the measured checkout; one that exits before the bench stops it fails the run. */
async function startInstance(databaseUrl: string): Promise<number> {
  const port = await freePort();
  await startApi({
    port,
    databaseUrl,
    root: ROOT,
    env: { DATABASE_POOL_SIZE: String(POOL) },
    onExit: (code, signal) => {
      if (!stopping) {
        console.error(`API server on port ${port} exited (${signal ?? code}) during the bench`);
        process.exitCode = 1;
      }
    },
  });
  return port;
}

interface PhaseResult {
  name: string;
  latencies: number[];
  errors: Map<string, number>;
  seconds: number;
}

/** `workers` loops run at once, each making `perWorker` calls back to back; one latency per successful call. */
async function runPhase(name: string, workers: number, perWorker: number, call: (worker: number, n: number) => Promise<void>): Promise<PhaseResult> {
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let n = 0; n < perWorker; n++) {
        const t0 = performance.now();
        try {
          await call(worker, n);
          latencies.push(performance.now() - t0);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          errors.set(message, (errors.get(message) ?? 0) + 1);
        }
      }
    }),
  );
  return { name, latencies, errors, seconds: (performance.now() - started) / 1000 };
}

/** One `sendMessage` over HTTP; a non-200, a GraphQL error or a missing id is a failure. */
async function send(port: number, bearer: string, conversationId: string, content: string): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ query: SEND, variables: { input: { conversationId, content } } }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`);
  const body = JSON.parse(text) as { data?: { sendMessage?: { id?: string } | null } | null; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors?.length) throw new Error(`GraphQL ${body.errors.map((e) => `${e.extensions?.code ?? ''} ${e.message}`).join('; ')}`);
  if (!body.data?.sendMessage?.id) throw new Error(`no message id in ${text.slice(0, 200)}`);
}

async function runApi(fixture: Fixture): Promise<{ phases: PhaseResult[]; warmupErrors: Map<string, number> }> {
  // One after the other: each runs the (already applied) migrations at start, and they need not race.
  const ports: number[] = [];
  for (let i = 0; i < INSTANCES; i++) ports.push(await startInstance(fixture.url));
  const portFor = (worker: number) => ports[worker % ports.length]!;
  const clientTokens = await Promise.all(fixture.clients.map((id) => signToken(id, 'client')));
  const salonToken = await signToken(fixture.salonId, 'salon');

  // Both directions are warmed, at the measured concurrency, so neither phase pays for the other's first calls.
  const perWorker = Math.ceil(WARMUP / CLIENTS);
  const warmup = await runPhase('warm-up', Math.min(CLIENTS, WARMUP), perWorker, (worker, n) =>
    (worker + n) % 2 === 0
      ? send(portFor(worker), clientTokens[worker]!, fixture.conversations[worker]!, `warm-up ${n}`)
      : send(portFor(worker), salonToken, fixture.conversations[worker]!, `warm-up ${n}`),
  );
  await sleep(500);
  const fromClients = await runPhase('clients → salon', CLIENTS, MESSAGES, (worker, n) =>
    send(portFor(worker), clientTokens[worker]!, fixture.conversations[worker]!, `client ${worker} #${n}`),
  );
  await sleep(500);
  const fromSalon = await runPhase('salon → clients', CLIENTS, MESSAGES, (worker, n) =>
    send(portFor(worker), salonToken, fixture.conversations[worker]!, `salon to ${worker} #${n}`),
  );
  stopping = true;
  await stopProcesses();
  return { phases: [fromClients, fromSalon], warmupErrors: warmup.errors };
}

/** PostgreSQL alone: one autocommitted INSERT per message, as many connections as the API servers had. */
async function runFloor(fixture: Fixture): Promise<PhaseResult> {
  const pool = new pg.Pool({ connectionString: fixture.url, max: POOL * INSTANCES });
  // pool.end() resolves before its connections have closed; the final DROP DATABASE … WITH (FORCE)
  // then terminates them (57P01), which is expected, not a failure.
  pool.on('error', (error: Error & { code?: string }) => {
    if (error.code !== '57P01') throw error;
  });
  // Far above any seq the API phases reached, so (conversationId, seq) stays unique.
  let seq = 1_000_000;
  const insert = (worker: number, content: string) =>
    pool.query(
      `INSERT INTO "Message" (id, "conversationId", seq, "authorId", content, "updatedAt") VALUES ($1, $2, $3, $4, $5, now())`,
      [randomUUID(), fixture.conversations[worker], seq++, fixture.clients[worker], content],
    );
  await runPhase('floor warm-up', Math.min(CLIENTS, WARMUP), Math.ceil(WARMUP / CLIENTS), (worker, n) => insert(worker, `warm-up ${n}`).then(() => undefined));
  await sleep(500);
  const floor = await runPhase('INSERT (floor)', CLIENTS, MESSAGES, (worker, n) => insert(worker, `client ${worker} #${n}`).then(() => undefined));
  await pool.end();
  return floor;
}

function summary(result: PhaseResult) {
  const sorted = [...result.latencies].sort((a, b) => a - b);
  const errors = [...result.errors.values()].reduce((a, b) => a + b, 0);
  return {
    phase: result.name,
    sends: result.latencies.length + errors,
    'wall s': Math.round(result.seconds * 100) / 100,
    'sends/s': Math.round(result.latencies.length / result.seconds),
    'p50 ms': Math.round(percentile(sorted, 50) * 10) / 10,
    'p95 ms': Math.round(percentile(sorted, 95) * 10) / 10,
    'p99 ms': Math.round(percentile(sorted, 99) * 10) / 10,
    errors,
  };
}

function printErrors(label: string, errors: Map<string, number>): number {
  let total = 0;
  for (const [message, count] of errors) {
    total += count;
    console.log(`  ${label}: ${count} × ${message}`);
  }
  return total;
}

const script = relative(process.cwd(), fileURLToPath(import.meta.url));
console.log(`command: tsx ${script} ${process.argv.slice(2).join(' ')}`.trimEnd() + `   (cwd ${process.cwd()})`);
console.log(`code measured: ${describeRoot()}`);
const database = await createDatabase(migrate);
const fixture: Fixture = { ...database, ...(await seedSalon(database.url, CLIENTS)) };
let failed = 0;
try {
  console.log(
    `send: 1 salon, ${CLIENTS} clients (one conversation each), ${MESSAGES} messages per conversation per phase, concurrency ${CLIENTS}, ` +
      `${INSTANCES} API instance(s) with DATABASE_POOL_SIZE ${POOL}, ${WARMUP} warm-up sends; ` +
      `machine: ${describeMachine()}, PostgreSQL ${fixture.postgres}`,
  );
  const api = await runApi(fixture);
  await sleep(1000);
  const floorResult = await runFloor(fixture);
  const floor = summary(floorResult);
  const rows = api.phases.map(summary);
  console.table([...rows, floor]);
  const ratio = (a: number, b: number) => (b > 0 ? (Math.round((a / b) * 100) / 100).toFixed(2) : 'n/a');
  for (const row of rows) {
    console.log(
      `ours/floor, ${row.phase}: throughput ${ratio(row['sends/s'], floor['sends/s'])}×, p50 ${ratio(row['p50 ms'], floor['p50 ms'])}×, p99 ${ratio(row['p99 ms'], floor['p99 ms'])}×`,
    );
  }
  console.log('latency in ms from the start of the HTTP request (or INSERT) to its complete response; sends/s counts successful sends over the wall time');
  failed += printErrors('warm-up', api.warmupErrors);
  for (const phase of api.phases) failed += printErrors(phase.name, phase.errors);
  // A failed INSERT means the floor measured something else; it fails the run as a send would.
  failed += printErrors(floorResult.name, floorResult.errors);
  if (failed > 0) console.log(`${failed} send(s) failed`);
} catch (error) {
  console.error(error);
  failed++;
} finally {
  stopping = true;
  killProcesses();
  await fixture.drop();
  process.exit(failed > 0 || process.exitCode ? 1 : 0);
}
