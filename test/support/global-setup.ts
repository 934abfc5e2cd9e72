import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { migrateDatabase } from '../../src/db/migrations.js';

export const TEMPLATE_DB = 'salon_test_template';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/**
 * Migrates one template database per run; each test file then copies it (CREATE DATABASE …
 * TEMPLATE), which takes milliseconds. With no PostgreSQL on 127.0.0.1:5432 the embedded one is used.
 */
export default async function setup(project: TestProject) {
  let adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!(await reachable(adminUrl))) {
    if (process.env.TEST_DATABASE_ADMIN_URL) throw new Error(`TEST_DATABASE_ADMIN_URL is not reachable: ${adminUrl}`);
    const embedded = await startEmbeddedPostgres({ dataDir: '.data/postgres-test' });
    adminUrl = withDatabase(embedded.url, 'postgres');
    stopEmbedded = embedded.stop;
  }

  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  // Copies left by an interrupted run would only waste space.
  const stale = await admin.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname LIKE 'salon_test_%' AND datname <> $1",
    [TEMPLATE_DB],
  );
  for (const { datname } of stale.rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  await admin.query(`DROP DATABASE IF EXISTS "${TEMPLATE_DB}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${TEMPLATE_DB}"`);
  await admin.end();
  await migrateDatabase(withDatabase(adminUrl, TEMPLATE_DB));

  project.provide('adminDatabaseUrl', adminUrl);
  return async () => {
    await stopEmbedded?.();
  };
}
