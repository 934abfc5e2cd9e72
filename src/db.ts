import { createHash } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { validate as isUuid } from 'uuid';
import { badInput } from './errors.js';
import { idleConnectionOptions } from './db/pool-options.js';
import { logger } from './logger.js';
import { PrismaClient, type Prisma } from './generated/prisma/client.js';

/** Used when connectDb is not told otherwise (DATABASE_STATEMENT_TIMEOUT_MS). */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 5_000;

export interface DbOptions {
  poolSize?: number;
  /** Closes a connection idle this long (milliseconds); 0, the default, keeps it (see db/pool-options.ts). */
  idleTimeoutMs?: number;
  /** PostgreSQL cancels any statement running longer (SQLSTATE 57014); the connection stays usable. */
  statementTimeoutMs?: number;
}

/**
 * Every connection's cursor is a row id, and Pothos decodes whatever a client sends as `after` or
 * `before` into it untyped (a number, an object, a date, any string). Checked here, below every
 * connection, top-level or nested in an include, before the query reaches Prisma or PostgreSQL.
 */
function assertCursors(args: unknown): void {
  if (!args || typeof args !== 'object') return;
  const { cursor, include, select } = args as { cursor?: unknown; include?: unknown; select?: unknown };
  if (cursor !== undefined) {
    const id = (cursor as { id?: unknown } | null)?.id;
    if (typeof id !== 'string' || !isUuid(id)) throw badInput('Invalid cursor: pass as after or before a cursor this API returned');
  }
  for (const nested of [include, select]) {
    if (nested && typeof nested === 'object') for (const value of Object.values(nested)) assertCursors(value);
  }
}

/** The marker that makes a raw statement a named prepared statement: put it first in the SQL. */
export const prepared = (name: string) => `/* prepared:${name} */`;
const PREPARED = /^\s*\/\* prepared:([a-z-]+) \*\//;

/**
 * Names the statements marked with `prepared(…)`, so node-postgres prepares each once per
 * connection and PostgreSQL reuses its parse and, after a few runs, its plan. Only marked ones:
 * they are few and fixed (the send, the event log's writes), while Prisma's own statements vary
 * with their arguments and would fill every connection's cache. (A pooler in transaction mode
 * must support prepared statements: PgBouncer 1.21+ with max_prepared_statements.)
 */
function statementName(query: { sql: string }): string {
  const known = statementNames.get(query.sql);
  if (known !== undefined) return known;
  const marked = PREPARED.exec(query.sql);
  // '': node-postgres's unnamed statement, parsed and planned on every run.
  if (!marked) return '';
  const name = `${marked[1]}-${createHash('sha1').update(query.sql).digest('hex').slice(0, 12)}`;
  statementNames.set(query.sql, name);
  return name;
}

/**
 * The names of the marked statements, by their SQL: the send's text is a few kilobytes, and
 * hashing it on every send cost about 1 % of the API's CPU under load (bench:send profile).
 * Marked statements are few and fixed, so this stays small.
 */
const statementNames = new Map<string, string>();

function createClient(databaseUrl: string, options: DbOptions) {
  // The pool is ours, handed to Prisma's adapter, so that `direct` can run a hot statement on the
  // same connections (and their prepared statements) without Prisma's query runtime.
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    ...idleConnectionOptions(options.idleTimeoutMs),
    statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    // Columns are `timestamp` without zone holding UTC (Prisma's convention); raw SQL that stamps
    // clock_timestamp() into them and reads them back as JSON relies on the session being UTC too.
    options: '-c TimeZone=UTC',
  });
  // An idle connection that PostgreSQL ended (a restart, pg_terminate_backend) is an 'error' on the
  // pool, which ends the process without a listener: Prisma's adapter adds one only once Prisma
  // has connected, and idle connections now stay for good. The pool drops it and opens another
  // when needed.
  pool.on('error', (error: Error & { code?: string }) =>
    logger.warn({ err: error.message, code: error.code }, 'database: an idle pooled connection ended'),
  );
  const adapter = new PrismaPg(pool, { statementNameGenerator: statementName, disposeExternalPool: true });
  clientPool = pool;
  const base = new PrismaClient({ adapter, log: [{ level: 'query', emit: 'event' }] });
  base.$on('query', (event) => {
    for (const listener of queryListeners) listener(event.query);
  });
  return base.$extends({
    name: 'cursor-guard',
    query: {
      $allModels: {
        $allOperations({ args, query }) {
          assertCursors(args);
          return query(args);
        },
      },
    },
  });
}

export type Db = ReturnType<typeof createClient>;

/** The client inside an interactive transaction (the last `$transaction` overload's argument). */
export type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

let client: Db | undefined;
let clientUrl: string | undefined;
/** The pool under `client` (see createClient). */
let clientPool: pg.Pool | undefined;
let users = 0;
const queryListeners = new Set<(sql: string) => void>();

/**
 * Sees every SQL statement the client sends: tests and benchmarks use it to prove a query
 * costs a fixed number of statements. Returns the unsubscribe function.
 */
export function onQuery(listener: (sql: string) => void): () => void {
  queryListeners.add(listener);
  return () => queryListeners.delete(listener);
}

/**
 * The one PrismaClient of the process. It is a module singleton rather than a context member
 * (Pothos Prisma docs: a client type in the context slows type checking), bound at start because
 * the URL may only be known once the embedded PostgreSQL is up. Apps of one process (tests run
 * two instances side by side) share it, so it is reference-counted.
 */
export function connectDb(databaseUrl: string, options: DbOptions = {}): Db {
  if (client && clientUrl !== databaseUrl) throw new Error('connectDb: already connected to another database');
  if (!client) {
    client = createClient(databaseUrl, options);
    clientUrl = databaseUrl;
  }
  users++;
  return client;
}

export async function disconnectDb(): Promise<void> {
  if (!client || --users > 0) return;
  const current = client;
  const pool = clientPool;
  client = undefined;
  clientUrl = undefined;
  clientPool = undefined;
  try {
    await current.$disconnect();
  } finally {
    // Prisma ends the pool only if it connected: a process that ran only `direct` statements ends it here.
    if (pool && !pool.ending) await pool.end();
  }
}

/**
 * Runs one statement on its own (autocommit) straight on the client's pool: the same connections,
 * the same statement names (`prepared(…)`), the listeners of `onQuery` see it, and an error is
 * node-postgres's (sqlState in db/errors.ts reads it as it reads Prisma's). For the send, the
 * hottest statement: Prisma's raw-query runtime around it was about 8 % of the API's CPU per
 * sendMessage under load (bench:send profile). Rows come as node-postgres parses them (json and
 * jsonb parsed, int4 as numbers, text as strings): select only such columns.
 */
export async function direct<T>(statement: Prisma.Sql): Promise<T[]> {
  if (!clientPool) throw new Error('Database used before connectDb()');
  const text = statement.text;
  for (const listener of queryListeners) listener(text);
  const result = await clientPool.query({ name: statementName({ sql: text }) || undefined, text, values: statement.values as unknown[] });
  return result.rows as T[];
}

/** The connected client; using it before connectDb is a programming error. */
export function getDb(): Db {
  if (!client) throw new Error('Database used before connectDb()');
  return client;
}

/** `getDb()` as a value, so modules can `import { db }` once at load time. */
export const db: Db = new Proxy({} as Db, {
  get(_target, property) {
    const current = getDb();
    const value = Reflect.get(current, property, current) as unknown;
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(current) : value;
  },
  has: (_target, property) => property in getDb(),
});
