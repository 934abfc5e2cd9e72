import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectDb, direct, disconnectDb, type DbOptions } from '../src/db.js';
import { POOL_KEEPALIVE_AFTER_MS } from '../src/db/pool-options.js';
import { Prisma } from '../src/generated/prisma/client.js';
import { logger } from '../src/logger.js';
import { createTestDatabase } from './support/database.js';

/**
 * The API's pool keeps the connections it opened (DATABASE_POOL_IDLE_TIMEOUT_MS, 0 by default),
 * with TCP keepalive. node-postgres's own default closes one idle for 10 s: after a reconnect
 * storm in bench:fanout, dozens at once, and both instances stalled as their backends exited.
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

/** Connections to this file's database other than the probe's own: backend pids and the client side's ports. */
async function poolBackends(): Promise<{ pid: number; port: number }[]> {
  const { rows } = await probe.query<{ pid: number; port: number }>(
    `SELECT pid, client_port AS port FROM pg_stat_activity WHERE datname = current_database() AND application_name <> $1 ORDER BY pid`,
    [PROBE],
  );
  return rows;
}

/** How many connections to this file's database there are, the probe's own aside. */
const poolConnections = async () => (await poolBackends()).length;

/** Seconds left on the keepalive timer of our socket with local port `port`, as `ss -o` shows it. */
function keepaliveSeconds(port: number): number {
  const line = execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  const timer = /timer:\(keepalive,([\d.]+)(ms|sec|min)/.exec(line);
  if (!timer) throw new Error(`no keepalive timer on port ${port}: ${line.trim()}`);
  return Number(timer[1]) * { ms: 0.001, sec: 1, min: 60 }[timer[2] as 'ms' | 'sec' | 'min'];
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
    await withPool({ poolSize: 5, idleTimeoutMs: 1_000 }, async () => {
      await burst(5);
      expect(await poolConnections()).toBe(5);
      await expect.poll(poolConnections, { timeout: 5_000, interval: 100 }).toBe(0);
    });
  });

  it('by default, connections idle for longer than node-postgres closes them (10 s) stay open, with TCP keepalive', { timeout: 20_000 }, async () => {
    await withPool({ poolSize: 5 }, async () => {
      await burst(5);
      const opened = await poolBackends();
      expect(opened).toHaveLength(5);
      // The kernel's view of each connection's socket on our side (ss, Linux; the connections are
      // TCP to 127.0.0.1): a keepalive timer of at most 30 s, so that a NAT or load balancer on
      // the way does not forget a connection kept idle for long (the kernel's default is 2 hours).
      for (const { port } of opened) {
        expect(port).toBeGreaterThan(0);
        expect(keepaliveSeconds(port)).toBeLessThanOrEqual(POOL_KEEPALIVE_AFTER_MS / 1000);
      }
      // A time to let pass, not a condition to wait for: node-postgres's default would close
      // them at 10 s.
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      expect(await poolBackends()).toEqual(opened);
      // And they serve the next burst: no new backend.
      await burst(5);
      expect(await poolBackends()).toEqual(opened);
    });
  });

  it('idle connections the server ends are dropped without ending the process, and later statements get new ones', async () => {
    await withPool({ poolSize: 3 }, async () => {
      // Only `direct` statements: Prisma, whose adapter also listens for such errors, never connects.
      await burst(3);
      const warn = vi.spyOn(logger, 'warn');
      try {
        await probe.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name <> $1`, [PROBE]);
        // The pool reads each end as an error of an idle client (logged), and drops it.
        const ended = () => warn.mock.calls.filter(([, message]) => message === 'database: an idle pooled connection ended').length;
        await expect.poll(ended, { timeout: 5_000, interval: 20 }).toBe(3);
        expect(warn.mock.calls.find(([, message]) => message === 'database: an idle pooled connection ended')?.[0]).toMatchObject({ code: '57P01' });
        const [row] = await direct<{ ok: number }>(Prisma.sql`SELECT 1 AS ok`);
        expect(row?.ok).toBe(1);
        // A terminated backend leaves pg_stat_activity after its exit hooks, a little after its last message.
        await expect.poll(poolConnections, { timeout: 5_000, interval: 50 }).toBe(1);
      } finally {
        warn.mockRestore();
      }
    });
  });
});
