/**
 * `npm run bench:query-promotion -- [--client prisma|pg] [--rate 50] [--seconds 30]`
 *
 * What one database read promotes to the old generation, with nothing around it (no HTTP, no
 * GraphQL): `db.user.findUnique` through the app's Prisma client, or the same `SELECT` through
 * `pg`, at `--rate` for `--seconds`, in a child `node` with `--trace-gc-nvp` (and
 * BENCH_NODE_FLAGS, e.g. `--max-semi-space-size=2` for enough scavenges to count). Prints the
 * bytes its scavenges promoted per read.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { connectDb, getDb } from '../src/db.js';
import { migrateDatabase } from '../src/db/migrations.js';
import { createDatabase, describeCommit, describeMachine, REPO_ROOT, seedSalon, sleep } from './support.js';

const { values } = parseArgs({
  options: {
    client: { type: 'string', default: 'prisma' },
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '30' },
    'database-url': { type: 'string' },
    'user-id': { type: 'string' },
  },
});
const RATE = Number(values.rate);
const READS = RATE * Number(values.seconds);

if (values['database-url']) {
  // The child: reads, and says when the window starts and ends.
  const url = values['database-url'];
  const userId = values['user-id']!;
  connectDb(url, { poolSize: 10 });
  const db = getDb();
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const read = () => (values.client === 'pg' ? pool.query('SELECT * FROM "User" WHERE id = $1', [userId]) : db.user.findUnique({ where: { id: userId } }));
  for (let n = 0; n < 300; n++) await read();
  await sleep(1000);
  console.log('WINDOW START');
  const started = performance.now();
  let inFlight = 0;
  for (let k = 0; k < READS; k++) {
    const wait = started + (k * 1000) / RATE - performance.now();
    if (wait > 0) await sleep(wait);
    inFlight++;
    // Nothing keeps the result: what survives is what the client kept.
    void read().then(() => void inFlight--);
  }
  while (inFlight > 0) await sleep(5);
  console.log('WINDOW END');
  await pool.end();
  process.exit(0);
}

const database = await createDatabase(migrateDatabase);
const salon = await seedSalon(database.url, 1);
const flags = ['--trace-gc-nvp', ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)];
const child = spawn(
  process.execPath,
  [...flags, '--import', 'tsx', fileURLToPath(import.meta.url), '--client', values.client!, '--rate', values.rate!, '--seconds', values.seconds!, '--database-url', database.url, '--user-id', salon.salonId],
  { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
);
let counting = false;
let promoted = 0;
let scavenges = 0;
for await (const line of createInterface({ input: child.stdout! })) {
  if (line === 'WINDOW START') counting = true;
  else if (line === 'WINDOW END') counting = false;
  else if (counting && line.includes(' gc=s ')) {
    scavenges++;
    promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
  }
}
await database.drop();
console.log(`query-promotion: ${describeMachine()}, commit ${describeCommit()}, ${new Date().toISOString().slice(0, 16)} UTC`);
console.log(
  `${values.client} reads, ${RATE}/s for ${values.seconds} s${flags.length > 1 ? ` (${flags.slice(1).join(' ')})` : ''}: ` +
    `promoted ${(promoted / READS / 1024).toFixed(1)} KB per read; ${scavenges} scavenges`,
);
