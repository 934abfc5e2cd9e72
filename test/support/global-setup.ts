import { execFileSync } from 'node:child_process';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { templateDatabase, withDatabase } from './database.js';
import { canConnect, startEmbeddedPostgres } from '../../src/db/embedded.js';
import { migrateDatabase } from '../../src/db/migrations.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
    /** This run's id (the vitest process), part of every database name of the run. */
    testRunId: number;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
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
  // Databases left by an interrupted run would only waste space; those of a run still going (another
  // checkout's `npm test` on this machine) are left alone.
  const runId = process.pid;
  const template = templateDatabase(runId);
  const existing = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'salon\\_test\\_%'");
  for (const { datname } of existing.rows) {
    const owner = /^salon_test_(\d+)_/.exec(datname)?.[1];
    if (owner && Number(owner) !== runId && isRunning(Number(owner))) continue;
    await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  }
  await admin.query(`CREATE DATABASE "${template}"`);
  await admin.end();
  await migrateDatabase(withDatabase(adminUrl, template));

  // The files that start the real server run it as deployed (`node dist/server.js`), built once
  // here; the build replaces each file whole, so an `npm start` (whose prestart builds) in one file
  // never hands another a half-written module.
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });

  project.provide('adminDatabaseUrl', adminUrl);
  project.provide('testRunId', runId);
  return async () => {
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    const mine = await cleanup.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [`salon_test_${runId}_`]);
    for (const { datname } of mine.rows) await cleanup.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await cleanup.end();
    await stopEmbedded?.();
  };
}
