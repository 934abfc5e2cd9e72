/**
 * Partner webhooks on one instance: fans out owners' new events after each commit made here,
 * sweeps every few seconds for what a crash between commit and fan-out left behind, and runs the
 * delivery workers of the shared job queue. An endpoint created (or re-enabled) on one instance
 * is announced to all of them, so a commit on any instance fans it out at once, not at the next
 * sweep.
 */
import type { Config } from '../config.js';
import { db } from '../db.js';
import type { EventBus } from '../events/bus.js';
import { topics } from '../events/topics.js';
import type { JobQueue } from '../jobs/queue.js';
import { logger } from '../logger.js';
import type { Metrics } from '../observability.js';
import { leaseMs, runDeliveryJob } from './deliver.js';
import { DELIVERY_QUEUE, fanOut, type DeliveryJob } from './fanout.js';

/**
 * How the delivery queue is configured: a job that fails is an attempt that could not even be
 * recorded (the database away, the process killed mid-attempt and its job expired): retried every
 * few seconds. The retry schedule partners see is ours (deliver.ts), not the queue's.
 */
export function deliveryQueueOptions(config: Config['webhooks']) {
  return { retryLimit: 100, retryDelay: 2, expireInSeconds: Math.ceil(leaseMs(config) / 1000) + 1 };
}

export interface Webhooks {
  /** Starts the fan-out and, unless WEBHOOK_WORKERS=false, the delivery workers on `queue`. */
  start(queue: JobQueue): Promise<void>;
  /** After a commit: these users' logs grew. Owners of endpoints are fanned out, the others cost nothing. */
  wake(userIds: Iterable<string>): void;
  /**
   * `ownerId` has an enabled endpoint now (created or re-enabled on this instance): this instance
   * and, over the event bus, the others fan out its events from then on. An instance the
   * announcement misses (Redis away) learns it at its next sweep.
   */
  watch(ownerId: string): void;
  /** The queue, once started (the retry mutation adds jobs through it). */
  queue(): JobQueue;
  stop(): Promise<void>;
}

export function createWebhooks(config: Config, bus: EventBus, metrics: Metrics): Webhooks {
  let queue: JobQueue | undefined;
  let owners = new Set<string>();
  /**
   * Owners learned since the latest sweep began: its rows may have been read before their endpoint
   * committed, and must not drop them. Sweeps are numbered, and only the latest replaces `owners`.
   */
  let learned = new Set<string>();
  let sweeps = 0;
  let sweeper: NodeJS.Timeout | undefined;
  let unlisten: (() => void) | undefined;
  let stopReconnect: (() => void) | undefined;
  let stopped = false;
  /** Per owner: the fan-out running now, and whether another must follow it (a commit came meanwhile). */
  const running = new Map<string, { again: boolean; done: Promise<void> }>();

  const fanOutOwner = (ownerId: string) => {
    if (!queue || stopped) return;
    const current = running.get(ownerId);
    if (current) {
      current.again = true;
      return;
    }
    const state = { again: false, done: Promise.resolve() };
    state.done = (async () => {
      do {
        state.again = false;
        try {
          const jobs = await fanOut(queue, ownerId);
          if (jobs > 0) queue.wake(DELIVERY_QUEUE, jobs);
        } catch (error) {
          // The sweep picks it up again.
          logger.warn({ err: error, ownerId }, 'webhook fan-out failed');
          return;
        }
      } while (state.again && !stopped);
    })().finally(() => running.delete(ownerId));
    running.set(ownerId, state);
  };

  /**
   * `ownerId` has an enabled endpoint: fanned out from now on, and once now, for an event that
   * committed here between the endpoint's commit and this instance hearing of it.
   */
  const learn = (ownerId: string) => {
    owners.add(ownerId);
    learned.add(ownerId);
    fanOutOwner(ownerId);
  };

  const sweep = async () => {
    const number = ++sweeps;
    const since = (learned = new Set());
    try {
      // Marked: statement counts of a request (test/inbox-queries) leave background work out.
      const rows = await db.$queryRaw<{ ownerId: string; behind: boolean }[]>`/* background: webhook sweep */
        SELECT e."ownerId"::text AS "ownerId", bool_or(e."position" < COALESCE(s."lastPosition", 0)) AS "behind"
          FROM "WebhookEndpoint" e LEFT JOIN "UserEventStream" s ON s."userId" = e."ownerId"
         WHERE e."disabledAt" IS NULL
         GROUP BY e."ownerId"`;
      if (number === sweeps) owners = new Set([...rows.map((row) => row.ownerId), ...since]);
      for (const row of rows) if (row.behind) fanOutOwner(row.ownerId);
    } catch (error) {
      logger.warn({ err: error }, 'webhook sweep failed');
    }
  };

  return {
    async start(jobs) {
      queue = jobs;
      const deps = { config: config.webhooks, queue, bus, metrics };
      if (config.webhooks.workers) {
        await queue.work<DeliveryJob>(DELIVERY_QUEUE, config.webhooks.concurrency, (job) => runDeliveryJob(deps, job.data));
      }
      if (stopped) return;
      // Not waited for: with Redis away, SUBSCRIBE waits for it, and the instance must start
      // without it. Until it is live, and whatever an outage loses, the sweep finds from the table.
      bus.listen(topics.webhookOwners, ({ ownerId }) => learn(ownerId)).then(
        (remove) => (stopped ? remove() : (unlisten = remove)),
        (error: unknown) => logger.warn({ err: error }, 'webhook endpoint announcements not received; the sweep finds new endpoints'),
      );
      stopReconnect = bus.onReconnect(() => void sweep());
      await sweep();
      if (stopped) return;
      sweeper = setInterval(() => void sweep(), config.webhooks.sweepMs);
      sweeper.unref();
    },
    wake(userIds) {
      for (const userId of new Set(userIds)) if (owners.has(userId)) fanOutOwner(userId);
    },
    watch(ownerId) {
      learn(ownerId);
      // Not waited for, as a send's wake-ups are not (src/schema/live.ts): the mutation must not
      // wait on Redis.
      bus.publish(topics.webhookOwners, { ownerId }).catch((error: unknown) => {
        logger.warn({ err: error, ownerId }, 'webhook endpoint announcement failed; other instances learn it at their next sweep');
      });
    },
    queue() {
      if (!queue) throw new Error('webhooks are not started');
      return queue;
    },
    async stop() {
      stopped = true;
      clearInterval(sweeper);
      unlisten?.();
      stopReconnect?.();
      await Promise.allSettled([...running.values()].map((state) => state.done));
    },
  };
}
