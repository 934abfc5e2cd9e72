/**
 * `npm run bench:fanout -- [--sockets 1000,2000,5000,10000] [--rate 100] [--seconds 60] [--step-seconds 15]
 *   [--burst-seconds 10] [--client-processes 2] [--salons 100] [--warmup 5000] [--v8-pool-size 1]
 *   [--no-floor] [--no-durable-floor]`
 *
 * Two API instances (separate processes, `node dist/server.js` as deployed, with V8 background
 * threads as the README advises for several instances on one machine: --v8-pool-size, default 1)
 * share one PostgreSQL and one Redis. Subscribers — real graphql-ws clients following the shipped `OnEvents`
 * document, each a client user of its own conversation with a salon (--salons, 100) — run in processes of their
 * own (bench/fanout-clients.ts), half on each instance. The salons send through `sendMessage` over
 * HTTP at a steady rate in all, each to its own clients, alternating instances, so half the deliveries cross from one instance to
 * the other through PostgreSQL and Redis.
 *
 * For each socket count but the last the subscribers are topped up and the rate is held for
 * --step-seconds. At the last count every socket is closed first, then all of them connect in one
 * burst within --burst-seconds; then every socket is cut at once (no close frame, as a network
 * drop) and the clients reconnect with graphql-ws's own backoff, resuming from their last cursor;
 * then the rate is held for --seconds. The same steps then run against the floor
 * (bench/floor-server.ts: a bare `ws` relay over the same Redis, no GraphQL, auth or database),
 * and against the durable floor: the same relay storing each message with one INSERT in the same
 * PostgreSQL before it publishes it, the least a server that loses nothing does per message.
 *
 * Latency is from the sender starting the request to the subscriber receiving the message.
 * Memory per idle subscribed socket, read after each count's latency window with its sockets still
 * connected: the servers' RSS and JS heap after a full GC (SIGUSR2 under --expose-gc; the median
 * of three samples, once RSS has stopped moving). Heap: minus the same at working size with no
 * socket (after a warm-up round of 100 sockets and the warm-up messages, closed), divided by the
 * count, the median over the counts. RSS: the slope of RSS against sockets over the counts.
 *
 * Writes bench/results/fanout.md and bench/results/fanout.svg, stamped with the machine and the
 * commit. BENCH_CPU_PROF=<dir> writes CPU profiles of the servers. BENCH_TRACE=<dir> writes each
 * server's stdout with an epoch-ms prefix (server-<port>.log, with an "event loop stall" line for
 * each turn over 8 ms: LOG_LOOP_STALLS_MS, and a --trace-gc line for each collection) and one row per
 * measured message (<target>-<sockets>.tsv), to line slow deliveries up with what the servers were
 * doing; and each client process's output the same way (clients-<pid>.log, its --trace-gc lines
 * included; more node flags for them: BENCH_CLIENT_NODE_FLAGS).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { migrateDatabase } from '../src/db/migrations.js';
import { coldMemoryLine } from './cold-memory.js';
import type { FanoutCommand, FanoutReply, Subscriber } from './fanout-clients.js';
import {
  commandLine,
  commCpuSeconds,
  createDatabase,
  createFloorTable,
  describeCommit,
  describeMachine,
  freePort,
  graphqlPost,
  killProcesses,
  memoryReport,
  percentile,
  postJson,
  processCpuSeconds,
  REDIS_URL,
  resentRequests,
  REPO_ROOT,
  resultsStamp,
  seedSalon,
  SEND_MESSAGE,
  signToken,
  type Salon,
  sleep,
  startApi,
  startProcess,
  USER_HZ,
  waitForHttp,
} from './support.js';
import { cumulative, svgPlot } from './svg.js';

const { values } = parseArgs({
  options: {
    sockets: { type: 'string', default: '1000,2000,5000,10000' },
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '60' },
    'step-seconds': { type: 'string', default: '15' },
    'burst-seconds': { type: 'string', default: '10' },
    'client-processes': { type: 'string', default: '2' },
    salons: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '5000' },
    'v8-pool-size': { type: 'string', default: '1' },
    'no-floor': { type: 'boolean', default: false },
    'no-durable-floor': { type: 'boolean', default: false },
    out: { type: 'string', default: join(REPO_ROOT, 'bench/results') },
  },
});
const COUNTS = values.sockets.split(',').map(Number).sort((a, b) => a - b);
const LARGEST = COUNTS.at(-1)!;
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const STEP_SECONDS = Number(values['step-seconds']);
const BURST_SECONDS = Number(values['burst-seconds']);
const CLIENT_PROCESSES = Math.max(1, Number(values['client-processes']));
/**
 * Salons the sockets' clients belong to (socket i: a client of salon i mod SALONS), each sending
 * to its own clients: 10,000 sockets are a hundred salons' clients, not one salon's, and a
 * salon's sends queue on its event-stream row (`npm run bench:send` measures one busy salon).
 */
const SALONS = Math.max(1, Number(values.salons));
/** Measured first, on a machine with none of the run's processes yet (bench/cold-memory.ts). */
const COLD_MEMORY = coldMemoryLine();
/**
 * Messages sent first and not measured: JIT, pools and caches warm up in freshly started servers.
 * The API's JIT takes thousands of sends to settle: V8 was still finishing an optimized compile
 * about every second 50 s (5,000 sends) in, those compiles were a quarter of the server's CPU
 * after 1,300 sends, and a send cost 1.6 ms of CPU after 6,000 sends against 2.5 ms after 300
 * (one instance at 100 sends/s, 2026-12-05). After 500, as this bench first did, the 1,000-socket
 * step measured a server still compiling.
 */
const WARMUP = Number(values.warmup);
/** Sockets of the warm-up round (they receive the warm-up messages). */
const WARMUP_SOCKETS = 100;
/** Connections per second when topping up between counts (the burst has its own pace). */
const TOP_UP_PER_SECOND = 1000;
/**
 * V8's background threads per server process (garbage collection, optimizing compiles). Node's
 * default is 4 whatever the machine: here two servers' eight, their two main threads, PostgreSQL,
 * Redis and the bench's own processes share two cores, and a major collection's parallel marking
 * in one server took the cores from the other's main thread (its sends and deliveries waited
 * behind 10–20 ms stalls). 1 is the setting the README gives for several instances on a small
 * machine; 0 is Node's own estimate from the cores. Every server of the run gets it, floors too.
 */
const V8_POOL_SIZE = Number(values['v8-pool-size']);
const NODE_FLAGS = [
  `--v8-pool-size=${V8_POOL_SIZE}`,
  ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
  ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
  '--expose-gc',
  // One line per collection (a few a second): the report says which windows a major collection
  // fell in, and which messages it delayed (see MajorCollection).
  '--trace-gc',
];

/** PostgreSQL connections of each API instance, and of each durable floor relay. */
const POOL_SIZE = 20;

/** `durable`: the floor relay storing each message in PostgreSQL before publishing it. */
type Target = 'api' | 'floor' | 'durable';

/** A client process and a way to ask it something and wait for its answer. */
interface ClientProcess {
  child: ChildProcess;
  ask(command: FanoutCommand): Promise<FanoutReply>;
}

/**
 * The client processes' node flags. They stand for browsers on other machines, so they must take
 * as little as they can of the cores the servers run on. `--no-memory-reducer`: once a client's
 * allocation rate drops (after the reconnect storm, in the last window), V8 ran up to three
 * "memory-reducing" full collections in a row to shrink its heap, each marking for 140–170 ms with
 * its background threads on both cores; both servers' event loops stalled 8–30 ms at those moments
 * (a traced run at 10,000 sockets: the 500 messages sent within them had a p99 of 30 ms, the other
 * 5,500 of 9 ms). Shrinking a bench client's heap serves nothing. `--trace-gc`: the report counts
 * the clients' major collections in each window, as it does the servers'.
 */
const CLIENT_NODE_FLAGS = ['--no-memory-reducer', '--trace-gc', ...(process.env.BENCH_CLIENT_NODE_FLAGS ?? '').split(' ').filter(Boolean)];

function startClientProcess(): ClientProcess {
  const child = spawn(process.execPath, [...CLIENT_NODE_FLAGS, '--import', 'tsx', join(REPO_ROOT, 'bench/fanout-clients.ts')], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const file = TRACE ? join(TRACE, `clients-${child.pid}.log`) : undefined;
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    const now = Date.now();
    for (const line of lines) {
      const major = majorCollection(line, now);
      if (major) clientCollections.push(major);
      else if (!file && !GC_LINE.test(line)) console.log(line);
    }
    if (file && lines.length > 0) appendFileSync(file, lines.map((line) => `${now} ${line}\n`).join(''));
  });
  // One question at a time per process: replies come back in order.
  let chain = Promise.resolve() as Promise<unknown>;
  return {
    child,
    ask(command) {
      const answer = chain.then(
        () =>
          new Promise<FanoutReply>((resolve, reject) => {
            const exited = (code: number | null) => reject(new Error(`client process exited (${code})`));
            child.once('exit', exited);
            child.once('message', (reply: FanoutReply) => {
              child.off('exit', exited);
              resolve(reply);
            });
            child.send(command);
          }),
      );
      chain = answer.catch(() => undefined);
      return answer;
    },
  };
}

interface Server {
  child: ChildProcess;
  port: number;
  /** The latest memory report (after a full GC) of this server. */
  memory?: NodeJS.MemoryUsage;
  reported: number;
}

/** Samples of settledMemory: RSS after a full collection moves by a few MB from one to the next. */
const MEMORY_SAMPLES = 3;

/** Each server's RSS and heap after a full collection, summed over the servers; the median of MEMORY_SAMPLES. */
async function settledMemory(servers: Server[]): Promise<Memory> {
  const samples: Memory[] = [];
  for (let round = 0; round < MEMORY_SAMPLES; round++) {
    const before = servers.map((s) => s.reported);
    for (const server of servers) server.child.kill('SIGUSR2');
    for (let i = 0; i < 100 && servers.some((s, j) => s.reported === before[j]); i++) await sleep(50);
    samples.push(servers.reduce((sum, s) => ({ rss: sum.rss + (s.memory?.rss ?? 0), heap: sum.heap + (s.memory?.heapUsed ?? 0) }), { rss: 0, heap: 0 }));
  }
  return { rss: median(samples.map((m) => m.rss)), heap: median(samples.map((m) => m.heap)) };
}

/**
 * settledMemory once RSS has stopped moving: two samples 2 s apart within 2 MB (at most 30 s).
 * After load, RSS drops by tens of MB a few seconds later (seen: 755 → 691 MB for the two
 * servers, 4 s after the warm-up round) — measured before that, a baseline made every later
 * count look smaller, down to negative figures.
 */
async function stableMemory(servers: Server[]): Promise<Memory> {
  let previous = await settledMemory(servers);
  for (let waited = 0; waited < 30_000; waited += 2_000) {
    await sleep(2_000);
    const next = await settledMemory(servers);
    if (Math.abs(next.rss - previous.rss) < 2 * 1024 * 1024) return next;
    previous = next;
  }
  return previous;
}

/** Errors a server logged, counted by message (the first of each printed), so a failure says why. */
const serverErrors = new Map<string, number>();

const TRACE = process.env.BENCH_TRACE;
if (TRACE) mkdirSync(TRACE, { recursive: true });

const watchMemory = (servers: Server[]) => (line: string, child: ChildProcess) => {
  if (TRACE) appendFileSync(join(TRACE, `server-${servers.find((s) => s.child === child)?.port ?? child.pid}.log`), `${Date.now()} ${line}\n`);
  // "… Mark-Compact 160.5 (193.0) -> 111.1 (192.5) MB, 9.60 / 0.02 ms  (+ 53.3 ms in 241 steps …":
  // the pause is the figure after the sizes' comma.
  const gc = GC_LINE.exec(line);
  if (gc) {
    gcPauses.push(Number(gc[2]));
    const major = majorCollection(line, Date.now());
    const server = servers.find((s) => s.child === child);
    if (major && server) majorCollections.push({ ...major, port: server.port });
    return;
  }
  if (line.includes('"level":50') || line.includes('"level":60')) {
    const { msg, err } = JSON.parse(line) as { msg?: string; err?: { message?: string } };
    const key = `${msg ?? ''}: ${err?.message ?? ''}`.slice(0, 300);
    const seen = serverErrors.get(key) ?? 0;
    if (seen === 0) console.error(`  server error: ${key}`);
    serverErrors.set(key, seen + 1);
  }
  const memory = memoryReport(line);
  const server = servers.find((s) => s.child === child);
  if (memory && server) {
    server.memory = memory;
    server.reported++;
  }
};

/** The worse instance's event-loop delay (ms) since the previous scrape of /metrics. */
async function loopDelay(servers: Server[]): Promise<{ p99: number; max: number }> {
  const out = { p99: 0, max: 0 };
  for (const server of servers) {
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    for (const stat of ['p99', 'max'] as const) {
      const value = Number(new RegExp(`^salon_event_loop_delay_seconds\\{stat="${stat}"\\} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? 0) * 1000;
      out[stat] = Math.max(out[stat], Math.round(value));
    }
  }
  return out;
}

/** A --trace-gc line of any collection: its kind and its pause, the figure after the sizes' comma. */
const GC_LINE = /(Mark-Compact|Scavenge|Minor Mark-Sweep)[^,]*, ([0-9.]+) \/ [0-9.]+ ms/;

/** Pauses (ms) of the servers' collections, from --trace-gc lines ("… 12.3 / 0.0 ms …"). */
const gcPauses: number[] = [];

/**
 * A major collection of a server (or, without `port`, of a client process), from its --trace-gc
 * line: when its marking started and ended (epoch ms, as the line arrived) and what it took from
 * the main thread. V8 marks a large heap
 * incrementally, in steps on the main thread between tasks, and concurrently on its background
 * thread, then finishes in one pause; a message that a server handles meanwhile can wait behind
 * a step or the pause.
 */
interface MajorCollection {
  port: number;
  start: number;
  end: number;
  /** The steps' total and the final pause (ms of the main thread). */
  mainThreadMs: number;
  biggestStepMs: number;
  pauseMs: number;
}

/** Major collections of the servers, as their lines arrive; those of a window are picked by time. */
const majorCollections: MajorCollection[] = [];

/** The client processes' major collections, the same way. */
const clientCollections: Omit<MajorCollection, 'port'>[] = [];

/**
 * "… Mark-Compact 198.7 (309.6) -> 86.9 (208.6) MB, 19.58 / 0.01 ms  (+ 24.5 ms in 109 steps since
 * start of marking, biggest step 12.2 ms, walltime since start of marking 110 ms) (average mu = …)
 * finalize incremental marking via task; GC in old space requested". Not the bench's own full
 * collections before a memory reading (`gc()`: "testing").
 */
function majorCollection(line: string, arrived: number): Omit<MajorCollection, 'port'> | undefined {
  const head = GC_LINE.exec(line);
  if (head?.[1] !== 'Mark-Compact' || line.includes('testing')) return undefined;
  const pauseMs = Number(head[2]);
  const steps = /\(\+ ([0-9.]+) ms in \d+ steps since start of marking, biggest step ([0-9.]+) ms, walltime since start of marking ([0-9.]+) ms\)/.exec(line);
  const stepsMs = Number(steps?.[1] ?? 0);
  return {
    start: arrived - Number(steps?.[3] ?? 0) - pauseMs,
    end: arrived,
    mainThreadMs: stepsMs + pauseMs,
    biggestStepMs: Number(steps?.[2] ?? 0),
    pauseMs,
  };
}

/** Sum of a gauge over the API servers' /metrics. */
async function gauge(servers: Server[], name: string): Promise<number> {
  let total = 0;
  for (const server of servers) {
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    const match = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
    total += Number(match?.[1] ?? 0);
  }
  return total;
}

/**
 * How long a process's main thread has waited for a core while runnable (s, /proc/<pid>/schedstat):
 * for a server, time its event loop had work and no CPU to do it on.
 */
function runQueueSeconds(pid: number | undefined): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return undefined;
  }
}

/**
 * The machine's CPU so far: busy and total core-seconds (/proc/stat), and how long some task
 * waited for a core (s, /proc/pressure/cpu; undefined on a kernel without pressure stall information).
 */
function machineCpu(): { busy: number; total: number; waited: number | undefined } | undefined {
  let waited: number | undefined;
  try {
    const total = /^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1];
    waited = total === undefined ? undefined : Number(total) / 1e6;
  } catch {
    waited = undefined;
  }
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = ticks.map(Number) as number[];
    const busy = user! + nice! + system! + irq! + softirq! + steal!;
    return { busy: busy / USER_HZ, total: (busy + idle! + iowait!) / USER_HZ, waited };
  } catch {
    return undefined;
  }
}

/** Where the machine's CPU went during a measured window (s), to tell a slow server from a starved one. */
interface CpuWindow {
  seconds: number;
  servers: number[];
  /** How long each server's main thread waited for a core while runnable. */
  serversWaited: number[];
  clients: number;
  /** This process: the sender and the coordination. */
  sender: number;
  /** PostgreSQL's processes (the postmaster, its backends and background workers); undefined when none runs on this machine. */
  postgres: number | undefined;
  /** The Redis server; undefined when it runs elsewhere. */
  redis: number | undefined;
  /** Busy share of all cores (%). */
  machineBusy: number;
  /** Share of the window in which some runnable task waited for a core (%, PSI "some"; undefined without PSI). */
  pressure: number | undefined;
}

/** Starts counting CPU for a window; the returned function ends it (undefined off Linux). */
function cpuWindow(servers: ChildProcess[], clients: ChildProcess[]): () => CpuWindow | undefined {
  const read = () => ({
    at: performance.now(),
    servers: servers.map((child) => processCpuSeconds(child.pid)),
    serversWaited: servers.map((child) => runQueueSeconds(child.pid)),
    clients: clients.map((child) => processCpuSeconds(child.pid)),
    sender: process.cpuUsage(),
    postgres: commCpuSeconds('postgres'),
    redis: commCpuSeconds('redis-server'),
    machine: machineCpu(),
  });
  const start = read();
  return () => {
    const end = read();
    if (!start.machine || !end.machine) return undefined;
    const used = (a: (number | undefined)[], b: (number | undefined)[]) => b.map((value, i) => (value ?? NaN) - (a[i] ?? NaN));
    const sender = process.cpuUsage(start.sender);
    const seconds = (end.at - start.at) / 1000;
    return {
      seconds,
      servers: used(start.servers, end.servers),
      serversWaited: used(start.serversWaited, end.serversWaited),
      clients: used(start.clients, end.clients).reduce((sum, value) => sum + value, 0),
      sender: (sender.user + sender.system) / 1e6,
      postgres: end.postgres === undefined || start.postgres === undefined ? undefined : end.postgres - start.postgres,
      redis: end.redis === undefined || start.redis === undefined ? undefined : end.redis - start.redis,
      machineBusy: (100 * (end.machine.busy - start.machine.busy)) / (end.machine.total - start.machine.total),
      pressure:
        end.machine.waited === undefined || start.machine.waited === undefined ? undefined : (100 * (end.machine.waited - start.machine.waited)) / seconds,
    };
  };
}

interface Step {
  sockets: number;
  /** The API servers' event-loop delay over the measured window (ms, the worse instance). */
  loopDelay?: { p99: number; max: number };
  /** Each measured send request's duration (ms), sorted. */
  sendMs: number[];
  /** The longest garbage-collection pause of a server in the window (ms). */
  gcMaxMs?: number;
  /** The servers' major collections in the window, and the latencies (ms, sorted) of the messages in flight while one marked, and of the others. */
  gc?: {
    perServer: number[];
    mainThreadMs: number;
    biggestStepMs: number;
    longestPauseMs: number;
    during: number[];
    outside: number[];
    /** Major collections of the client processes in the window (all of them together). */
    clients: number;
  };
  /** Where the CPU went during the measured window (Linux). */
  cpu?: CpuWindow;
  /** Latency (ms) of each delivery in this step's measured window, sorted. */
  latencies: number[];
  sent: number;
  /** Sends that failed (no answer, or an error): their messages count as not delivered. */
  failedSends: number;
  /** Sends postJson sent again after their kept-alive connection was reset under them (delivered once). */
  resent: number;
  delivered: number;
  duplicates: number;
  /** The servers' RSS and heap (bytes, both summed) after a full GC, the step's sockets still connected and idle. */
  memory: Memory;
  heapPerSocketKb: number;
  connect?: { seconds: number; subscribed: number; failed: number };
  storm?: { seconds: number; sockets: number; resubscribed: number; failed: number; reconnects: number };
}

interface Memory {
  rss: number;
  heap: number;
}

interface Fixture {
  url: string;
  conversations: string[];
  tokens: string[];
  /** The token of the salon of conversation i is salonTokens[i % SALONS]. */
  salonTokens: string[];
}

async function runTarget(target: Target, fixture: Fixture): Promise<Step[]> {
  const servers: Server[] = [];
  if (target === 'api') {
    const started = await Promise.all(
      [0, 1].map(() =>
        startApi({ databaseUrl: fixture.url, env: { DATABASE_POOL_SIZE: String(POOL_SIZE), ...(TRACE ? { LOG_LOOP_STALLS_MS: '8' } : {}) }, nodeFlags: NODE_FLAGS, onLine: (line, child) => watchMemory(servers)(line, child) }),
      ),
    );
    for (const { child, port } of started) servers.push({ child, port, reported: 0 });
  } else {
    const ports = [await freePort(), await freePort()];
    for (const port of ports) {
      const env = { PORT: String(port), REDIS_URL, ...(target === 'durable' ? { FLOOR_DATABASE_URL: fixture.url, DATABASE_POOL_SIZE: String(POOL_SIZE) } : {}) };
      const child = startProcess('bench/floor-server.ts', { env, nodeFlags: NODE_FLAGS, onLine: (line, c) => watchMemory(servers)(line, c) });
      servers.push({ child, port, reported: 0 });
    }
    await Promise.all(ports.map((port) => waitForHttp(`http://127.0.0.1:${port}/`)));
  }
  const ports = servers.map((s) => s.port);
  const clients = Array.from({ length: CLIENT_PROCESSES }, startClientProcess);
  const subscriberList: Subscriber[] = fixture.conversations.map((conversationId, index) => ({ index, token: fixture.tokens[index]!, conversationId }));
  let connected = 0;

  /** Live subscriptions the servers hold beyond the baseline (API: the topic gauge; floor: sockets said ready). */
  let topicBaseline = 0;
  const waitLive = async (count: number, seconds: number) => {
    if (target !== 'api') return;
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline && (await gauge(servers, 'salon_live_topic_subscriptions')) - topicBaseline < count) await sleep(200);
  };

  /** Opens subscribers [connected, to) spread over the client processes at `perSecond` in all. */
  const connectUpTo = async (to: number, perSecond: number) => {
    const batch = subscriberList.slice(connected, to);
    const shares = clients.map((_, p) => batch.filter((_, i) => i % CLIENT_PROCESSES === p));
    const started = performance.now();
    const replies = await Promise.all(
      clients.map((client, p) => client.ask({ type: 'connect', target: target === 'api' ? 'api' : 'floor', ports, subscribers: shares[p]!, perSecond: perSecond / CLIENT_PROCESSES })),
    );
    await waitLive(to, 120);
    connected = to;
    const ok = replies.filter((r): r is Extract<FanoutReply, { type: 'connected' }> => r.type === 'connected');
    for (const reply of ok) for (const error of reply.errors) console.error(`  ${target} connect error: ${error}`);
    return {
      seconds: (performance.now() - started) / 1000,
      subscribed: ok.reduce((n, r) => n + r.subscribed, 0),
      failed: ok.reduce((n, r) => n + r.failed, 0),
    };
  };

  const closeAll = async () => {
    await Promise.all(clients.map((c) => c.ask({ type: 'close-all' })));
    connected = 0;
    if (target === 'api') {
      for (let i = 0; i < 300 && (await gauge(servers, 'salon_live_topic_subscriptions')) > topicBaseline; i++) await sleep(100);
    } else await sleep(1000);
  };

  const collect = async () => {
    const replies = await Promise.all(clients.map((c) => c.ask({ type: 'collect' })));
    return replies.filter((r): r is Extract<FanoutReply, { type: 'collected' }> => r.type === 'collected');
  };

  let messageNumber = 0;
  let failedSends = 0;
  /** How long each measured send request took (ms): the part of a latency spent before the delivery starts. */
  let sendTimes: number[] = [];
  /** Measured message n → the port it was sent to and how long its request took (ms), for BENCH_TRACE. */
  const sentTo = new Map<number, { at: number; port: number; sendMs: number }>();
  /** Measured message n → when its request started (epoch ms): which messages a major collection delayed. */
  const sentAt = new Map<number, number>();
  /** Sends `count` messages at RATE to the subscribers connected now; measured ones carry n ≥ 0. */
  const send = async (count: number, measured: boolean) => {
    const started = performance.now();
    const pending: Promise<void>[] = [];
    for (let k = 0; k < count; k++) {
      const due = started + (k * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const n = measured ? messageNumber++ : -1;
      // Conversation k of those connected; instance alternating every other message, so that
      // half the messages are sent on the instance their subscriber is not connected to.
      const index = k % connected;
      const port = ports[(k >> 1) & 1]!;
      const requested = performance.now();
      if (measured) sentAt.set(n, performance.timeOrigin + performance.now());
      pending.push(
        sendOne(target, port, fixture, index, n)
          .then(() => {
            if (!measured) return;
            const sendMs = performance.now() - requested;
            sendTimes.push(sendMs);
            if (TRACE) sentTo.set(n, { at: Date.now() - sendMs, port, sendMs });
          })
          .catch((error: unknown) => {
            if (measured) failedSends++;
            console.error(`  ${target} send failed:`, (error as Error).message);
          }),
      );
    }
    await Promise.all(pending);
  };

  /** Memory held per socket added: after a full GC before and after connecting `added` sockets. */
  const perSocket = (before: Memory, after: Memory, added: number) => ({
    memory: after,
    heapPerSocketKb: (after.heap - before.heap) / 1024 / added,
  });

  const measure = async (sockets: number, seconds: number): Promise<Omit<Step, 'memory' | 'heapPerSocketKb'>> => {
    await collect();
    // A scrape resets the servers' event-loop delay window: the one after the load reads the load's.
    if (target === 'api') await loopDelay(servers);
    gcPauses.length = 0;
    majorCollections.length = 0;
    clientCollections.length = 0;
    sentAt.clear();
    const windowStart = Date.now();
    sendTimes = [];
    failedSends = 0;
    const resentBefore = resentRequests();
    const firstMessage = messageNumber;
    const count = Math.round(seconds * RATE);
    const endCpu = cpuWindow(
      servers.map((server) => server.child),
      clients.map((client) => client.child),
    );
    await send(count, true);
    const cpu = endCpu();
    // Deliveries still in flight when the last send returned.
    let replies = await collect();
    const latencies = replies.flatMap((r) => r.latencies);
    const deliveries = replies.flatMap((r) => r.deliveries);
    for (let i = 0; i < 50 && deliveries.length < count; i++) {
      await sleep(200);
      replies = await collect();
      latencies.push(...replies.flatMap((r) => r.latencies));
      deliveries.push(...replies.flatMap((r) => r.deliveries));
    }
    const distinct = new Set(deliveries.filter((n) => n >= firstMessage));
    const windowEnd = Date.now();
    const ports = new Set(servers.map((server) => server.port));
    const collections = majorCollections.filter((c) => ports.has(c.port) && c.end >= windowStart && c.start <= windowEnd);
    const during: number[] = [];
    const outside: number[] = [];
    deliveries.forEach((n, i) => {
      const at = sentAt.get(n);
      if (at === undefined) return;
      const latency = latencies[i]!;
      (collections.some((c) => at <= c.end && at + latency >= c.start) ? during : outside).push(latency);
    });
    if (TRACE) {
      const rows = deliveries.map((n, i) => {
        const sent = sentTo.get(n);
        return `${n}\t${sent ? Math.round(sent.at) : ''}\t${sent?.port ?? ''}\t${sent?.sendMs.toFixed(1) ?? ''}\t${latencies[i]}`;
      });
      writeFileSync(join(TRACE, `${target}-${sockets}.tsv`), `n\tsent_at\tport\tsend_ms\tlatency_ms\n${rows.join('\n')}\n`);
    }
    const delay = target === 'api' ? await loopDelay(servers) : undefined;
    return {
      cpu,
      loopDelay: delay,
      sendMs: [...sendTimes].sort((a, b) => a - b),
      gcMaxMs: gcPauses.length ? Math.max(...gcPauses) : undefined,
      gc: {
        perServer: servers.map((server) => collections.filter((c) => c.port === server.port).length),
        mainThreadMs: collections.reduce((sum, c) => sum + c.mainThreadMs, 0),
        biggestStepMs: Math.max(0, ...collections.map((c) => c.biggestStepMs)),
        longestPauseMs: Math.max(0, ...collections.map((c) => c.pauseMs)),
        during: during.sort((a, b) => a - b),
        outside: outside.sort((a, b) => a - b),
        clients: clientCollections.filter((c) => c.end >= windowStart && c.start <= windowEnd).length,
      },
      sockets,
      latencies: latencies.sort((a, b) => a - b),
      sent: count,
      failedSends,
      resent: resentRequests() - resentBefore,
      delivered: distinct.size,
      duplicates: deliveries.length - distinct.size,
    };
  };

  const steps: Step[] = [];
  try {
    // Working size: a first round of messages, then all of its sockets closed. A small round: the
    // memory its sockets held is reused by the next ones rather than grown, as above.
    await connectUpTo(Math.min(WARMUP_SOCKETS, LARGEST), TOP_UP_PER_SECOND);
    await send(WARMUP, false);
    await sleep(1000);
    await closeAll();
    if (target === 'api') topicBaseline = await gauge(servers, 'salon_live_topic_subscriptions');
    // Every count's heap is measured against this one: the servers at working size, no socket.
    // (Against the previous count, as before, RSS could come out negative: memory freed by the
    // sockets of a closed round is reused by the next ones rather than grown.)
    const baseline = await stableMemory(servers);

    // Memory is read after each latency window, not before: the full collections it takes shrink
    // the heap, and the collections that follow as it grows back fell in the window.
    for (const count of COUNTS.slice(0, -1)) {
      const connect = await connectUpTo(count, TOP_UP_PER_SECOND);
      const step = await measure(count, STEP_SECONDS);
      const memory = perSocket(baseline, await stableMemory(servers), count);
      steps.push({ ...step, ...memory, connect });
      log(target, steps.at(-1)!);
    }

    // The largest count: from zero in one burst, then a reconnect storm, then the long run.
    await closeAll();
    const connect = await connectUpTo(LARGEST, LARGEST / BURST_SECONDS);
    if (target !== 'api') {
      // A bare relay's sockets do not reconnect by themselves: the floors have no storm.
      const step = await measure(LARGEST, SECONDS);
      steps.push({ ...step, ...perSocket(baseline, await stableMemory(servers), LARGEST), connect });
      log(target, steps.at(-1)!);
      return steps;
    }
    const stormStarted = performance.now();
    const before = await collect();
    const resets = await Promise.all(clients.map((c) => c.ask({ type: 'reset-all' })));
    const cut = resets.reduce((n, r) => n + (r.type === 'reset' ? r.sockets : 0), 0);
    let after = await collect();
    const deadline = Date.now() + 120_000;
    const reconnected = () => after.reduce((n, r) => n + r.reconnects, 0) - before.reduce((n, r) => n + r.reconnects, 0);
    while (Date.now() < deadline && reconnected() < cut) {
      await sleep(250);
      after = await collect();
    }
    await waitLive(LARGEST, 60);
    const storm = {
      seconds: (performance.now() - stormStarted) / 1000,
      sockets: cut,
      resubscribed: (await gauge(servers, 'salon_live_topic_subscriptions')) - topicBaseline,
      failed: after.reduce((n, r) => n + r.failed, 0) - before.reduce((n, r) => n + r.failed, 0),
      reconnects: reconnected(),
    };
    const step = await measure(LARGEST, SECONDS);
    steps.push({ ...step, ...perSocket(baseline, await stableMemory(servers), LARGEST), connect, storm });
    log(target, steps.at(-1)!);
  } finally {
    for (const client of clients) client.child.kill('SIGKILL');
    // Waited for: a server writes its CPU profile (BENCH_CPU_PROF) as it exits.
    await Promise.all(
      servers.map(({ child }) => (child.exitCode !== null ? undefined : new Promise((done) => child.once('exit', done).kill('SIGTERM')))),
    );
  }
  return steps;
}

async function sendOne(target: Target, port: number, fixture: Fixture, index: number, n: number): Promise<void> {
  // Epoch ms to the microsecond, not Date.now()'s whole ms: each process's performance.timeOrigin
  // is read from the same system clock, so the client process can subtract it from its own.
  const content = `${n}:${(performance.timeOrigin + performance.now()).toFixed(3)}`;
  if (target !== 'api') {
    const body = JSON.stringify({ conversationId: fixture.conversations[index], message: { id: randomUUID(), seq: n, content } });
    const { status, text } = await postJson(port, '/send', body);
    if (status >= 300) throw new Error(`HTTP ${status}: ${text.slice(0, 200)}`);
    return;
  }
  await graphqlPost(port, fixture.salonTokens[index % SALONS]!, SEND_MESSAGE, {
    input: { conversationId: fixture.conversations[index], content, clientMessageId: randomUUID() },
  });
}

const p = (sorted: number[], q: number) => percentile(sorted, q);
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** The CPU (s) of every process of a window: servers, client processes, sender, PostgreSQL and Redis (those seen on this machine). */
const processesCpu = (cpu: CpuWindow) =>
  cpu.servers.reduce((sum, value) => sum + value, 0) + cpu.clients + cpu.sender + (cpu.postgres ?? 0) + (cpu.redis ?? 0);
/** A service's CPU in a window's sentence. */
const serviceCpu = (name: string, seconds: number | undefined) => (seconds === undefined ? `${name} not seen on this machine (not counted)` : `${name} ${round(seconds)} s`);

/**
 * A window's CPU as a sentence: seconds of CPU each part used, what they spent together a message
 * sent, and how busy and contended the machine was. Each part is its processes' own run time; the
 * machine's busy share is /proc/stat's, counted at the kernel's ticks. The two do not add up (one
 * window's processes came to more than the machine's busy time), so neither is subtracted from
 * the other.
 */
function describeCpu(cpu: CpuWindow, messages: number): string {
  return (
    `CPU over the ${round(cpu.seconds, 0)} s: servers ${cpu.servers.map((value) => round(value)).join(' s and ')} s ` +
    `(their main threads waited ${cpu.serversWaited.map((value) => round(value)).join(' s and ')} s for a core while runnable), ` +
    `client processes ${round(cpu.clients)} s, sender ${round(cpu.sender)} s, ${serviceCpu('PostgreSQL', cpu.postgres)}, ${serviceCpu('Redis', cpu.redis)} ` +
    `(together ${round((1000 * processesCpu(cpu)) / messages, 2)} ms of CPU a message sent); machine ${round(cpu.machineBusy, 0)} % busy ` +
    `(${cpus().length} cores)` +
    (cpu.pressure === undefined ? '' : `, some task waiting for a core ${round(cpu.pressure, 0)} % of the time`)
  );
}

/**
 * A window's major collections as a sentence: how many each server ran, what they took from the
 * main threads, and the latency of the messages in flight while one marked against the others'.
 */
function describeGc(step: Step): string {
  const gc = step.gc;
  if (!gc) return '';
  const total = gc.perServer.reduce((a, b) => a + b, 0);
  const clients = `; the client processes' major collections in it: ${gc.clients}`;
  if (total === 0) return `no major collection of a server in the window${clients}`;
  return (
    `major collections in the window: ${gc.perServer.join(' and ')} (main threads ${round(gc.mainThreadMs, 0)} ms in marking steps and pauses, ` +
    `biggest step ${round(gc.biggestStepMs)} ms, longest pause ${round(gc.longestPauseMs)} ms); ` +
    `${gc.during.length.toLocaleString('en')} messages in flight while one marked (p99 ${gc.during.length ? p(gc.during, 99) : '-'} ms), ` +
    `the other ${gc.outside.length.toLocaleString('en')} p99 ${gc.outside.length ? p(gc.outside, 99) : '-'} ms${clients}`
  );
}

function log(target: Target, step: Step) {
  const l = step.latencies;
  console.log(
    `${target} ${step.sockets} sockets: p50 ${p(l, 50)} ms, p95 ${p(l, 95)}, p99 ${p(l, 99)}, max ${l.at(-1)}; ` +
      `delivered ${step.delivered}/${step.sent} (${step.duplicates} duplicates; ${step.failedSends} sends failed, ${step.resent} resent); ` +
      `RSS ${round(step.memory.rss / 1048576)} MB, heap ${round(step.heapPerSocketKb)} KB/socket` +
      `; send request p50 ${round(p(step.sendMs, 50))} ms, p99 ${round(p(step.sendMs, 99))}` +
      (step.loopDelay ? `; event loop delay p99 ${step.loopDelay.p99} ms, max ${step.loopDelay.max}` : '') +
      (step.gcMaxMs !== undefined ? `; longest GC pause ${round(step.gcMaxMs)} ms` : '') +
      (step.gc ? `; ${describeGc(step)}` : '') +
      (step.cpu ? `; ${describeCpu(step.cpu, step.sent)}` : '') +
      (step.connect ? `; connect ${step.connect.subscribed} ok, ${step.connect.failed} failed in ${round(step.connect.seconds)} s` : '') +
      (step.storm ? `; storm: ${step.storm.sockets} cut, ${step.storm.reconnects} reconnected, ${step.storm.resubscribed} resubscribed, ${step.storm.failed} failed in ${round(step.storm.seconds)} s` : ''),
  );
}

/** The slope below as the report states it: a slope needs two socket counts or more (`--sockets 1000,2000`). */
const rssKb = (steps: Step[]) => (steps.length < 2 ? 'no RSS figure (it needs two socket counts)' : `${round(rssSlopeKb(steps))} KB of RSS`);

/** KB of RSS per socket: the least-squares slope of the servers' RSS against the sockets connected, over the steps. */
function rssSlopeKb(steps: Step[]): number {
  const xs = steps.map((s) => s.sockets);
  const ys = steps.map((s) => s.memory.rss / 1024);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const sxx = xs.reduce((sum, x) => sum + (x - mx) ** 2, 0);
  return sxx === 0 ? NaN : xs.reduce((sum, x, i) => sum + (x - mx) * (ys[i]! - my), 0) / sxx;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
};

function report(api: Step[], floor: Step[] | null, durable: Step[] | null, stamp: { markdown: string; caption: string }) {
  const lines: string[] = [];
  lines.push(stamp.markdown);
  lines.push(
    `Two API instances, then the floor's two relays${durable ? " and the durable floor's two" : ''}, in turn, on the same machine; ${CLIENT_PROCESSES} client processes hold the sockets;`,
    `${SALONS} salons send ${RATE} messages/s in all over HTTP, each to its clients (${STEP_SECONDS} s per step, ${SECONDS} s at ${LARGEST}); latency from the sender starting`,
    'the request to the subscriber receiving the message. Floor: a bare `ws` relay over the same Redis (no GraphQL, no auth, no database).',
    ...(durable ? ['Durable floor: the same relay, storing each message with one INSERT in the same PostgreSQL (autocommit) before it publishes it.'] : []),
    `Each server process runs with \`--v8-pool-size=${V8_POOL_SIZE}\`${V8_POOL_SIZE === 1 ? ' (one V8 background thread; see the README on several instances per machine)' : ''}, after ${WARMUP.toLocaleString('en')} warm-up messages.`,
    `The client processes run with \`${CLIENT_NODE_FLAGS.join(' ')}\`. Latencies to 0.1 ms (epoch time from performance.timeOrigin and performance.now() in each process).`,
    '',
  );
  lines.push(
    '| sockets | ours p50 | ours p95 | ours p99 | floor p50 | floor p99 | p99 ours/floor | durable floor p50 | durable floor p99 | p99 ours/durable floor | delivered (ours) | duplicates | RSS (MB, both servers) | heap KB/socket |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  /** A reference's p50 and p99 cells and our p99 as a multiple of its. */
  const against = (step: Step, reference: Step | undefined) => {
    if (!reference) return '- | - | -';
    const ratio = round(p(step.latencies, 99) / Math.max(0.1, p(reference.latencies, 99)), 2);
    return `${p(reference.latencies, 50)} ms | ${p(reference.latencies, 99)} ms | ${ratio}×`;
  };
  api.forEach((step, i) => {
    lines.push(
      `| ${step.sockets.toLocaleString('en')} | ${p(step.latencies, 50)} ms | ${p(step.latencies, 95)} ms | ${p(step.latencies, 99)} ms | ` +
        `${against(step, floor?.[i])} | ${against(step, durable?.[i])} | ` +
        `${step.delivered}/${step.sent} | ${step.duplicates} | ${Math.round(step.memory.rss / 1048576)} | ${round(step.heapPerSocketKb)} |`,
    );
  });
  const last = api.at(-1)!;
  // What the run's processes spent a message: the load the servers' tails queue behind (see describeCpu).
  const perMessage = (step: Step | undefined) => (step?.cpu ? `${round((1000 * processesCpu(step.cpu)) / step.sent, 2)} ms` : '-');
  if (last.cpu) {
    lines.push('');
    lines.push(
      'CPU a message sent, of the servers, the client processes, the sender, PostgreSQL and Redis together (over the measured window), ours / floor / durable floor: ' +
        api.map((step, i) => `${step.sockets.toLocaleString('en')} sockets ${perMessage(step)} / ${perMessage(floor?.[i])} / ${perMessage(durable?.[i])}`).join('; ') +
        '.',
    );
  }
  const sum = (steps: Step[] | null, key: 'failedSends' | 'resent') => steps?.reduce((n, step) => n + step[key], 0) ?? 0;
  lines.push('');
  lines.push(
    `Sends that failed (no answer; their messages count as not delivered): ours ${sum(api, 'failedSends')}, floor ${sum(floor, 'failedSends')}, ` +
      `durable floor ${sum(durable, 'failedSends')}. Sent again on another connection after a kept-alive one was reset as they left ` +
      `(\`postJson\` in bench/support.ts): ours ${sum(api, 'resent')}, floor ${sum(floor, 'resent')}, durable floor ${sum(durable, 'resent')}.`,
    '',
  );
  lines.push(
    `Memory per idle subscribed socket (API), above the servers at working size with no socket, after a full GC (median of ` +
      `${MEMORY_SAMPLES} samples): **${round(median(api.map((s) => s.heapPerSocketKb)))} KB of JS heap** (median over the counts) and ` +
      `**${rssKb(api)}** (the slope of RSS against sockets over the counts, least squares: RSS moves by tens of MB ` +
      `with no socket added, so a difference from one baseline can come out at any value, negative too)` +
      (floor ? `; floor: ${round(median(floor.map((s) => s.heapPerSocketKb)))} KB heap, ${rssKb(floor)}.` : '.'),
    '',
    'Where the latency goes (API): ' +
      api
        .map(
          (s) =>
            `${s.sockets.toLocaleString('en')} sockets: send request p99 ${round(p(s.sendMs, 99))} ms, event loop delay max ${s.loopDelay?.max ?? '-'} ms` +
            (s.gc ? `; ${describeGc(s)}` : '') +
            (s.cpu ? `; ${describeCpu(s.cpu, s.sent)}` : ''),
        )
        .join('. ') +
      '.' +
      (floor?.at(-1)?.cpu ? ` Floor, ${LARGEST.toLocaleString('en')} sockets: ${describeGc(floor.at(-1)!)}; ${describeCpu(floor.at(-1)!.cpu!, floor.at(-1)!.sent)}.` : '') +
      (durable?.at(-1)?.cpu ? ` Durable floor, ${LARGEST.toLocaleString('en')} sockets: ${describeGc(durable.at(-1)!)}; ${describeCpu(durable.at(-1)!.cpu!, durable.at(-1)!.sent)}.` : ''),
  );
  if (last.connect) {
    lines.push(
      '',
      `Burst: ${last.connect.subscribed.toLocaleString('en')} of ${LARGEST.toLocaleString('en')} sockets acknowledged, ${last.connect.failed} failed, ` +
        `all subscriptions live ${round(last.connect.seconds)} s after the first connection (paced over ${BURST_SECONDS} s).`,
    );
  }
  if (last.storm) {
    lines.push(
      `Reconnect storm: ${last.storm.sockets.toLocaleString('en')} sockets cut at once; ${last.storm.reconnects.toLocaleString('en')} reconnected ` +
        `(graphql-ws backoff), ${last.storm.resubscribed.toLocaleString('en')} subscriptions live again, ${last.storm.failed} failed, in ${round(last.storm.seconds)} s.`,
    );
  }
  lines.push('', '![p50 and p99 against sockets; latency distribution at the largest count](fanout.svg)', '');
  const svg = svgPlot(
    [
      {
        title: 'Send → deliver latency by subscribed sockets',
        xLabel: 'subscribed sockets (two instances)',
        yLabel: 'ms',
        logX: true,
        logY: true,
        series: [
          { name: 'ours p99', color: '#c0392b', points: api.map((s) => ({ x: s.sockets, y: p(s.latencies, 99) })) },
          { name: 'ours p50', color: '#e67e22', points: api.map((s) => ({ x: s.sockets, y: p(s.latencies, 50) })) },
          ...(floor
            ? [
                { name: 'floor p99', color: '#2c3e50', dashed: true, points: floor.map((s) => ({ x: s.sockets, y: p(s.latencies, 99) })) },
                { name: 'floor p50', color: '#7f8c8d', dashed: true, points: floor.map((s) => ({ x: s.sockets, y: p(s.latencies, 50) })) },
              ]
            : []),
          ...(durable
            ? [{ name: 'durable floor p99', color: '#27ae60', dashed: true, points: durable.map((s) => ({ x: s.sockets, y: p(s.latencies, 99) })) }]
            : []),
        ],
      },
      {
        title: `Latency distribution at ${LARGEST.toLocaleString('en')} sockets`,
        xLabel: 'ms (log)',
        yLabel: '% of deliveries at or below',
        logX: true,
        series: [
          { name: 'ours', color: '#c0392b', points: cumulative(last.latencies) },
          ...(floor ? [{ name: 'floor', color: '#2c3e50', dashed: true, points: cumulative(floor.at(-1)!.latencies) }] : []),
          ...(durable ? [{ name: 'durable floor', color: '#27ae60', dashed: true, points: cumulative(durable.at(-1)!.latencies) }] : []),
        ],
      },
    ],
    stamp.caption,
  );
  return { markdown: lines.join('\n') + '\n', svg };
}

const database = await createDatabase(async (url) => {
  await migrateDatabase(url);
  await createFloorTable(url);
});
const perSalon = Math.ceil(LARGEST / SALONS);
const salons: Salon[] = [];
for (let i = 0; i < SALONS; i++) salons.push(await seedSalon(database.url, perSalon, `bench-salon-${i}@example.test`));
// Interleaved, so that every count of sockets has clients of every salon.
const order = Array.from({ length: perSalon * SALONS }, (_, i) => ({ salon: salons[i % SALONS]!, n: Math.floor(i / SALONS) })).slice(0, LARGEST);
const fixture: Fixture = {
  url: database.url,
  conversations: order.map(({ salon, n }) => salon.conversations[n]!),
  tokens: await Promise.all(order.map(({ salon, n }) => signToken(salon.clients[n]!, 'client'))),
  salonTokens: await Promise.all(salons.map((salon) => signToken(salon.salonId, 'salon'))),
};
try {
  const stamp = {
    markdown: resultsStamp({ title: 'Fan-out: subscribed sockets, send → deliver latency and memory', command: commandLine(), database, coldMemory: COLD_MEMORY }),
    caption: `${describeMachine()}, PostgreSQL ${database.postgres}, commit ${describeCommit()}, ${new Date().toISOString().slice(0, 16)} UTC`,
  };
  console.log(`fanout: ${COUNTS.join(', ')} sockets (clients of ${SALONS} salons) on 2 instances, ${RATE} msg/s; ${stamp.caption}`);
  console.log(`memory gone cold: ${COLD_MEMORY}`);
  const api = await runTarget('api', fixture);
  const floor = values['no-floor'] ? null : await runTarget('floor', fixture);
  const durable = values['no-floor'] || values['no-durable-floor'] ? null : await runTarget('durable', fixture);
  const { markdown, svg } = report(api, floor, durable, stamp);
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'fanout.md'), markdown);
  writeFileSync(join(values.out, 'fanout.svg'), svg);
  console.log(markdown);
  console.log(`written: ${join(values.out, 'fanout.md')}, fanout.svg`);
} finally {
  killProcesses();
  await database.drop();
  process.exit(0);
}
