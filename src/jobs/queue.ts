/**
 * The PostgreSQL job queue (pg-boss): durable jobs in the same database, shared by every
 * instance without double work (SKIP LOCKED), no server to run. A job whose worker died
 * (process killed mid-job) is failed by pg-boss's supervisor once its `expireInSeconds` has passed,
 * and retried: a crash costs a delay, never the job.
 *
 * pg-boss 10: the last major that runs on Node 20. Its schema (`pgboss`) and our queues are
 * installed by `migrateDatabase` (installJobQueue below); a starting instance only checks them.
 */
import PgBoss from 'pg-boss';
import type { Tx } from '../db.js';
import { idleConnectionOptions } from '../db/pool-options.js';
import { logger } from '../logger.js';

/** Every queue of the application (created by the migration, configured by each instance at start). */
export const QUEUES = {
  webhookDelivery: 'webhook-delivery',
  eventPrune: 'event-prune',
  uploadPrune: 'upload-prune',
  appointmentReminder: 'appointment-reminder',
} as const;

/**
 * Installs (or migrates) pg-boss's schema and creates the queues: part of `migrateDatabase`, so a
 * database ready for the API is ready for its jobs, and a starting instance only checks.
 */
export async function installJobQueue(databaseUrl: string): Promise<void> {
  const boss = new PgBoss({ connectionString: databaseUrl, application_name: 'salon-migrate', max: 1, supervise: false, schedule: false });
  boss.on('error', (error: Error) => logger.warn({ err: error }, 'job queue error'));
  await boss.start();
  try {
    for (const name of Object.values(QUEUES)) await ensureQueue(boss, name, {});
  } finally {
    await boss.stop({ graceful: false, wait: true });
  }
}

async function ensureQueue(boss: PgBoss, name: string, options: Omit<PgBoss.Queue, 'name'>): Promise<void> {
  if (await boss.getQueue(name)) {
    if (Object.keys(options).length > 0) await boss.updateQueue(name, { name, ...options });
    return;
  }
  try {
    await boss.createQueue(name, { name, ...options });
  } catch (error) {
    // Another instance created it between the check and here.
    if (!(await boss.getQueue(name))) throw error;
  }
}

/**
 * The workers of one queue on this instance. Polling each at `pollMs` cost a fetch statement per
 * worker per interval: an idle instance's sixteen webhook workers made eight a second, most of
 * an idle instance's PostgreSQL time. So every `pollMs` one idle worker, in turn, looks for due
 * jobs; a worker that takes a job has another idle one look for the next at once (a burst
 * engages every worker one fetch after another); a job inserted here to start within `pollMs`
 * gets a look when due (`wakeWhenDue`); and each worker's own pg-boss poll, every
 * `pollMs` × (concurrency + 1), is only a safety net. A job inserted by another instance, or due
 * later, is found within `pollMs` (before, with sixteen workers, within about a sixteenth of it).
 */
interface WorkerPool {
  ids: string[];
  /** Workers running a job: notifying them would only make them fetch again once done, as they do anyway. */
  busy: Set<string>;
  /** Whose turn it is to be woken. */
  next: number;
}

export interface QueueSettings {
  databaseUrl: string;
  /** How often an instance looks for due jobs of each queue (one idle worker, in turn). */
  pollMs: number;
  /** Closes a connection idle this long (milliseconds); 0, the default, keeps it: DATABASE_POOL_IDLE_TIMEOUT_MS. */
  idleTimeoutMs?: number;
  /** How often expired (crashed) jobs are looked for; pg-boss coordinates it across instances. */
  maintenanceS?: number;
  /** How long a stop waits for running jobs. */
  stopTimeoutMs: number;
}

export interface JobQueue {
  /** Adds jobs inside the caller's transaction: they exist if, and only if, it commits. */
  insertIn(tx: Tx, jobs: PgBoss.JobInsert[]): Promise<void>;
  /** Adds jobs on their own (after a commit); a singletonKey already waiting in a 'short' queue is skipped. */
  insert(jobs: PgBoss.JobInsert[]): Promise<void>;
  /**
   * Runs `handler` for jobs of `name`, `concurrency` at a time on this instance. An idle queue is
   * looked at about once per `pollMs` whatever its concurrency (see WorkerPool). A handler that
   * throws fails the job, which pg-boss retries per the queue's retry settings.
   */
  work<T extends object>(name: string, concurrency: number, handler: (job: PgBoss.Job<T>) => Promise<void>): Promise<void>;
  /** Has up to `jobs` of this instance's idle workers of `name` fetch now (one per job just added), instead of at the next look. */
  wake(name: string, jobs: number): void;
  /** Runs a job of `name` on the cron schedule (UTC), once per tick across all instances. */
  schedule(name: string, cron: string): Promise<void>;
  stop(): Promise<void>;
}

/** pg-boss runs its SQL through this inside a Prisma transaction. */
function executorOf(tx: Tx): PgBoss.Db {
  return {
    async executeSql(text: string, values: unknown[]) {
      const rows = await tx.$queryRawUnsafe<Record<string, unknown>[]>(text, ...values.map((value) => value ?? null));
      return { rows };
    },
  };
}

export async function startJobQueue(settings: QueueSettings, queues: Record<string, Omit<PgBoss.Queue, 'name'>>): Promise<JobQueue> {
  // pg-boss hands its options on to node-postgres' Pool (its types name only some of them): idle
  // connections are treated as the API's pool treats them.
  const boss = new PgBoss({
    ...idleConnectionOptions(settings.idleTimeoutMs),
    connectionString: settings.databaseUrl,
    application_name: 'salon-jobs',
    max: 4,
    pollingIntervalSeconds: settings.pollMs / 1000,
    maintenanceIntervalSeconds: settings.maintenanceS ?? 30,
  });
  boss.on('error', (error: Error) => logger.warn({ err: error }, 'job queue error'));
  await boss.start();
  for (const [name, options] of Object.entries(queues)) await ensureQueue(boss, name, options);
  const pools = new Map<string, WorkerPool>();
  /** Each queue's timer that has an idle worker look for due jobs every `pollMs`, cleared by `stop`. */
  const lookouts = new Set<NodeJS.Timeout>();
  /** Timers of `wakeWhenDue`, cleared by `stop`. */
  const dueSoon = new Set<NodeJS.Timeout>();
  /**
   * A job inserted here to start before the next look (a webhook attempt deferred by 50–200 ms, a
   * retry in a fraction of a second) has an idle worker fetch it when it is due. In a transaction,
   * the wake may come before the commit: the job then waits for the next look, as one inserted by
   * another instance does.
   */
  const wakeWhenDue = (jobs: PgBoss.JobInsert[]) => {
    for (const job of jobs) {
      const pool = pools.get(job.name);
      if (!pool || !(job.startAfter instanceof Date)) continue;
      const inMs = job.startAfter.getTime() - Date.now();
      if (inMs <= 0 || inMs >= settings.pollMs) continue;
      // A few ms late rather than early: due is `startAfter < now()` on PostgreSQL's clock.
      const timer = setTimeout(() => {
        dueSoon.delete(timer);
        wakeIdle(pool, 1);
      }, inMs + 5);
      timer.unref();
      dueSoon.add(timer);
    }
  };
  /** Has up to `count` idle workers of `pool` fetch now, taking turns. */
  const wakeIdle = (pool: WorkerPool, count: number) => {
    for (let tried = 0; tried < pool.ids.length && count > 0; tried++) {
      const id = pool.ids[pool.next++ % pool.ids.length]!;
      if (pool.busy.has(id)) continue;
      boss.notifyWorker(id);
      count--;
    }
  };
  let stopping = false;

  return {
    async insertIn(tx, jobs) {
      if (jobs.length > 0) await boss.insert(jobs, { db: executorOf(tx) });
      wakeWhenDue(jobs);
    },
    async insert(jobs) {
      if (jobs.length > 0) await boss.insert(jobs);
      wakeWhenDue(jobs);
    },
    async work<T extends object>(name: string, concurrency: number, handler: (job: PgBoss.Job<T>) => Promise<void>) {
      const pool: WorkerPool = { ids: [], busy: new Set(), next: 0 };
      pools.set(name, pool);
      // Each worker's own poll is only a safety net when there are several (see WorkerPool), a
      // little longer than a round of the lookout's turns so that the lookout's notify comes first.
      const intervalMs = concurrency > 1 ? settings.pollMs * (concurrency + 1) : settings.pollMs;
      // One pg-boss worker per slot, one job each: a slow job (a partner that hangs) holds its
      // slot only, never a batch of others.
      const start = async () => {
        let id = '';
        id = await boss.work<T>(name, { batchSize: 1, pollingIntervalSeconds: intervalMs / 1000 }, async ([job]) => {
          if (!job) return;
          pool.busy.add(id);
          // More may be due: an idle worker looks for the next one now.
          wakeIdle(pool, 1);
          try {
            await handler(job);
          } finally {
            pool.busy.delete(id);
            // pg-boss 10 waits a whole poll interval after each job unless notified: a worker that
            // just had work fetches again at once, and waits only when the queue is empty.
            boss.notifyWorker(id);
          }
        });
        pool.ids.push(id);
      };
      // All at once: the lookout's turns (one notify each, which restarts that worker's wait)
      // soon spread their safety polls.
      for (let i = 0; i < concurrency && !stopping; i++) await start();
      if (stopping) return;
      if (concurrency > 1) {
        const lookout = setInterval(() => wakeIdle(pool, 1), settings.pollMs);
        lookout.unref();
        lookouts.add(lookout);
      }
    },
    async schedule(name, cron) {
      await boss.schedule(name, cron, {});
    },
    wake(name, jobs) {
      const pool = pools.get(name);
      if (pool) wakeIdle(pool, jobs);
    },
    async stop() {
      stopping = true;
      for (const timer of lookouts) clearInterval(timer);
      lookouts.clear();
      for (const timer of dueSoon) clearTimeout(timer);
      dueSoon.clear();
      // Graceful: running jobs finish (a delivery is bounded by its timeout) before the pool
      // closes; whatever still runs after `stopTimeoutMs` is failed, hence retried.
      try {
        await boss.stop({ graceful: true, timeout: settings.stopTimeoutMs });
      } catch (error) {
        logger.warn({ err: error }, 'job queue did not stop cleanly');
      }
    },
  };
}
