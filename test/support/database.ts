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

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh copy of the migrated template for one test file. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = testDatabaseName();
  const template = templateDatabase(inject('testRunId'));
  for (let attempt = 1; ; attempt++) {
    try {
      await admin((client) => client.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`));
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
    drop: () => admin(async (client) => void (await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}

/** A direct connection for assertions that must not go through the code under test. */
export async function sql<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}
