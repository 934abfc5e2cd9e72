/**
 * What the benches share: the services they run against, a throwaway database with its salon,
 * API server processes, tokens, and the lines that tell a reader what produced a figure.
 * Each bench keeps its own load and its own summary.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import pg from 'pg';
import { freePort } from '../src/ports.js';
import type { FanoutCommand, FanoutReply, Subscriber } from './fanout-clients.js';

export { freePort };

/** The checkout these files belong to: the code measured unless a bench is told otherwise. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const JWT_SECRET = 'bench-secret-that-is-at-least-32-characters';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Creates the durable floor's table in a bench database (bench/floor-server.ts writes one row per message). */
export async function createFloorTable(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`
    CREATE TABLE floor_message (
      id uuid PRIMARY KEY,
      conversation_id uuid NOT NULL,
      seq integer NOT NULL,
      content text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )`);
  await client.end();
}

/** The mutation every bench sends messages with. */
export const SEND_MESSAGE = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }';

const keptAlive = new Agent({ keepAlive: true, maxSockets: 256 });

let resent = 0;

/** How many requests postJson has sent again because their kept-alive connection was closed under them. */
export const resentRequests = () => resent;

/**
 * POSTs a JSON body to a local port over a kept-alive connection and resolves with the answer's
 * status and text. node:http rather than fetch: the sender shares the machine with the servers it
 * measures. Through fetch, bench:fanout's sender used 8.7 s of CPU a minute at 10,000 sockets
 * (1.45 ms a send, more than both client processes), 5 s through node:http; in a loop against a
 * bare local server, fetch took about four times the CPU per request.
 *
 * A request that went out on a reused connection and met a reset or a hang-up before any answer
 * is sent again (up to three attempts: each may draw another stale connection): the server most
 * likely closed that connection as idle (Node's `keepAliveTimeout`) as the request left, without
 * reading it — the race Node's documentation of `request.reusedSocket` describes, with this
 * remedy. bench:fanout lost two of its 11,000 sends to our servers to it in one run (counted as
 * undelivered messages). Should the request have been read after all (the server failing in the
 * middle of it), it arrives twice: bench:fanout's API sends carry a `clientMessageId`, and the
 * durable floor ignores a message id it has stored; the bare floor and bench:send's sends would
 * deliver or store it twice. A write to a closed connection (EPIPE) is not sent again.
 */
export function postJson(port: number, path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return postAttempt(port, path, body, headers, 1);
}

function postAttempt(port: number, path: string, body: string, headers: Record<string, string>, attempt: number): Promise<{ status: number; text: string }> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent: keptAlive,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', fail);
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      // A hang-up ("socket hang up") is an ECONNRESET too.
      if (req.reusedSocket && error.code === 'ECONNRESET' && attempt < 3) {
        resent++;
        postAttempt(port, path, body, headers, attempt + 1).then(done, fail);
      } else fail(error);
    });
    req.end(body);
  });
}

/** One GraphQL POST to the API on `port` as `bearer`; rejects on an HTTP error or a GraphQL error, else resolves with the answer's text. */
export async function graphqlPost(port: number, bearer: string, query: string, variables: Record<string, unknown>, operationName?: string): Promise<string> {
  const { status, text } = await postJson(port, '/graphql', JSON.stringify({ query, variables, operationName }), { authorization: `Bearer ${bearer}` });
  if (status !== 200) throw new Error(`HTTP ${status}: ${text.slice(0, 200)}`);
  const parsed = JSON.parse(text) as { errors?: { message: string; extensions?: { code?: string } }[] };
  if (parsed.errors?.length) throw new Error(`GraphQL ${parsed.errors.map((e) => `${e.extensions?.code ?? ''} ${e.message}`).join('; ')}`);
  return text;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux whatever the kernel's HZ). */
export const USER_HZ = 100;

/** CPU seconds a process has used so far (user + system), from /proc; undefined off Linux or once it has gone. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used so far by every process named `comm` (utime and stime from /proc), with what
 * they reaped of their exited children (cutime and cstime): PostgreSQL's postmaster reaps its
 * backends, so a backend that ended within a window still counts. Undefined off Linux, and when
 * no such process runs on this machine (a PostgreSQL or Redis elsewhere).
 */
export function commCpuSeconds(comm: string): number | undefined {
  const processes = () => readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  let entries: string[];
  try {
    entries = processes();
  } catch {
    return undefined;
  }
  // A child that exits during the scan, after its parent was read and before its own entry, is in
  // neither (its parent reaps it later): its whole life's CPU would drop out. Scan again then.
  for (let attempt = 1; ; attempt++) {
    let ticks = 0;
    let found = false;
    let vanished = false;
    for (const entry of entries) {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        // The name sits in parentheses and may hold spaces; fields 14–17 follow it.
        if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== comm) continue;
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
        found = true;
      } catch (error) {
        // A process that ended between the listing and the read; anything else is a real failure.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && (error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
        vanished = true;
      }
    }
    if (!vanished || attempt === 5) return found ? ticks / USER_HZ : undefined;
    entries = processes();
  }
}

/**
 * CPU seconds a process has used, summed over its threads' schedstat (nanoseconds; /proc's
 * utime and stime count in ticks of 10 ms, too coarse for a few milliseconds a second). Linux only.
 */
export function threadCpuSeconds(pid: number | undefined): number {
  // A ChildProcess has no pid when it could not be spawned.
  if (pid === undefined) throw new Error('threadCpuSeconds: the process has no pid (it was not spawned)');
  let nanoseconds = 0;
  // A thread that ends between two readings takes its CPU with it: Node's threads (the loop, V8's
  // pool, libuv's) live as long as the process, so a window loses little.
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanoseconds += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch (error) {
      // A thread that ended between the listing and the read; anything else is a real failure.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && (error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
  return nanoseconds / 1e9;
}

/**
 * Calls `send(k)` `rate` times a second for `seconds`, each on its schedule whatever the answers
 * before it, and waits for every answer. Returns each answer's time from its own start (ms, sorted)
 * and the seconds from the first send to the last answer.
 */
export async function sendAtRate(rate: number, seconds: number, send: (k: number) => Promise<unknown>): Promise<{ answers: number[]; seconds: number }> {
  const started = performance.now();
  const answers: number[] = [];
  const pending: Promise<void>[] = [];
  for (let k = 0; k < seconds * rate; k++) {
    const wait = started + (k * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    const sent = performance.now();
    pending.push(send(k).then(() => void answers.push(performance.now() - sent)));
  }
  await Promise.all(pending);
  answers.sort((a, b) => a - b);
  return { answers, seconds: (performance.now() - started) / 1000 };
}

/** The value below which p % of a sorted sample lies (nearest rank); NaN for an empty sample. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** The machine a figure was measured on, as each bench prints it: CPUs, memory, Node. */
export function describeMachine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}${cpuFamily()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/**
 * " (family F, model M)" from /proc/cpuinfo, or nothing off Linux: machine classes that name their
 * CPUs alike ("AMD EPYC") and measure unlike tell apart by it (see bench/results/fanout-history.md).
 */
function cpuFamily(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const family = /^cpu family\s*:\s*(\d+)/m.exec(info)?.[1];
    const model = /^model\s*:\s*(\d+)/m.exec(info)?.[1];
    return family ? ` (family ${family}${model ? `, model ${model}` : ''})` : '';
  } catch {
    return '';
  }
}

/** A token the API accepts (signed with JWT_SECRET), for a user id and role. */
export function signToken(sub: string, role: string): Promise<string> {
  return new SignJWT({ role, email: `${sub}@example.test` })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(JWT_SECRET));
}

/** Resolves once `url` answers at all; every 100 ms, `attempts` times, then throws. */
export async function waitForHttp(url: string, attempts = 300): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    try {
      await fetch(url);
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`${url} did not come up`);
}

/** PostgreSQL settings a results file names (see createDatabase). */
const SETTINGS = ['autovacuum', 'fsync', 'synchronous_commit', 'shared_buffers'];

export interface BenchDatabase {
  url: string;
  /** PostgreSQL's server_version, e.g. "17.2". */
  postgres: string;
  /** The server's settings that move a write's cost, e.g. "autovacuum off, fsync on, …". */
  settings: string;
  drop(): Promise<void>;
}

/**
 * A new database on ADMIN_URL's server, built by `migrate` (a bench measuring another checkout
 * passes that checkout's migrations); dropped again if `migrate` fails, else by `drop()`.
 */
export async function createDatabase(migrate: (url: string) => Promise<unknown>): Promise<BenchDatabase> {
  const name = `salon_bench_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const postgres = ((await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? '?').split(' ')[0]!;
  // A machine's PostgreSQL is configured by whoever set it up: a run elsewhere may differ in these.
  const { rows } = await admin.query<{ name: string; value: string }>(
    `SELECT name, current_setting(name) AS value FROM pg_settings WHERE name = ANY($1) ORDER BY array_position($1, name)`,
    [SETTINGS],
  );
  const settings = rows.map((row) => `${row.name} ${row.value}`).join(', ');
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const drop = async () => {
    const client = new pg.Client({ connectionString: ADMIN_URL });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await client.end();
  };
  try {
    await migrate(url.toString());
  } catch (error) {
    await drop();
    throw error;
  }
  return { url: url.toString(), postgres, settings, drop };
}

export interface Salon {
  salonId: string;
  /** One client user per conversation, in the same order. */
  clients: string[];
  conversations: string[];
}

/** One salon and `count` clients, each with one conversation with it, written in three statements. */
export async function seedSalon(url: string, count: number, email = 'bench-salon@example.test'): Promise<Salon> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const salonId = randomUUID();
  const clients = Array.from({ length: count }, () => randomUUID());
  const conversations = Array.from({ length: count }, () => randomUUID());
  await db.query(`INSERT INTO "User" (id, email, "firstName", "lastName", role, "updatedAt") VALUES ($1, $2, 'Bench', 'Salon', 'SALON', now())`, [salonId, email]);
  await db.query(
    `INSERT INTO "User" (id, email, "firstName", "lastName", role, "updatedAt")
     SELECT id, 'bench-' || id || '@example.test', 'Client', 'Bench', 'CLIENT', now() FROM unnest($1::uuid[]) AS id`,
    [clients],
  );
  await db.query(
    `INSERT INTO "Conversation" (id, "salonId", "clientUserId", subject, "updatedAt")
     SELECT c, $1, u, 'Bench', now() FROM unnest($2::uuid[], $3::uuid[]) AS t(c, u)`,
    [salonId, conversations, clients],
  );
  await db.end();
  return { salonId, clients, conversations };
}

export interface ProcessOptions {
  /** Directory the process runs in; relative scripts are found from it. */
  cwd?: string;
  /** Added to this process's environment. */
  env: Record<string, string>;
  /** Node flags before `--import tsx` (or before the script). */
  nodeFlags?: string[];
  /** A JavaScript file run by node itself, without the tsx loader. */
  plain?: boolean;
  /** Each line the process writes to stdout; without it, stdout goes to this terminal. */
  onLine?: (line: string, child: ChildProcess) => void;
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

const processes: ChildProcess[] = [];

/** `node --import tsx <script>` (or `node <script>`), remembered so that killProcesses() can end it whatever happens. */
export function startProcess(script: string, options: ProcessOptions): ChildProcess {
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), ...(options.plain ? [] : ['--import', 'tsx']), script], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', options.onLine ? 'pipe' : 'inherit', 'inherit'],
  });
  const { onLine } = options;
  if (onLine) createInterface({ input: child.stdout! }).on('line', (line) => onLine(line, child));
  if (options.onExit) child.on('exit', options.onExit);
  processes.push(child);
  return child;
}

/** SIGKILL to every started process still running: for a bench's `finally`, after the figures. */
export function killProcesses(): void {
  for (const child of processes) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** SIGTERM to every started process still running; resolves once all have exited. */
export async function stopProcesses(): Promise<void> {
  await Promise.all(
    processes.map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
        }),
    ),
  );
}

export interface ApiOptions extends Omit<ProcessOptions, 'env' | 'cwd'> {
  databaseUrl: string;
  /** Where it listens; a free port when not given. */
  port?: number;
  /** The checkout whose server runs (built first), from its own directory (its node_modules, its Prisma client). */
  root?: string;
  /** Variables beyond those every bench sets (DATABASE_POOL_SIZE, …). */
  env?: Record<string, string>;
}

/** Checkouts already built by startApi in this run. */
const built = new Set<string>();

/**
 * The server script of a checkout as it is deployed: `npm run build`, then `node dist/server.js`
 * (the Dockerfile's command); a checkout older than the build step ran `node --import tsx src/server.ts`.
 */
function serverScript(root: string): { script: string; plain: boolean } {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
  if (!scripts.build) return { script: join(root, 'src/server.ts'), plain: false };
  if (!built.has(root)) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
    built.add(root);
  }
  return { script: join(root, 'dist/server.js'), plain: true };
}

/**
 * The API exactly as deployed (`node dist/server.js` after `npm run build`) on a free port, in production
 * mode with warnings only and no send rate limit, since the benches measure the server, not its
 * limiter. Resolves once /health answers.
 */
export async function startApi(options: ApiOptions): Promise<{ child: ChildProcess; port: number }> {
  const root = options.root ?? REPO_ROOT;
  const port = options.port ?? (await freePort());
  const { script, plain } = serverScript(root);
  const child = startProcess(script, {
    plain,
    nodeFlags: options.nodeFlags,
    onLine: options.onLine,
    onExit: options.onExit,
    cwd: root,
    env: {
      PORT: String(port),
      DATABASE_URL: options.databaseUrl,
      REDIS_URL,
      JWT_SECRET,
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      RATE_LIMIT_SENDS_PER_MIN: '0',
      ...options.env,
    },
  });
  // A server that exits while starting (a checkout without its dependencies, a bad setting) fails
  // the bench at once, not after waitForHttp's thirty seconds.
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) => reject(new Error(`the API server exited while starting (${signal ?? `code ${code}`}); its output is above`))),
  );
  exited.catch(() => undefined);
  await Promise.race([waitForHttp(`http://127.0.0.1:${port}/health`), exited]);
  return { child, port };
}

/** Each client user of a seeded salon as a subscriber of bench/fanout-clients.ts (socket i follows conversation i). */
export async function salonSubscribers(salon: Salon): Promise<Subscriber[]> {
  const tokens = await Promise.all(salon.clients.map((client) => signToken(client, 'client')));
  return salon.conversations.map((conversationId, index) => ({ index, token: tokens[index]!, conversationId }));
}

/** bench/fanout-clients.ts in a process of its own (its sockets off the measured event loops), driven over IPC. */
export function startClients(nodeFlags: string[] = []): ChildProcess {
  return spawn(process.execPath, [...nodeFlags, '--import', 'tsx', join(REPO_ROOT, 'bench/fanout-clients.ts')], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Connects `subscribers` to the API instance on `port` from a client process; throws unless all are live. */
export async function connectSubscribers(clients: ChildProcess, port: number, subscribers: Subscriber[]): Promise<void> {
  const connected = await new Promise<FanoutReply>((resolve) => {
    clients.once('message', resolve);
    clients.send({ type: 'connect', target: 'api', ports: [port], subscribers, perSecond: 500 } satisfies FanoutCommand);
  });
  if (connected.type !== 'connected' || connected.failed > 0) throw new Error(`subscribers failed: ${JSON.stringify(connected)}`);
}

/** process.memoryUsage() from a server's `memory report` log line (SIGUSR2; a full GC first under --expose-gc). */
export function memoryReport(line: string): NodeJS.MemoryUsage | undefined {
  return line.includes('"memory report"') ? (JSON.parse(line) as { memory: NodeJS.MemoryUsage }).memory : undefined;
}

/** The commit of `root` as a figure's reader needs it: short hash, plus " dirty" when its tree has edits (bench/results/ aside). */
export function describeCommit(root: string = REPO_ROOT): string {
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }).trim();
    // The results a run is about to overwrite do not make the code measured dirty.
    const dirty = git('status', '--porcelain', '--', '.', ':(exclude)bench/results') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' dirty' : ''}`;
  } catch {
    return 'not a git checkout';
  }
}

/** The load average when this bench process started. */
const startLoad = loadavg();

/**
 * The stamp every results file starts with: what ran (the exact command), on what (machine,
 * Node, PostgreSQL), which code (the commit, "dirty" with edits) and when. Markdown.
 */
export function resultsStamp(options: {
  title: string;
  command: string;
  /** The server the run used: its version and the settings that move a write's cost. */
  database: Pick<BenchDatabase, 'postgres' | 'settings'>;
  root?: string;
  coldMemory?: string;
}): string {
  const root = options.root ?? REPO_ROOT;
  return [
    `# ${options.title}`,
    '',
    `- Command: \`${options.command}\``,
    `- Machine: ${describeMachine()}`,
    `- PostgreSQL ${options.database.postgres} (${options.database.settings}), Node ${process.version}`,
    `- Code measured: ${root === REPO_ROOT ? '' : `${root} at `}commit ${describeCommit(root)}`,
    `- Date: ${new Date().toISOString()}`,
    // Other work on the machine moves every figure: a reader should know how quiet it was.
    `- Load average when the run started (1, 5, 15 min): ${startLoad.map((n) => n.toFixed(2)).join(', ')}`,
    // What most tells the machine classes apart on this workload (bench/cold-memory.ts).
    ...(options.coldMemory ? [`- Memory gone cold, measured before the servers started: ${options.coldMemory}`] : []),
    '',
  ].join('\n');
}

/** Writes `markdown` to bench/results/<file> (creating the folder) and returns the path. */
export function writeResults(file: string, markdown: string): string {
  const path = join(REPO_ROOT, 'bench', 'results', file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
  return path;
}

/** The command line that started this bench, as a reader would type it again (`npm run …` when npm started it). */
export function commandLine(): string {
  const args = process.argv.slice(2).join(' ');
  const script = process.env.npm_lifecycle_event;
  const command = script && script !== 'npx' ? `npm run ${script}${args ? ` -- ${args}` : ''}` : `npx tsx ${relative(process.cwd(), process.argv[1] ?? '')} ${args}`.trimEnd();
  return [...settingsInEnvironment(), command].join(' ');
}

/**
 * The variables of this environment that change what a bench measures, as `NAME=value`: the
 * servers' own (every name in .env.example; the benches' servers inherit this environment) and
 * the benches' (BENCH_*). A run made with `WS_PING_INTERVAL_MS=600000 npm run bench:fanout` is
 * stamped so; a value that may hold a secret or credentials is withheld (`NAME=…`).
 */
function settingsInEnvironment(): string[] {
  const example = readFileSync(join(REPO_ROOT, '.env.example'), 'utf8');
  const names = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]!));
  return Object.keys(process.env)
    .filter((name) => names.has(name) || name.startsWith('BENCH_'))
    .sort()
    .map((name) => (/SECRET|PASSWORD|KEY|TOKEN|URL|NODES/.test(name) ? `${name}=…` : `${name}=${process.env[name]}`));
}
