/**
 * `npm run bench:rate -- [--rates 10,50,200] [--seconds 30] [--warmup 3000] [--idle-seconds 10] [--rounds 2]`
 *
 * What one message costs a server at each send rate, ours against the durable floor's relay. For
 * each round and rate, one built API instance (`node dist/server.js`, `--v8-pool-size=1` as
 * bench:fanout runs it; no socket) and then one durable floor relay (bench/floor-server.ts with
 * its INSERT) are started in turn, each warmed up with `--warmup` messages sent one after the
 * other, then left idle for `--idle-seconds` (their CPU then is what they spend with nothing
 * sent: timers, polls), then sent `--rate` messages a second for `--seconds`: `sendMessage` over
 * HTTP for ours, `POST /send` for the relay. Prints each server's CPU per message over the window
 * (every thread's, from /proc's schedstat) minus its idle CPU over the same time, the answers'
 * p50 and p99 (from each request's start), ours ÷ the floor's, and PostgreSQL's CPU per message
 * (all its processes, from /proc, its own idle CPU subtracted the same way). On the machine class of the
 * eighth to tenth sessions both cost 1.4–1.9 times more a message at 10 a second than at 200 (see
 * "A tenth session" in bench/results/fanout-history.md). Linux only.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { migrateDatabase } from '../src/db/migrations.js';
import {
  commCpuSeconds,
  createDatabase,
  createFloorTable,
  describeCommit,
  describeMachine,
  freePort,
  graphqlPost,
  percentile,
  postJson,
  seedSalon,
  SEND_MESSAGE,
  sendAtRate,
  signToken,
  sleep,
  startApi,
  startProcess,
  stopProcesses,
  threadCpuSeconds,
  waitForHttp,
} from './support.js';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '10,50,200' },
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3000' },
    'idle-seconds': { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
  },
});
const RATES = values.rates.split(',').map(Number);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const IDLE_SECONDS = Number(values['idle-seconds']);
const ROUNDS = Number(values.rounds);
/** The conversations ours sends to, in turn (one salon's). */
const CONVERSATIONS = 100;

type Target = 'ours' | 'floor';
interface Sample {
  /** ms of CPU a message, idle CPU subtracted. */
  cpu: number;
  /** ms of CPU a second with nothing sent. */
  idle: number;
  /** ms of PostgreSQL's CPU a message (all its processes), its CPU with nothing sent subtracted; NaN when it runs elsewhere. */
  postgres: number;
  p50: number;
  p99: number;
}

const database = await createDatabase(async (url) => {
  await migrateDatabase(url);
  await createFloorTable(url);
});
const salon = await seedSalon(database.url, CONVERSATIONS);
const salonToken = await signToken(salon.salonId, 'salon');

/** A started server of `target` and how to send it the n-th message. */
async function start(target: Target): Promise<{ pid: number | undefined; send: (n: number) => Promise<unknown> }> {
  if (target === 'ours') {
    const { child, port } = await startApi({ databaseUrl: database.url, nodeFlags: ['--v8-pool-size=1'] });
    return {
      pid: child.pid,
      send: (n) =>
        graphqlPost(port, salonToken, SEND_MESSAGE, { input: { conversationId: salon.conversations[n % CONVERSATIONS], content: `rate ${n}`, clientMessageId: randomUUID() } }),
    };
  }
  const port = await freePort();
  const child = startProcess('bench/floor-server.ts', {
    env: { PORT: String(port), FLOOR_DATABASE_URL: database.url },
    nodeFlags: ['--v8-pool-size=1'],
    onLine: () => undefined,
  });
  await waitForHttp(`http://127.0.0.1:${port}/`);
  const conversationId = randomUUID();
  return {
    pid: child.pid,
    send: async (n) => {
      const { status, text } = await postJson(port, '/send', JSON.stringify({ conversationId, message: { id: randomUUID(), seq: n, content: `rate ${n}` } }));
      if (status !== 200) throw new Error(`floor: HTTP ${status}: ${text.slice(0, 200)}`);
    },
  };
}

/** PostgreSQL's CPU so far (s); NaN when it does not run on this machine. */
const postgresCpu = () => commCpuSeconds('postgres') ?? NaN;
/** A sample's PostgreSQL figure (ms a message), '-' when PostgreSQL runs elsewhere. */
const postgresMs = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? '-' : value.toFixed(2));

async function measure(target: Target, rate: number): Promise<Sample> {
  const { pid, send } = await start(target);
  try {
    for (let n = 0; n < WARMUP; n++) await send(n);
    await sleep(1000);
    const idleFrom = threadCpuSeconds(pid);
    const postgresIdleFrom = postgresCpu();
    await sleep(IDLE_SECONDS * 1000);
    const idle = (threadCpuSeconds(pid) - idleFrom) / IDLE_SECONDS;
    const postgresIdle = (postgresCpu() - postgresIdleFrom) / IDLE_SECONDS;
    const from = threadCpuSeconds(pid);
    const postgresFrom = postgresCpu();
    const { answers, seconds } = await sendAtRate(rate, SECONDS, (k) => send(WARMUP + k));
    const cpu = threadCpuSeconds(pid) - from - idle * seconds;
    const postgres = postgresCpu() - postgresFrom - postgresIdle * seconds;
    return {
      cpu: (cpu * 1000) / (SECONDS * rate),
      idle: idle * 1000,
      postgres: (postgres * 1000) / (SECONDS * rate),
      p50: percentile(answers, 50),
      p99: percentile(answers, 99),
    };
  } finally {
    await stopProcesses();
  }
}

const results = new Map<string, Sample[]>();
try {
  console.log(`rate: ${describeMachine()}, PostgreSQL ${database.postgres} (${database.settings}), commit ${describeCommit()}, ${new Date().toISOString().slice(0, 16)} UTC`);
  console.log(`${WARMUP} warm-up messages one after the other, ${IDLE_SECONDS} s idle, then ${SECONDS} s at each rate; ${ROUNDS} rounds, ours and the floor in turn\n`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const rate of RATES) {
      for (const target of ['ours', 'floor'] as const) {
        const sample = await measure(target, rate);
        results.set(`${target} ${rate}`, [...(results.get(`${target} ${rate}`) ?? []), sample]);
        console.log(
          `round ${round}, ${rate}/s, ${target}: ${sample.cpu.toFixed(2)} ms of CPU a message (idle ${sample.idle.toFixed(1)} ms/s subtracted), ` +
            `PostgreSQL ${Number.isNaN(sample.postgres) ? 'not seen on this machine' : `${sample.postgres.toFixed(2)} ms a message`}, answers p50 ${sample.p50.toFixed(1)} ms, p99 ${sample.p99.toFixed(1)} ms`,
        );
      }
    }
  }
  const each = (samples: Sample[] | undefined, pick: (s: Sample) => number) => (samples ?? []).map((s) => pick(s).toFixed(2)).join(', ');
  console.log(
    '\n| rate | ours, CPU a message | floor, CPU a message | ours ÷ floor | PostgreSQL a message, ours / floor | ours, answer p50 / p99 | floor, answer p50 / p99 |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const rate of RATES) {
    const ours = results.get(`ours ${rate}`) ?? [];
    const floor = results.get(`floor ${rate}`) ?? [];
    const ratios = ours.map((s, i) => (s.cpu / (floor[i]?.cpu ?? NaN)).toFixed(1)).join(', ');
    const latency = (samples: Sample[]) => samples.map((s) => `${s.p50.toFixed(1)} / ${s.p99.toFixed(1)}`).join(', ');
    const postgres = ours.map((s, i) => `${postgresMs(s.postgres)} / ${postgresMs(floor[i]?.postgres)}`).join(', ');
    console.log(`| ${rate}/s | ${each(ours, (s) => s.cpu)} ms | ${each(floor, (s) => s.cpu)} ms | ${ratios}× | ${postgres} ms | ${latency(ours)} ms | ${latency(floor)} ms |`);
  }
} finally {
  await stopProcesses();
  await database.drop();
}
process.exit(0);
