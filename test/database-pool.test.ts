import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDb, direct, disconnectDb, type DbOptions } from '../src/db.js';
import { Prisma } from '../src/generated/prisma/client.js';
import { createTestDatabase } from './support/database.js';

/**
 * The API's pool keeps the connections it opened (DATABASE_POOL_IDLE_TIMEOUT_MS, 0 by default).
 * node-postgres's own default closes one idle for 10 s: after a reconnect storm, dozens at once,
 * whose backends' exits stalled every send for up to 100 ms in bench:fanout.
 */
const PROBE = 'database-pool-test';
let database: { url: string; drop(): Promise<void> };
let probe: pg.Client;

beforeAll(async () => {
  database = await createTestDatabase();
  probe = new pg.Client({ connectionString: database.url, application_name: PROBE });
  await probe.connect();
});

afterAll(async () => {
  await probe?.end();
  await database?.drop();
});

/** Connections to this file's database other than the probe's own. */
async function poolConnections(): Promise<number> {
  const { rows } = await probe.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name <> $1`,
    [PROBE],
  );
  return rows[0]!.n;
}

/** Holds `count` connections of the pool at once, as a burst of statements does. */
async function burst(count: number) {
  await Promise.all(Array.from({ length: count }, () => direct(Prisma.sql`SELECT pg_sleep(0.2)`)));
}

/**
 * Runs `work` with the process's client connected with `options`, then disconnects and waits for
 * the backends to be gone: ending the pool does not wait for them, and the database is dropped
 * after this file (WITH FORCE: a connection still open then errs on its client).
 */
async function withPool(options: DbOptions, work: () => Promise<void>) {
  connectDb(database.url, options);
  try {
    await work();
  } finally {
    await disconnectDb();
    await expect.poll(poolConnections, { timeout: 5_000, interval: 50 }).toBe(0);
  }
}

describe('pooled connections (DATABASE_POOL_IDLE_TIMEOUT_MS)', () => {
  it('a positive timeout closes the connections idle that long', async () => {
    await withPool({ poolSize: 5, idleTimeoutMs: 200 }, async () => {
      await burst(5);
      expect(await poolConnections()).toBe(5);
      await expect.poll(poolConnections, { timeout: 5_000, interval: 100 }).toBe(0);
    });
  });

  it('by default, connections idle for longer than node-postgres closes them (10 s) stay open', { timeout: 20_000 }, async () => {
    await withPool({ poolSize: 5 }, async () => {
      await burst(5);
      expect(await poolConnections()).toBe(5);
      // A time to let pass, not a condition to wait for: node-postgres's default would close
      // them at 10 s.
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      expect(await poolConnections()).toBe(5);
      // And they serve the next burst: no new backend.
      const { rows: before } = await probe.query<{ pids: number[] }>(
        `SELECT array_agg(pid ORDER BY pid) AS pids FROM pg_stat_activity WHERE datname = current_database() AND application_name <> $1`,
        [PROBE],
      );
      await burst(5);
      const { rows: after } = await probe.query<{ pids: number[] }>(
        `SELECT array_agg(pid ORDER BY pid) AS pids FROM pg_stat_activity WHERE datname = current_database() AND application_name <> $1`,
        [PROBE],
      );
      expect(after[0]!.pids).toEqual(before[0]!.pids);
    });
  });

  it('idle connections the server ends are dropped without ending the process, and later statements get new ones', async () => {
    await withPool({ poolSize: 3 }, async () => {
      // Only `direct` statements: Prisma, whose adapter also listens for such errors, never connects.
      await burst(3);
      await probe.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name <> $1`, [PROBE]);
      await expect.poll(poolConnections, { timeout: 5_000, interval: 50 }).toBe(0);
      // A statement sent before the pool has read a connection's end can still meet it and fail, as
      // after any restart of PostgreSQL; the pool drops that connection, and a later statement
      // gets a new one.
      const selectOne = () => direct<{ ok: number }>(Prisma.sql`SELECT 1 AS ok`).then(([row]) => row?.ok, (error: Error) => error.message);
      await expect.poll(selectOne, { timeout: 5_000, interval: 50 }).toBe(1);
    });
  });
});
