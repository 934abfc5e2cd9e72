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

export interface QueueSettings {
  databaseUrl: string;
  /** How often an idle worker looks for due jobs. */
  pollMs: number;
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
   * Runs `handler` for jobs of `name`, `concurrency` at a time on this instance (its workers start
   * spread over the first poll interval). A handler that throws fails the job, which pg-boss
   * retries per the queue's retry settings.
   */
  work<T extends object>(name: string, concurrency: number, handler: (job: PgBoss.Job<T>) => Promise<void>): Promise<void>;
  /** Wakes this instance's idle workers of `name` now, instead of at their next poll. */
  wake(name: string): void;
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
  const boss = new PgBoss({
    connectionString: settings.databaseUrl,
    application_name: 'salon-jobs',
    max: 4,
    pollingIntervalSeconds: settings.pollMs / 1000,
    maintenanceIntervalSeconds: settings.maintenanceS ?? 30,
  });
  boss.on('error', (error: Error) => logger.warn({ err: error }, 'job queue error'));
  await boss.start();
  for (const [name, options] of Object.entries(queues)) await ensureQueue(boss, name, options);
  const workers = new Map<string, string[]>();
  /** Workers still to start (see `work`), cleared by `stop`. */
  const starting = new Set<NodeJS.Timeout>();
  let stopping = false;

  return {
    async insertIn(tx, jobs) {
      if (jobs.length > 0) await boss.insert(jobs, { db: executorOf(tx) });
    },
    async insert(jobs) {
      if (jobs.length > 0) await boss.insert(jobs);
    },
    async work<T extends object>(name: string, concurrency: number, handler: (job: PgBoss.Job<T>) => Promise<void>) {
      const ids: string[] = [];
      workers.set(name, ids);
      // One pg-boss worker per slot, one job each: a slow job (a partner that hangs) holds its
      // slot only, never a batch of others.
      const start = async () => {
        let id = '';
        id = await boss.work<T>(name, { batchSize: 1 }, async ([job]) => {
          if (!job) return;
          try {
            await handler(job);
          } finally {
            // pg-boss 10 waits a whole poll interval after each job unless notified: a worker that
            // just had work fetches again at once, and waits only when the queue is empty.
            boss.notifyWorker(id);
          }
        });
        ids.push(id);
      };
      await start();
      // The others a slot of the poll interval apart. Started together, they stay in step (each
      // waits the interval less its fetch), and every poll was `concurrency` fetches at once: an
      // idle instance's sixteen webhook workers made a burst of sixteen statements every two
      // seconds, which the sends and deliveries that came meanwhile waited behind.
      for (let i = 1; i < concurrency; i++) {
        const timer = setTimeout(
          () => {
            starting.delete(timer);
            if (!stopping) start().catch((error: unknown) => logger.warn({ err: error, queue: name }, 'job worker did not start'));
          },
          Math.round((i * settings.pollMs) / concurrency),
        );
        starting.add(timer);
      }
    },
    async schedule(name, cron) {
      await boss.schedule(name, cron, {});
    },
    wake(name) {
      for (const id of workers.get(name) ?? []) boss.notifyWorker(id);
    },
    async stop() {
      stopping = true;
      for (const timer of starting) clearTimeout(timer);
      starting.clear();
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
