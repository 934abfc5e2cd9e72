/**
 * `npm run bench:send -- [--senders 16,64] [--seconds 6] [--rounds 3] [--warmup 1] [--pool 10] [--root <checkout>]
 *                        [--shapes one-salon,many-salons,one-conversation] [--inbox-conversations 1000] [--inbox-messages 100000]
 *                        [--inbox-requests 300] [--out write-path.md]`
 *
 * The write path against its floor, in one run:
 *
 * 1. `sendMessage` over HTTP, C concurrent senders (each sends back to back for --seconds after
 *    --warmup seconds), C from --senders, in three shapes: spread over C conversations with one
 *    salon (every send also takes the salon's event-stream row), spread over C salons (one
 *    conversation each: no shared row), and all C senders in one conversation (half as the
 *    client, half as the salon: every send takes that conversation's row).
 * 2. The floor, right after each of ours, same shape and concurrency: THE SAME SQL our send runs,
 *    replayed through raw node-postgres — no HTTP, no GraphQL, no Prisma. Which SQL is learnt,
 *    not written here: a first API instance of the measured checkout runs behind a recording
 *    proxy of PostgreSQL's protocol (bench/pg-proxy.ts) and one send is captured, with every
 *    statement of every pool (the app's Prisma pool, the job queue's) that names its conversation,
 *    message, author or content. The floor replays those statements with each send's own ids, as
 *    prepared statements when the API prepared them, with a pool per application as large as the
 *    API's (DATABASE_POOL_SIZE; the other pools as many connections as the proxy saw them open);
 *    statements the API ran after its response are not waited for, as in the API.
 * 3. The inbox: a salon with --inbox-conversations conversations holding --inbox-messages messages
 *    in all (seeded with generate_series, with the counters, last messages and event log a send
 *    keeps), operations/inbox.graphql with first 50 over HTTP, --inbox-requests times one after
 *    the other: p50/p99, and the statements it runs for first 10 and first 50 (through the proxy).
 *
 * Prints the tables and writes them to bench/results/<--out>, stamped (machine, versions,
 * commit, date, command). BENCH_CPU_PROF=<dir> runs the measured API with --cpu-prof.
 *
 * `--root` measures another checkout with this same file: its server (built as deployed) runs from its own
 * directory and its own scripts/migrate.ts builds the database. Needs PostgreSQL
 * (BENCH_DATABASE_ADMIN_URL, default 127.0.0.1:5432) and Redis (REDIS_URL). Exits 1 if anything failed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startRecordingProxy, type Execution } from './pg-proxy.js';
import {
  commandLine,
  createDatabase,
  describeCommit,
  describeMachine,
  graphqlPost,
  percentile,
  processCpuSeconds,
  REPO_ROOT,
  resultsStamp,
  SEND_MESSAGE,
  signToken,
  sleep,
  startApi,
  stopProcesses,
  killProcesses,
  writeResults,
} from './support.js';

const { values } = parseArgs({
  options: {
    senders: { type: 'string', default: '16,64' },
    seconds: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    pool: { type: 'string', default: '10' },
    root: { type: 'string', default: REPO_ROOT },
    'inbox-conversations': { type: 'string', default: '1000' },
    'inbox-messages': { type: 'string', default: '100000' },
    'inbox-requests': { type: 'string', default: '300' },
    out: { type: 'string', default: 'write-path.md' },
    shapes: { type: 'string', default: 'one-salon,many-salons,one-conversation' },
  },
});
const SENDERS = values.senders.split(',').map(Number);
const SHAPES = new Set(values.shapes.split(','));
const MAX_SENDERS = Math.max(...SENDERS);
const SECONDS = Number(values.seconds);
const WARMUP_SECONDS = Number(values.warmup);
/** Each cell's seconds are split into this many alternations of ours and the floor. */
const ROUNDS = Number(values.rounds);
/** DATABASE_POOL_SIZE of the API (its default is 10); the floor's pool of the app's statements is as large. */
const POOL = Number(values.pool);
const ROOT = resolve(values.root);
const INBOX_CONVERSATIONS = Number(values['inbox-conversations']);
const INBOX_MESSAGES = Number(values['inbox-messages']);
const INBOX_REQUESTS = Number(values['inbox-requests']);
// The file holds more than one operation: requests name `Inbox`.
const INBOX = readFileSync(join(ROOT, 'operations/inbox.graphql'), 'utf8');
const CPU_PROF = process.env.BENCH_CPU_PROF;
/** How long the proxy holds each answer of PostgreSQL during the captured send. */
const CAPTURE_DELAY_MS = 200;
let stopping = false;

/** Migrations of the measured checkout (its scripts/migrate.ts, in a child process). */
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

// ---------------------------------------------------------------------------------------------
// Fixtures

/** A conversation and its two participants. */
interface Pair {
  conversationId: string;
  salonId: string;
  clientId: string;
}

/**
 * `salons` salons and `count` clients, client i in one conversation with salon i % salons; the
 * counters and event streams a send would create are left to the sends (created on first use).
 */
async function seedPairs(db: pg.Client, count: number, salons: number, label: string): Promise<Pair[]> {
  const salonIds = Array.from({ length: salons }, () => randomUUID());
  const pairs = Array.from({ length: count }, (_, i) => ({ conversationId: randomUUID(), salonId: salonIds[i % salons]!, clientId: randomUUID() }));
  await db.query(
    `INSERT INTO "User" (id, email, "firstName", "lastName", role, "updatedAt")
     SELECT id, 'bench-' || id || '@example.test', $2, 'Salon', 'SALON', now() FROM unnest($1::uuid[]) AS id`,
    [salonIds, label],
  );
  await db.query(
    `INSERT INTO "User" (id, email, "firstName", "lastName", role, "updatedAt")
     SELECT id, 'bench-' || id || '@example.test', 'Client', 'Bench', 'CLIENT', now() FROM unnest($1::uuid[]) AS id`,
    [pairs.map((p) => p.clientId)],
  );
  await db.query(
    `INSERT INTO "Conversation" (id, "salonId", "clientUserId", subject, "updatedAt")
     SELECT c, s, u, $4, now() FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS t(c, s, u)`,
    [pairs.map((p) => p.conversationId), pairs.map((p) => p.salonId), pairs.map((p) => p.clientId), label],
  );
  return pairs;
}

/**
 * The inbox's salon: `conversations` clients, one conversation each, `perConversation` messages in
 * each (client and salon in turn, interleaved across conversations in time), nobody has read
 * anything yet. Written as a send leaves them: each conversation's lastSeq, lastMessageId and
 * lastMessageAt, each participant's unread counter (notifiedThroughSeq at the end, so the
 * notifier has nothing due), and each user's event log — message.created to both participants
 * and unread.changed to the recipient with its running counts, positions 1…n — with
 * lastPosition and unreadTotal on the stream rows.
 */
async function seedInbox(db: pg.Client, conversations: number, perConversation: number): Promise<string> {
  const { salonId } = (await seedPairs(db, conversations, 1, 'Inbox'))[0]!;
  await db.query(`
    CREATE TEMP TABLE seeded ON COMMIT DROP AS
    SELECT gen_random_uuid() AS id, c.id AS "conversationId", c."salonId", c."clientUserId", s.seq,
           CASE WHEN s.seq % 2 = 1 THEN c."clientUserId" ELSE c."salonId" END AS "authorId",
           CASE WHEN s.seq % 2 = 1 THEN c."salonId" ELSE c."clientUserId" END AS "recipientId",
           (now() - interval '1 day' + ((s.seq - 1) * $3::int + c.n) * interval '1 millisecond')::timestamp(3) AS "createdAt"
      FROM (SELECT id, "salonId", "clientUserId", row_number() OVER (ORDER BY id) AS n FROM "Conversation" WHERE "salonId" = $1) c,
           generate_series(1, $2::int) AS s(seq)`, [salonId, perConversation, conversations]);
  return salonId;
}

/** seedInbox's statements, in one transaction (its temporary table lives until the commit). */
async function seedInboxMessages(url: string, conversations: number, perConversation: number): Promise<string> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await db.query('BEGIN');
    const salonId = await seedInbox(db, conversations, perConversation);
    await db.query(`
      INSERT INTO "Message" (id, "conversationId", seq, "authorId", kind, content, "createdAt", "updatedAt")
      SELECT id, "conversationId", seq, "authorId", 'USER', 'Inbox message ' || seq || ' of its conversation', "createdAt", "createdAt" FROM seeded`);
    await db.query(`
      UPDATE "Conversation" c SET "lastSeq" = s.seq, "lastMessageId" = s.id, "lastMessageAt" = s."createdAt", "updatedAt" = s."createdAt"
        FROM (SELECT DISTINCT ON ("conversationId") * FROM seeded ORDER BY "conversationId", seq DESC) s
       WHERE c.id = s."conversationId"`);
    await db.query(`
      INSERT INTO "MessageNotification" (id, "conversationId", "userId", "unreadCount", "notifiedThroughSeq", "createdAt", "updatedAt")
      SELECT gen_random_uuid(), "conversationId", "recipientId", count(*), max(seq), min("createdAt"), max("createdAt")
        FROM seeded GROUP BY "conversationId", "recipientId"`);
    // Every event in each user's order (time, then message before unread as a send writes them),
    // with the counts a send would have written into each unread.changed.
    await db.query(`
      CREATE TEMP TABLE events ON COMMIT DROP AS
      WITH entry AS (
        SELECT e."userId", m."createdAt", e.ord, e.type, m."conversationId", m.id AS "messageId", m.seq,
               count(*) FILTER (WHERE e.type = 'unread.changed') OVER (PARTITION BY e."userId", m."conversationId" ORDER BY m."createdAt", e.ord) AS "conversationUnread",
               count(*) FILTER (WHERE e.type = 'unread.changed') OVER (PARTITION BY e."userId" ORDER BY m."createdAt", e.ord) AS "totalUnread"
          FROM seeded m, LATERAL (VALUES (m."salonId", 1, 'message.created'), (m."clientUserId", 1, 'message.created'), (m."recipientId", 2, 'unread.changed')) AS e("userId", ord, type)
      )
      SELECT *, row_number() OVER (PARTITION BY "userId" ORDER BY "createdAt", ord) AS position FROM entry`);
    await db.query(`
      INSERT INTO "UserEventStream" ("userId", "lastPosition", "unreadTotal")
      SELECT "userId", max(position), count(*) FILTER (WHERE type = 'unread.changed') FROM events GROUP BY "userId"`);
    await db.query(`
      INSERT INTO "UserEvent" ("userId", position, type, "conversationId", payload, "occurredAt")
      SELECT "userId", position, type, "conversationId",
             CASE WHEN type = 'message.created'
                  THEN jsonb_build_object('messageId', "messageId", 'conversationId', "conversationId", 'seq', seq)
                  ELSE jsonb_build_object('conversationId', "conversationId", 'conversationUnread', "conversationUnread", 'totalUnread', "totalUnread") END,
             "createdAt"
        FROM events`);
    await db.query('COMMIT');
    await db.query('ANALYZE');
    return salonId;
  } finally {
    await db.end();
  }
}

// ---------------------------------------------------------------------------------------------
// The API side

async function send(port: number, bearer: string, conversationId: string, content: string): Promise<string> {
  const text = await graphqlPost(port, bearer, SEND_MESSAGE, { input: { conversationId, content } });
  const id = (JSON.parse(text) as { data?: { sendMessage?: { id?: string } } }).data?.sendMessage?.id;
  if (!id) throw new Error(`no message id in ${text.slice(0, 200)}`);
  return id;
}

async function startInstance(databaseUrl: string, nodeFlags: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  return startApi({
    databaseUrl,
    root: ROOT,
    nodeFlags,
    env: { DATABASE_POOL_SIZE: String(POOL) },
    onExit: (code, signal) => {
      if (!stopping) {
        console.error(`an API server exited (${signal ?? code}) during the bench`);
        process.exitCode = 1;
      }
    },
  });
}

async function stopInstance(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  stopping = true;
  child.kill('SIGTERM');
  await exited;
  stopping = false;
}

// ---------------------------------------------------------------------------------------------
// CPU: where the time goes, per send

/** CPU time (user + system) of a process, in ms, from /proc (0 once it has exited). */
const cpuMs = (pid: number): number => (processCpuSeconds(pid) ?? 0) * 1000;

/** The PostgreSQL backends serving `database` (their command line names it). */
function backendsOf(database: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.startsWith('postgres: ') && cmdline.includes(` ${database} `)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

interface CpuSample {
  api: number;
  postgres: Map<number, number>;
  bench: number;
}

function sampleCpu(apiPid: number | undefined, database: string): CpuSample {
  const usage = process.cpuUsage();
  return {
    api: apiPid === undefined ? 0 : cpuMs(apiPid),
    postgres: new Map(backendsOf(database).map((pid) => [pid, cpuMs(pid)])),
    bench: (usage.user + usage.system) / 1000,
  };
}

/** CPU spent between two samples, in ms: the API process, our database's backends, the bench. */
function cpuSpent(from: CpuSample, to: CpuSample): { api: number; postgres: number; bench: number } {
  let postgres = 0;
  // A backend that appeared in between counts from 0.
  for (const [pid, ms] of to.postgres) postgres += ms - (from.postgres.get(pid) ?? 0);
  return { api: to.api - from.api, postgres, bench: to.bench - from.bench };
}

// ---------------------------------------------------------------------------------------------
// Load

interface CellResult {
  sends: number;
  errors: Map<string, number>;
  seconds: number;
  latencies: number[];
  /** CPU ms spent while it ran: API process, PostgreSQL backends of the bench database, the bench process. */
  cpu: { api: number; postgres: number; bench: number };
}

const emptyCell = (): CellResult => ({ sends: 0, errors: new Map(), seconds: 0, latencies: [], cpu: { api: 0, postgres: 0, bench: 0 } });

function merge(into: CellResult, part: CellResult): void {
  into.sends += part.sends;
  into.seconds += part.seconds;
  for (const latency of part.latencies) into.latencies.push(latency);
  for (const [message, count] of part.errors) into.errors.set(message, (into.errors.get(message) ?? 0) + count);
  into.cpu.api += part.cpu.api;
  into.cpu.postgres += part.cpu.postgres;
  into.cpu.bench += part.cpu.bench;
}

/** `workers` loops sending back to back for `seconds`; one latency per successful send. */
async function runLoad(workers: number, seconds: number, call: (worker: number, n: number) => Promise<void>): Promise<CellResult> {
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let n = 0; performance.now() < deadline; n++) {
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
  return { sends: latencies.length, errors, seconds: (performance.now() - started) / 1000, latencies, cpu: { api: 0, postgres: 0, bench: 0 } };
}

/** Who sends in a shape: sender `worker` of `senders` writes to a conversation as one of its participants. */
interface SendRole {
  conversationId: string;
  authorId: string;
  recipientId: string;
  role: 'client' | 'salon';
}

interface Shape {
  name: string;
  roleOf(worker: number): SendRole;
}

function spreadShape(name: string, pairs: Pair[]): Shape {
  return {
    name,
    roleOf: (worker) => {
      const pair = pairs[worker]!;
      return { conversationId: pair.conversationId, authorId: pair.clientId, recipientId: pair.salonId, role: 'client' };
    },
  };
}

function oneConversationShape(pair: Pair): Shape {
  return {
    name: 'one conversation (half as the client, half as the salon)',
    roleOf: (worker) =>
      worker % 2 === 0
        ? { conversationId: pair.conversationId, authorId: pair.clientId, recipientId: pair.salonId, role: 'client' }
        : { conversationId: pair.conversationId, authorId: pair.salonId, recipientId: pair.clientId, role: 'salon' },
  };
}

// ---------------------------------------------------------------------------------------------
// The floor: the captured statements, replayed

/** What a captured send wrote with, to be replaced by each replayed send's own values. */
interface Identity {
  conversationId: string;
  authorId: string;
  recipientId: string;
  content: string;
  messageId: string;
}

interface Unit {
  application: string;
  /** BEGIN … COMMIT on one connection: replayed on one client from the pool. */
  transaction: boolean;
  /** The API did not wait for it to answer (it started it, or ran it, after): not part of a send's latency. */
  afterResponse: boolean;
  statements: Execution[];
}

const isTransactionStart = (sql: string) => /^\s*(BEGIN|START TRANSACTION)\b/i.test(sql);
const isTransactionEnd = (sql: string) => /^\s*(COMMIT|ROLLBACK|END)\b/i.test(sql);

/**
 * The send's statements among everything the proxy saw: a statement is the send's when one of its
 * parameters names the send's conversation, message, author or content (the job queue's polls and
 * other background work name none); a transaction is the send's when one of its statements is.
 */
function sendUnits(executions: Execution[], identity: Identity, answeredAt: number): Unit[] {
  const names = [identity.conversationId, identity.messageId, identity.authorId, identity.content];
  const mine = (execution: Execution) => execution.params.some((param) => typeof param === 'string' && names.some((name) => param.includes(name)));
  const byConnection = new Map<number, Execution[]>();
  for (const execution of executions) byConnection.set(execution.connection, [...(byConnection.get(execution.connection) ?? []), execution]);
  const units: Unit[] = [];
  for (const list of byConnection.values()) {
    let open: Execution[] | undefined;
    for (const execution of list) {
      if (open) {
        open.push(execution);
        if (isTransactionEnd(execution.sql)) {
          if (open.some(mine)) units.push({ application: execution.application, transaction: true, afterResponse: open[0]!.at > answeredAt, statements: open });
          open = undefined;
        }
      } else if (isTransactionStart(execution.sql)) {
        open = [execution];
      } else if (mine(execution)) {
        units.push({ application: execution.application, transaction: false, afterResponse: execution.at > answeredAt, statements: [execution] });
      }
    }
  }
  return units.sort((a, b) => a.statements[0]!.order - b.statements[0]!.order);
}

function substitute(param: string | Buffer | null, from: Identity, to: Identity): string | null {
  if (param === null) return null;
  if (typeof param !== 'string') throw new Error('a binary parameter in the captured send: the floor replays text parameters only');
  let value = param;
  for (const key of ['messageId', 'conversationId', 'authorId', 'recipientId', 'content'] as const) value = value.split(from[key]).join(to[key]);
  return value;
}

class Floor {
  private readonly pools = new Map<string, pg.Pool>();
  private readonly trailing = new Set<Promise<unknown>>();

  constructor(
    url: string,
    private readonly units: Unit[],
    private readonly captured: Identity,
    poolSizes: Map<string, number>,
  ) {
    for (const application of new Set(units.map((unit) => unit.application))) {
      const pool = new pg.Pool({ connectionString: url, max: poolSizes.get(application) ?? POOL, options: '-c TimeZone=UTC', application_name: `floor ${application}` });
      // DROP DATABASE … WITH (FORCE) at the end terminates idle connections (57P01): expected.
      pool.on('error', (error: Error & { code?: string }) => {
        if (error.code !== '57P01') throw error;
      });
      this.pools.set(application, pool);
    }
  }

  private async runUnit(unit: Unit, to: Identity): Promise<void> {
    const pool = this.pools.get(unit.application)!;
    const configOf = (statement: Execution) =>
      statement.simple ? statement.sql : { name: statement.name || undefined, text: statement.sql, values: statement.params.map((p) => substitute(p, this.captured, to)) };
    if (!unit.transaction) {
      await pool.query(configOf(unit.statements[0]!));
      return;
    }
    const client = await pool.connect();
    try {
      for (const statement of unit.statements) await client.query(configOf(statement));
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** One send: the units the API ran before answering, in order; the later ones left running. */
  async send(role: SendRole, content: string): Promise<void> {
    const to: Identity = { ...role, content, messageId: randomUUID() };
    for (const unit of this.units) {
      if (unit.afterResponse) {
        const running = this.runUnit(unit, to).catch((error: unknown) => console.error('floor: a statement after the response failed', error));
        this.trailing.add(running);
        void running.finally(() => this.trailing.delete(running));
      } else {
        await this.runUnit(unit, to);
      }
    }
  }

  async settle(): Promise<void> {
    while (this.trailing.size > 0) await Promise.all([...this.trailing]);
  }

  async end(): Promise<void> {
    await this.settle();
    await Promise.all([...this.pools.values()].map((pool) => pool.end()));
  }
}

// ---------------------------------------------------------------------------------------------
// Capture: one send and the inbox's statements, through the proxy

interface Capture {
  units: Unit[];
  identity: Identity;
  /** Connections per application_name the proxy saw the captured API open (its pools' sizes). */
  poolSizes: Map<string, number>;
  inboxStatements: { first: number; statements: string[]; executions: Execution[] }[];
}

const shapeOf = (sql: string) => sql.replace(/\$\d+/g, '$n').replace(/\s+/g, ' ').trim();

async function capture(url: string, pair: Pair, inboxSalonId: string): Promise<Capture> {
  const target = new URL(url);
  const proxy = await startRecordingProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  proxy.record();
  const { child, port } = await startInstance(proxied.toString());
  try {
    const token = await signToken(pair.clientId, 'client');
    // Warm: the viewer cache, the prepared statements, the pools.
    for (let i = 0; i < 20; i++) await send(port, token, pair.conversationId, `capture warm-up ${i}`);
    const salonToken = await signToken(inboxSalonId, 'salon');
    for (let i = 0; i < 5; i++) await graphqlPost(port, salonToken, INBOX, { first: 10 }, 'Inbox');
    await sleep(500);
    const everything = proxy.stop();
    const poolSizes = new Map<string, number>();
    for (const application of new Set(everything.map((e) => e.application))) {
      poolSizes.set(application, new Set(everything.filter((e) => e.application === application).map((e) => e.connection)).size);
    }
    // The app's pool is the size it was given, whatever the warm-up opened.
    poolSizes.set('', POOL);

    // The captured send with the server's answers held DELAY ms: a statement that started less
    // than DELAY before our answer was not waited for (see RecordingProxy.delay).
    const content = `captured send ${randomUUID()}`;
    proxy.delay(CAPTURE_DELAY_MS);
    proxy.record();
    const messageId = await send(port, token, pair.conversationId, content);
    const answeredAt = performance.now();
    // What the send starts without waiting, if anything, has run by then.
    await sleep(1000 + CAPTURE_DELAY_MS);
    proxy.delay(0);
    const identity: Identity = { conversationId: pair.conversationId, authorId: pair.clientId, recipientId: pair.salonId, content, messageId };
    const units = sendUnits(proxy.stop(), identity, answeredAt - CAPTURE_DELAY_MS);
    if (!units.some((unit) => !unit.afterResponse)) throw new Error('no statement of the captured send was seen before its answer');

    const inboxStatements = [];
    for (const first of [10, 50]) {
      // Statements of the request only: the app pool, without the marked background work. Some
      // background work is not marked (presence's heartbeat releasing the users of a silent
      // instance writes their lastSeenAt), so of three requests the one with fewest statements
      // counts: the request's own are the same each time, background work only adds.
      let fewest: Execution[] | undefined;
      for (let attempt = 0; attempt < 3; attempt++) {
        proxy.record();
        await graphqlPost(port, salonToken, INBOX, { first }, 'Inbox');
        const executions = proxy.stop().filter((e) => e.application === '' && !e.sql.trimStart().startsWith('/* background:'));
        if (!fewest || executions.length < fewest.length) fewest = executions;
      }
      inboxStatements.push({ first, statements: fewest!.map((e) => shapeOf(e.sql)), executions: fewest! });
    }
    return { units, identity, poolSizes, inboxStatements };
  } finally {
    await stopInstance(child);
    await proxy.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

interface Row {
  shape: string;
  senders: number;
  ours: CellResult;
  floor: CellResult;
}

const rate = (cell: CellResult) => cell.sends / cell.seconds;
const ms = (value: number) => (value < 10 ? value.toFixed(1) : Math.round(value).toString());
function latency(cell: CellResult, p: number): number {
  return percentile([...cell.latencies].sort((a, b) => a - b), p);
}
const errorsOf = (cell: CellResult) => [...cell.errors.values()].reduce((a, b) => a + b, 0);

function sendTable(rows: Row[]): string {
  const lines = [
    '| shape | senders | ours sends/s | ours p50 / p99 ms | floor sends/s | floor p50 / p99 ms | ours / floor (rate) | errors |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const ratio = rate(row.ours) / rate(row.floor);
    lines.push(
      `| ${row.shape} | ${row.senders} | ${Math.round(rate(row.ours))} | ${ms(latency(row.ours, 50))} / ${ms(latency(row.ours, 99))} | ` +
        `${Math.round(rate(row.floor))} | ${ms(latency(row.floor, 50))} / ${ms(latency(row.floor, 99))} | ` +
        `**${Math.round(ratio * 100)} %**${ratio >= 0.4 ? '' : ' (below 40 %)'} | ${errorsOf(row.ours) + errorsOf(row.floor)} |`,
    );
  }
  return lines.join('\n');
}

function cpuTable(rows: Row[]): string {
  const per = (cell: CellResult, ms: number) => (cell.sends > 0 ? (ms / cell.sends).toFixed(2) : 'n/a');
  const lines = [
    '| shape | senders | ours: API | ours: PostgreSQL | ours: bench client | floor: PostgreSQL | floor: bench (node-postgres) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.shape} | ${row.senders} | ${per(row.ours, row.ours.cpu.api)} | ${per(row.ours, row.ours.cpu.postgres)} | ${per(row.ours, row.ours.cpu.bench)} | ` +
        `${per(row.floor, row.floor.cpu.postgres)} | ${per(row.floor, row.floor.cpu.bench)} |`,
    );
  }
  return lines.join('\n');
}

function statementList(units: Unit[]): string {
  return units
    .flatMap((unit) =>
      unit.statements.map(
        (s) =>
          `- ${unit.application === '' ? 'app pool' : `\`${unit.application}\` pool`}${unit.transaction ? ', in a transaction' : ''}${unit.afterResponse ? ', after the response' : ', before the response'}` +
          `${s.name ? `, prepared as \`${s.name}\`` : ''}: \`${shapeOf(s.sql).slice(0, 160)}${shapeOf(s.sql).length > 160 ? ' …' : ''}\``,
      ),
    )
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// The run

const command = commandLine();
console.log(`command: ${command}`);
console.log(`code measured: ${ROOT} at ${describeCommit(ROOT)}; machine: ${describeMachine()}`);
const database = await createDatabase(migrate);
let failed = 0;
try {
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  // The API (its pool and the job queue's), the capture's instance before it, and the floor's
  // pools: a PostgreSQL shared with other work can run out, and every send then fails.
  const needed = 2 * (POOL + 8);
  const free = (await admin.query<{ free: number }>(`SELECT current_setting('max_connections')::int - count(*)::int AS free FROM pg_stat_activity`)).rows[0]!.free;
  if (free < needed) console.warn(`warning: PostgreSQL has ${free} free connections and this run needs about ${needed}: sends may fail with 53300 (too many clients)`);
  const oneSalon = await seedPairs(admin, MAX_SENDERS + 1, 1, 'One salon');
  const manySalons = await seedPairs(admin, MAX_SENDERS, MAX_SENDERS, 'Many salons');
  const single = (await seedPairs(admin, 1, 1, 'One conversation'))[0]!;
  await admin.end();
  const perConversation = Math.ceil(INBOX_MESSAGES / INBOX_CONVERSATIONS);
  let t0 = performance.now();
  const inboxSalon = await seedInboxMessages(database.url, INBOX_CONVERSATIONS, perConversation);
  console.log(`seeded the inbox: ${INBOX_CONVERSATIONS} conversations × ${perConversation} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // The last one-salon conversation is the captured one; the shapes use the others.
  const captured = await capture(database.url, oneSalon[MAX_SENDERS]!, inboxSalon);
  const before = captured.units.filter((u) => !u.afterResponse).reduce((n, u) => n + u.statements.length, 0);
  const after = captured.units.filter((u) => u.afterResponse).reduce((n, u) => n + u.statements.length, 0);
  console.log(`captured send: ${before} statement(s) before the response, ${after} after; pools ${JSON.stringify(Object.fromEntries(captured.poolSizes))}`);
  console.log(statementList(captured.units));

  const shapes: Shape[] = [
    ...(SHAPES.has('one-salon') ? [spreadShape('spread: one conversation per sender, one salon', oneSalon)] : []),
    ...(SHAPES.has('many-salons') ? [spreadShape('spread: one conversation per sender, one salon each', manySalons)] : []),
    ...(SHAPES.has('one-conversation') ? [oneConversationShape(single)] : []),
  ];
  const tokens = new Map<string, string>();
  const tokenFor = async (role: SendRole) => {
    let token = tokens.get(role.authorId);
    if (!token) tokens.set(role.authorId, (token = await signToken(role.authorId, role.role)));
    return token;
  };
  for (const shape of shapes) for (let w = 0; w < MAX_SENDERS; w++) await tokenFor(shape.roleOf(w));

  const nodeFlags = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : [];
  const api = await startInstance(database.url, nodeFlags);
  const floor = new Floor(database.url, captured.units, captured.identity, captured.poolSizes);
  const databaseName = new URL(database.url).pathname.slice(1);
  const measured = async (work: () => Promise<CellResult>) => {
    const before = sampleCpu(api.child.pid, databaseName);
    const result = await work();
    result.cpu = cpuSpent(before, sampleCpu(api.child.pid, databaseName));
    return result;
  };
  const rows: Row[] = [];
  for (const shape of shapes) {
    for (const senders of SENDERS) {
      const oursCall = async (worker: number, n: number) => {
        const role = shape.roleOf(worker);
        await send(api.port, tokens.get(role.authorId)!, role.conversationId, `bench ${worker} #${n}`);
      };
      const floorCall = (worker: number, n: number) => floor.send(shape.roleOf(worker), `bench ${worker} #${n}`);
      // Warm-up of both, then ROUNDS alternations of ours and the floor: load that comes and
      // goes on the machine falls on both sides alike.
      await runLoad(senders, WARMUP_SECONDS, oursCall);
      await runLoad(senders, WARMUP_SECONDS, floorCall);
      await floor.settle();
      const ours = emptyCell();
      const floorResult = emptyCell();
      for (let round = 0; round < ROUNDS; round++) {
        await sleep(200);
        merge(ours, await measured(() => runLoad(senders, SECONDS / ROUNDS, oursCall)));
        await sleep(200);
        merge(floorResult, await measured(async () => {
          const part = await runLoad(senders, SECONDS / ROUNDS, floorCall);
          // What the floor's sends left running (as the API's job inserts) is part of its CPU.
          await floor.settle();
          return part;
        }));
      }
      rows.push({ shape: shape.name, senders, ours, floor: floorResult });
      console.log(
        `${shape.name}, ${senders} senders: ours ${Math.round(rate(ours))}/s p50 ${ms(latency(ours, 50))} p99 ${ms(latency(ours, 99))} ms; ` +
          `floor ${Math.round(rate(floorResult))}/s p50 ${ms(latency(floorResult, 50))} p99 ${ms(latency(floorResult, 99))} ms; ` +
          `ours/floor ${Math.round((rate(ours) / rate(floorResult)) * 100)} %; CPU ms/send ours API ${(ours.cpu.api / ours.sends).toFixed(2)} ` +
          `PG ${(ours.cpu.postgres / ours.sends).toFixed(2)} client ${(ours.cpu.bench / ours.sends).toFixed(2)}, floor PG ${(floorResult.cpu.postgres / floorResult.sends).toFixed(2)} ` +
          `client ${(floorResult.cpu.bench / floorResult.sends).toFixed(2)}`,
      );
      for (const [message, count] of [...ours.errors, ...floorResult.errors]) console.log(`  ${count} × ${message}`);
      failed += errorsOf(ours) + errorsOf(floorResult);
    }
  }
  await floor.end();

  // The inbox, on the same (idle) API instance.
  const salonToken = await signToken(inboxSalon, 'salon');
  for (let i = 0; i < 20; i++) await graphqlPost(api.port, salonToken, INBOX, { first: 50 }, 'Inbox');
  const inbox: number[] = [];
  t0 = performance.now();
  for (let i = 0; i < INBOX_REQUESTS; i++) {
    const start = performance.now();
    const text = await graphqlPost(api.port, salonToken, INBOX, { first: 50 }, 'Inbox');
    inbox.push(performance.now() - start);
    if (i === 0) {
      const edges = (JSON.parse(text) as { data: { conversations: { edges: unknown[] } } }).data.conversations.edges.length;
      if (edges !== 50) throw new Error(`the inbox returned ${edges} conversations, not 50`);
    }
  }
  inbox.sort((a, b) => a - b);
  const [ten, fifty] = captured.inboxStatements;
  // The inbox's own SQL alone: its statements (first 50) replayed through node-postgres one
  // after the other, as many times: what of the request's time PostgreSQL takes.
  const sqlOnly: number[] = [];
  {
    const client = new pg.Client({ connectionString: database.url, options: '-c TimeZone=UTC' });
    await client.connect();
    const run = async () => {
      for (const e of fifty!.executions) await client.query(e.simple ? e.sql : { text: e.sql, values: e.params.map((p) => (typeof p === 'string' || p === null ? p : p.toString('utf8'))) });
    };
    for (let i = 0; i < 20; i++) await run();
    for (let i = 0; i < INBOX_REQUESTS; i++) {
      const start = performance.now();
      await run();
      sqlOnly.push(performance.now() - start);
    }
    await client.end();
    sqlOnly.sort((a, b) => a - b);
  }
  const constant = JSON.stringify(ten!.statements) === JSON.stringify(fifty!.statements);
  console.log(
    `inbox (first 50, ${INBOX_CONVERSATIONS} conversations, ${perConversation * INBOX_CONVERSATIONS} messages): p50 ${ms(percentile(inbox, 50))} ms, p99 ${ms(percentile(inbox, 99))} ms; ` +
      `statements: ${ten!.statements.length} for first 10, ${fifty!.statements.length} for first 50${constant ? ' (the same)' : ' (DIFFERENT)'}; ` +
      `those statements alone through node-postgres: p50 ${ms(percentile(sqlOnly, 50))} ms, p99 ${ms(percentile(sqlOnly, 99))} ms`,
  );
  if (!constant) failed++;

  stopping = true;
  await stopProcesses();

  const table = sendTable(rows);
  console.log(table);
  console.log(cpuTable(rows));
  const markdown = [
    resultsStamp({ title: 'Write path: sendMessage against its floor, and the inbox', command, database, root: ROOT }),
    `## sendMessage: ours against the floor, same run`,
    '',
    `One API instance (\`DATABASE_POOL_SIZE\` ${POOL}, production mode, send rate limit off), ${SECONDS} s per cell for each side, after ${WARMUP_SECONDS} s of warm-up of each at the same concurrency, ` +
      `in ${ROUNDS} alternations of ours and the floor (so load that comes and goes on the machine falls on both); ` +
      `each sender sends back to back over HTTP (kept-alive connections), latency from the request to its complete answer. ` +
      `The floor: the same SQL our send ran (captured below), through node-postgres, with the same pools, no HTTP or GraphQL. ` +
      `The target is ours ≥ 40 % of the floor's rate. The benchmark's clients share the machine's cores with the API and PostgreSQL.`,
    '',
    table,
    '',
    `### Where the time goes: CPU ms per send`,
    '',
    `CPU time (user + system, from /proc) spent while each side ran, divided by its sends: the API process, the PostgreSQL backends of the bench's database, and the bench process (HTTP client for ours; node-postgres and the replay for the floor). The machine has ${cpus().length} cores for all of them.`,
    '',
    cpuTable(rows),
    '',
    `### The SQL of one send (captured through a recording proxy of the PostgreSQL protocol)`,
    '',
    `${before} statement(s) before the response, ${after} after it. Pools of the API as seen: ${[...captured.poolSizes].map(([app, size]) => `${app === '' ? 'app' : app} ${size}`).join(', ')}.`,
    '',
    statementList(captured.units),
    '',
    `## The inbox`,
    '',
    `A salon with ${INBOX_CONVERSATIONS} conversations and ${perConversation * INBOX_CONVERSATIONS} messages in the database (seeded with generate_series: ` +
      `last messages, unread counters and each user's event log as sends leave them; ${INBOX_CONVERSATIONS * perConversation * 3} event rows in all). ` +
      `\`operations/inbox.graphql\` with first 50, over HTTP, ${INBOX_REQUESTS} requests one after the other after 20 of warm-up, on the same API instance, idle otherwise.`,
    '',
    "Statement count: of three requests for each page size, the one with fewest statements (background work that is not marked `/* background:` can fall in a request's window; the request's own statements are the same each time).",
    '',
    '| page | p50 ms | p99 ms | its statements alone (node-postgres): p50 / p99 ms | statements (first 10) | statements (first 50) |',
    '|---|---|---|---|---|---|',
    `| 50 conversations | ${ms(percentile(inbox, 50))} | ${ms(percentile(inbox, 99))} | ${ms(percentile(sqlOnly, 50))} / ${ms(percentile(sqlOnly, 99))} | ${ten!.statements.length} | ${fifty!.statements.length}${constant ? ' (the same statements)' : ' (different statements!)'} |`,
    '',
    'Statements of one inbox request (the app pool, background work left out):',
    '',
    ...fifty!.statements.map((sql) => `- \`${sql.slice(0, 200)}${sql.length > 200 ? ' …' : ''}\``),
    '',
  ].join('\n');
  console.log(`results: ${writeResults(values.out, markdown)}`);
  if (failed > 0) console.log(`${failed} failure(s)`);
} catch (error) {
  console.error(error);
  failed++;
} finally {
  stopping = true;
  killProcesses();
  await database.drop();
  process.exit(failed > 0 || process.exitCode ? 1 : 0);
}
