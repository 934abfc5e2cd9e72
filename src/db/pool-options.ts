import type pg from 'pg';

/** TCP keepalive probes on a pooled connection once it has been idle this long. */
export const POOL_KEEPALIVE_AFTER_MS = 30_000;

/**
 * What every pool of the process (the API's in src/db.ts, the job queue's) does with idle
 * connections. Kept, by default (DATABASE_POOL_IDLE_TIMEOUT_MS = 0): node-postgres closes one idle
 * for 10 s, and after a burst (a reconnect storm resuming thousands of cursors) that closed dozens
 * at once: in bench:fanout, two instances with pools of 20 and PostgreSQL on the same 2 vCPU, both
 * instances' event loops stalled for 20–153 ms as the backends exited, and each later burst paid
 * for new backends, each preparing the send's statement again. A pool that keeps what it opened, up
 * to its `max`, pays that once.
 *
 * With TCP keepalive: a connection kept for hours between bursts must not be forgotten by a NAT or
 * load balancer on the way, which drops a flow idle for minutes (Azure's load balancer after 4 by
 * default, AWS' NAT gateway after 350 s): the next statement on it would then fail on a reset, or
 * hang where the flow is dropped silently. The probes keep the flow alive, and a connection whose
 * peer is gone is found by them and dropped from the pool while idle. (They do not help a
 * statement already sent into a dead path: that waits for TCP's retransmissions to give up.)
 *
 * A module of its own: the job queue, which `db:migrate` loads, needs it without the Prisma client.
 */
export function idleConnectionOptions(idleTimeoutMs = 0): Pick<pg.PoolConfig, 'idleTimeoutMillis' | 'keepAlive' | 'keepAliveInitialDelayMillis'> {
  return { idleTimeoutMillis: idleTimeoutMs, keepAlive: true, keepAliveInitialDelayMillis: POOL_KEEPALIVE_AFTER_MS };
}
