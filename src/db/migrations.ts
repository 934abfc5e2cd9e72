/**
 * Migrations through the official Prisma schema engine, compiled to WebAssembly
 * (@prisma/schema-engine-wasm): the CLI's native engine cannot be downloaded on our machines,
 * but this build writes the same SQL as `prisma migrate dev` and records `_prisma_migrations`
 * exactly as `prisma migrate deploy` does, so a machine with the native CLI sees one history.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import * as glue from '@prisma/schema-engine-wasm/schema_engine_bg';
import { ConfigError } from '../config.js';
import { installJobQueue } from '../jobs/queue.js';
import { installRoutines } from './routines.js';

export const PRISMA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'prisma');
export const SCHEMA_PATH = join(PRISMA_DIR, 'schema.prisma');
export const MIGRATIONS_DIR = join(PRISMA_DIR, 'migrations');
const LOCKFILE = 'migration_lock.toml';

type DiffTarget = { tag: 'empty' } | { tag: 'schemaDatamodel'; files: { path: string; content: string }[] };

interface Engine {
  diff(params: {
    from: DiffTarget;
    to: DiffTarget;
    script: boolean;
    exitCode: boolean | null;
    filters: { externalTables: string[]; externalEnums: string[] };
  }): Promise<{ exitCode: number; stdout: string | null }>;
  applyMigrations(input: {
    migrationsList: {
      baseDir: string;
      lockfile: { path: string; content: string | null };
      shadowDbInitScript: string;
      migrationDirectories: { path: string; migrationFile: { path: string; content: { tag: 'ok'; value: string } } }[];
    };
    filters: { externalTables: string[]; externalEnums: string[] };
  }): Promise<{ appliedMigrationNames: string[] }>;
  free(): void;
}

interface EngineModule {
  __wbg_set_wasm(exports: WebAssembly.Exports): void;
  SchemaEngine: {
    new: (options: { datamodels: [string, string][] }, log: (message: string) => void, adapter: object) => Promise<Engine>;
  };
}

let loaded: Promise<EngineModule> | undefined;
let engineStarts = 0;

/** How many times this process has started the schema engine (tests: a start with nothing pending does not). */
export function schemaEngineStarts(): number {
  return engineStarts;
}

/** The wasm-bindgen "bundler" package expects a bundler to wire its module; we do it by hand, once. */
function engineModule(): Promise<EngineModule> {
  loaded ??= (async () => {
    const module = glue as unknown as EngineModule;
    const require = createRequire(import.meta.url);
    const wasmPath = join(dirname(require.resolve('@prisma/schema-engine-wasm')), 'schema_engine_bg.wasm');
    const imports: Record<string, unknown> = { ...glue };
    // The engine races each query against a 10 s timer; unref'd, it no longer keeps a finished
    // script (migrate, seed) alive for those 10 s.
    for (const [name, value] of Object.entries(imports)) {
      if (name.startsWith('__wbg_setTimeout_') && typeof value === 'function') {
        imports[name] = (...args: unknown[]) => {
          const timer = (value as (...a: unknown[]) => NodeJS.Timeout)(...args);
          timer.unref?.();
          return timer;
        };
      }
    }
    const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), {
      './schema_engine_bg.js': imports as WebAssembly.ModuleImports,
    });
    module.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return module;
  })();
  return loaded;
}

const noFilters = { externalTables: [], externalEnums: [] };

async function withEngine<T>(databaseUrl: string, datamodel: string, work: (engine: Engine) => Promise<T>): Promise<T> {
  engineStarts++;
  const module = await engineModule();
  // Our own pool, so it can be ended here: the engine does not close what it opens.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2, idleTimeoutMillis: 50, allowExitOnIdle: true });
  const adapter = new PrismaPg(pool);
  const engine = await module.SchemaEngine.new(
    { datamodels: [[SCHEMA_PATH, datamodel]] },
    () => {},
    bindMigrationAwareSqlAdapterFactory(adapter),
  );
  try {
    return await work(engine);
  } finally {
    engine.free();
    await pool.end();
  }
}

/** The migration SQL from one schema text (or an empty database) to another, as `migrate dev` writes it. */
export async function diffSchemas(fromDatamodel: string | null, toDatamodel: string): Promise<string> {
  const files = (content: string): DiffTarget => ({ tag: 'schemaDatamodel', files: [{ path: SCHEMA_PATH, content }] });
  // The engine needs a connection to exist even for a file-to-file diff; it sends no statement.
  const url = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  return withEngine(url, toDatamodel, async (engine) => {
    const result = await engine.diff({
      from: fromDatamodel === null ? { tag: 'empty' } : files(fromDatamodel),
      to: files(toDatamodel),
      script: true,
      exitCode: null,
      filters: noFilters,
    });
    return result.stdout ?? '';
  });
}

export function migrationNames(): string[] {
  if (!existsSync(MIGRATIONS_DIR)) return [];
  return readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(MIGRATIONS_DIR, entry.name, 'migration.sql')))
    .map((entry) => entry.name)
    .sort();
}

/** PostgreSQL's SQLSTATEs met while checking the database exists. */
const INVALID_CATALOG_NAME = '3D000';
const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';

/** A DATABASE_URL that cannot be used as given, said in one line (never the engine's WebAssembly trace). */
export class DatabaseUrlError extends ConfigError {
  override name = 'DatabaseUrlError';
}

function sqlState(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

function reason(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : String(error);
}

/**
 * Creates the database a URL names when the server answers but the database does not exist, as
 * `prisma migrate deploy` does: a fresh PostgreSQL and `DATABASE_URL=…/salon` is enough to start.
 * The database is created from the server's maintenance database (`postgres`) with the URL's own
 * credentials; a server that cannot be reached, or a user who may not create it, ends in one line
 * saying so. Returns whether it created the database. The URL (it may hold a password) is never
 * printed, only host, port and database name.
 */
export async function ensureDatabase(databaseUrl: string, log?: (message: string) => void): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1)) || decodeURIComponent(url.username) || 'postgres';
  const where = `${url.hostname || 'localhost'}:${url.port || 5432}`;
  const tryConnect = async (connectionString: string) => {
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: 10_000 });
    client.on('error', () => {});
    await client.connect();
    return client;
  };

  try {
    await (await tryConnect(databaseUrl)).end();
    return false;
  } catch (error) {
    if (sqlState(error) !== INVALID_CATALOG_NAME) {
      throw new DatabaseUrlError(`DATABASE_URL: cannot connect to PostgreSQL at ${where}, database "${name}": ${reason(error)}`);
    }
  }

  const maintenance = new URL(databaseUrl);
  maintenance.pathname = name === 'postgres' ? '/template1' : '/postgres';
  let admin: pg.Client;
  try {
    admin = await tryConnect(maintenance.toString());
  } catch (error) {
    throw new DatabaseUrlError(
      `DATABASE_URL names database "${name}" on ${where}, which does not exist, and the maintenance database to create it from is not reachable: ${reason(error)}`,
    );
  }
  try {
    await admin.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    log?.(`created database "${name}" on ${where} (DATABASE_URL named a database that did not exist)`);
    return true;
  } catch (error) {
    // Another instance starting at the same moment created it first: what we wanted.
    if (sqlState(error) === DUPLICATE_DATABASE || sqlState(error) === UNIQUE_VIOLATION) return false;
    throw new DatabaseUrlError(`DATABASE_URL names database "${name}" on ${where}, which does not exist and could not be created: ${reason(error)}`);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/**
 * The advisory lock under which a process migrates (any fixed key; Prisma's engine takes 72707369
 * for its own step). Every instance migrates as it starts, and replicas start together: Prisma
 * serializes its migrations, but the routines' CREATE OR REPLACE FUNCTION and pg-boss's install
 * collided when two ran at once ("tuple concurrently updated", a duplicate key, a deadlock) and
 * the instance exited.
 */
const MIGRATE_LOCK = 7_262_025_101;

/**
 * Applies pending migrations of prisma/migrations, like `prisma migrate deploy` (which also
 * creates a missing database first); returns their names. One process at a time per database (MIGRATE_LOCK).
 */
export async function migrateDatabase(databaseUrl: string, log?: (message: string) => void): Promise<string[]> {
  await ensureDatabase(databaseUrl, log);
  // A session of its own (a direct connection, or a pooler in session mode: in transaction mode
  // the lock would stay on a server connection after this one closes).
  const lock = new pg.Client({ connectionString: databaseUrl });
  // Dropped mid-migration (a restart of PostgreSQL), it must not crash the process from an
  // 'error' event: the migration's own connections fail and say why.
  lock.on('error', (error) => log?.(`migration lock connection lost: ${error.message}`));
  await lock.connect();
  try {
    const { rows } = await lock.query<{ free: boolean }>('SELECT pg_try_advisory_lock($1) AS free', [MIGRATE_LOCK]);
    if (!rows[0]?.free) {
      log?.('another process is migrating this database: waiting for it');
      await lock.query('SELECT pg_advisory_lock($1)', [MIGRATE_LOCK]);
    }
    return await migrateLocked(databaseUrl, lock, log);
  } finally {
    // Closing the session releases the lock, whatever happened.
    await lock.end().catch(() => undefined);
  }
}

/** PostgreSQL's SQLSTATE for a table that does not exist (no migration has ever run). */
const UNDEFINED_TABLE = '42P01';

/**
 * Whether every migration of prisma/migrations is recorded as applied, with the checksum of its
 * file as it is now, and no attempt is left failed: then `migrate deploy` has nothing to do, and
 * the schema engine (5 MB of WebAssembly, compiled and started: ~0.35 s of CPU an instance start
 * on our 2-core machines) is not needed. Anything else goes to the engine, which applies, or
 * refuses as `migrate deploy` does.
 */
async function nothingPending(lock: pg.Client, migrations: { name: string; sql: string }[]): Promise<boolean> {
  let rows: { migration_name: string; checksum: string; finished: boolean; rolled_back: boolean }[];
  try {
    ({ rows } = await lock.query(
      // Qualified as the generated client qualifies its tables: if the engine kept its records
      // elsewhere, this fails (42P01) and the engine is asked, rather than another table read.
      'SELECT migration_name, checksum, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back FROM public."_prisma_migrations"',
    ));
  } catch (error) {
    if (sqlState(error) === UNDEFINED_TABLE) return false;
    throw error;
  }
  const applied = new Map<string, string>();
  for (const row of rows) {
    if (!row.finished && !row.rolled_back) return false;
    if (row.finished && !row.rolled_back) applied.set(row.migration_name, row.checksum);
  }
  return migrations.every(({ name, sql }) => applied.get(name) === createHash('sha256').update(sql).digest('hex'));
}

async function migrateLocked(databaseUrl: string, lock: pg.Client, log?: (message: string) => void): Promise<string[]> {
  const lockPath = join(MIGRATIONS_DIR, LOCKFILE);
  const migrations = migrationNames().map((name) => ({ name, sql: readFileSync(join(MIGRATIONS_DIR, name, 'migration.sql'), 'utf8') }));
  const { appliedMigrationNames } = (await nothingPending(lock, migrations))
    ? { appliedMigrationNames: [] }
    : await withEngine(databaseUrl, readFileSync(SCHEMA_PATH, 'utf8'), (engine) =>
        engine.applyMigrations({
          migrationsList: {
            baseDir: MIGRATIONS_DIR,
            lockfile: { path: LOCKFILE, content: existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : null },
            shadowDbInitScript: '',
            migrationDirectories: migrations.map(({ name, sql }) => ({
              path: name,
              migrationFile: { path: 'migration.sql', content: { tag: 'ok', value: sql } },
            })),
          },
          filters: noFilters,
        }),
      );
  for (const name of appliedMigrationNames) log?.(`applied migration ${name}`);
  await installRoutines(databaseUrl);
  // The job queue's own schema (pg-boss installs and migrates it; a no-op when it is current).
  await installJobQueue(databaseUrl);
  return appliedMigrationNames;
}
