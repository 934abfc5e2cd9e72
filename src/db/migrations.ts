/**
 * Migrations through the official Prisma schema engine, compiled to WebAssembly
 * (@prisma/schema-engine-wasm): the CLI's native engine cannot be downloaded on our machines,
 * but this build writes the same SQL as `prisma migrate dev` and records `_prisma_migrations`
 * exactly as `prisma migrate deploy` does, so a machine with the native CLI sees one history.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import * as glue from '@prisma/schema-engine-wasm/schema_engine_bg';

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

/** Applies pending migrations of prisma/migrations, like `prisma migrate deploy`; returns their names. */
export async function migrateDatabase(databaseUrl: string, log?: (message: string) => void): Promise<string[]> {
  const lockPath = join(MIGRATIONS_DIR, LOCKFILE);
  const { appliedMigrationNames } = await withEngine(databaseUrl, readFileSync(SCHEMA_PATH, 'utf8'), (engine) =>
    engine.applyMigrations({
      migrationsList: {
        baseDir: MIGRATIONS_DIR,
        lockfile: { path: LOCKFILE, content: existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : null },
        shadowDbInitScript: '',
        migrationDirectories: migrationNames().map((name) => ({
          path: name,
          migrationFile: {
            path: 'migration.sql',
            content: { tag: 'ok', value: readFileSync(join(MIGRATIONS_DIR, name, 'migration.sql'), 'utf8') },
          },
        })),
      },
      filters: noFilters,
    }),
  );
  for (const name of appliedMigrationNames) log?.(`applied migration ${name}`);
  return appliedMigrationNames;
}
