import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { TEMPLATE_DB, withDatabase } from './database.js';
import { canConnect, startEmbeddedPostgres } from '../../src/db/embedded.js';
import { migrateDatabase } from '../../src/db/migrations.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}

/**
 * Migrates one template database per run; each test file then copies it (CREATE DATABASE …
 * TEMPLATE), which takes milliseconds. With no PostgreSQL on 127.0.0.1:5432 the embedded one is used.
 */
export default async function setup(project: TestProject) {
  let adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!(await canConnect(adminUrl))) {
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
