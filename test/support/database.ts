import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/**
 * Every database of a run is named `salon_test_<pid of the vitest process>_…`, so two checkouts
 * (or two runs) on one machine sharing one PostgreSQL never drop each other's databases: a run
 * only removes the leftovers of runs whose process is gone.
 */
export const testDatabasePrefix = (runId: number | string) => `salon_test_${runId}_`;
export const templateDatabase = (runId: number | string) => `${testDatabasePrefix(runId)}template`;

/** A database name of this run, for tests that create databases of their own. */
export function testDatabaseName(suffix = randomBytes(6).toString('hex')): string {
  return `${testDatabasePrefix(inject('testRunId'))}${suffix}`;
}

export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/**
 * The helpers' connections, kept by URL for a few seconds between statements: a new PostgreSQL
 * connection costs about 25 ms of CPU on the 2-core machines CI runs on (a backend forked and
 * set up), and the helpers used to open one per statement (a run opened 1,455 connections in
 * all, apps and spawned servers included). Idle ones end by
 * themselves (and let the worker exit); one that PostgreSQL ends (a file's DROP DATABASE … WITH
 * (FORCE), a test terminating backends) is dropped from its pool, which opens another when asked.
 */
const pools = new Map<string, pg.Pool>();

function pooled(url: string): pg.Pool {
  let pool = pools.get(url);
  if (!pool) {
    pool = new pg.Pool({ connectionString: url, max: 5, idleTimeoutMillis: 5_000, allowExitOnIdle: true, application_name: 'salon-test-helper' });
    pool.on('error', () => {});
    pools.set(url, pool);
  }
  return pool;
}

function admin() {
  return pooled(inject('adminDatabaseUrl'));
}

/** A fresh copy of the migrated template for one test file. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = testDatabaseName();
  const template = templateDatabase(inject('testRunId'));
  for (let attempt = 1; ; attempt++) {
    try {
      await admin().query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
      break;
    } catch (error) {
      // Two files copying the template at the same instant: PostgreSQL refuses one; try again.
      if (attempt >= 20 || !/being accessed by other users/.test(String(error))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
    }
  }
  const url = withDatabase(inject('adminDatabaseUrl'), name);
  return {
    url,
    drop: async () => {
      const pool = pools.get(url);
      pools.delete(url);
      // FORCE first: it ends a helper statement still waiting (on a lock, say), which the pool's
      // end would otherwise wait for.
      await admin().query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await pool?.end();
    },
  };
}

/** A statement on the helpers' own connections (not the app's), for assertions that must not go through the code under test. */
export async function sql<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  return (await pooled(url).query<T>(text, values)).rows;
}
