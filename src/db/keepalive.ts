/**
 * TCP keepalive on every pooled connection (the API's in src/db.ts and the job queue's) once idle
 * this long. A connection is kept for hours between bursts, and a NAT or load balancer on the way
 * forgets a flow idle for minutes (Azure's load balancer after 4 by default, AWS' NAT gateway after
 * 350 s): the next statement on it would then fail on a reset, or hang where the flow is dropped
 * silently. The probes keep the flow alive, and a connection whose peer is gone is found by them
 * and dropped from the pool while idle. (They do not help a statement already sent into a dead
 * path: that waits for TCP's retransmissions to give up.) A leaf module: the job queue, which
 * `db:migrate` loads, needs it without loading the Prisma client.
 */
export const POOL_KEEPALIVE_AFTER_MS = 30_000;
