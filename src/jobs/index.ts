/**
 * The instance's background work: on the shared job queue, partner webhook deliveries, appointment
 * reminders (a reminder is a message like any other: its offline notification comes from the
 * notifier's sweep) and the hourly prunes of the event log and of unused uploads; beside it, the
 * notifier's sweep. Started once the database is connected;
 * stopped before it is closed, letting running jobs finish for up to JOB_STOP_WAIT_MS.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Config } from '../config.js';
import type { EventBus } from '../events/bus.js';
import { pruneEvents } from '../events/log.js';
import { announce } from '../events/publish.js';
import type { Metrics } from '../observability.js';
import { sendReminder, type ReminderJob } from '../services/appointments.js';
import { pruneUploads } from '../services/uploads.js';
import { logger } from '../logger.js';
import type { Notifier } from '../notifications/index.js';
import { deliveryQueueOptions, type Webhooks } from '../webhooks/index.js';
import { QUEUES, startJobQueue, type JobQueue } from './queue.js';

/** Every hour at minute 17 (UTC): once per hour across all instances, off the top of the hour. */
const PRUNE_CRON = '17 * * * *';
/** Unused uploads: every hour at minute 47, away from the event prune. */
const UPLOAD_PRUNE_CRON = '47 * * * *';
/** The longest a stop waits for running jobs and for the notifier's sweep (see `stop` below). */
const JOB_STOP_WAIT_MS = 3_000;

export interface Jobs {
  start(databaseUrl: string): Promise<void>;
  stop(): Promise<void>;
}

export function createJobs(config: Config, webhooks: Webhooks, bus: EventBus, metrics: Metrics, notifier: Notifier): Jobs {
  let queue: JobQueue | undefined;
  return {
    async start(databaseUrl) {
      const delivery = deliveryQueueOptions(config.webhooks);
      queue = await startJobQueue(
        {
          databaseUrl,
          pollMs: config.jobPollMs,
          idleTimeoutMs: config.databasePoolIdleTimeoutMs,
          // Crashed attempts are found about as soon as their job expires.
          maintenanceS: Math.max(1, Math.min(30, delivery.expireInSeconds)),
          // A shutdown has 10 s in all (src/server.ts), up to 5 s of them for HTTP requests in
          // flight: a delivery attempt still waiting on its receiver after 3 s is failed, hence
          // retried with the same webhook-id, rather than outlasting the budget (exit 1).
          stopTimeoutMs: Math.min(config.webhooks.timeoutMs + 1_000, JOB_STOP_WAIT_MS),
        },
        {
          [QUEUES.webhookDelivery]: delivery,
          [QUEUES.eventPrune]: { retryLimit: 3, retryDelay: 60 },
          [QUEUES.uploadPrune]: { retryLimit: 3, retryDelay: 60 },
          [QUEUES.appointmentReminder]: { retryLimit: 5, retryDelay: 10, retryBackoff: true },
        },
      );
      await webhooks.start(queue);
      notifier.start();
      await queue.work<ReminderJob>(QUEUES.appointmentReminder, 2, async (job) => {
        const outcome = await sendReminder(job.data, config.timeZone);
        if (outcome.result === 'sent') metrics.remindersSent.inc();
        else metrics.remindersSkipped.inc({ reason: outcome.result });
        logger.info({ appointmentId: job.data.appointmentId, startsAt: job.data.startsAt, result: outcome.result }, 'appointment reminder');
        await announce(bus, outcome);
        webhooks.wake(outcome.logged.map((row) => row.userId));
      });
      await queue.schedule(QUEUES.eventPrune, PRUNE_CRON);
      await queue.work(QUEUES.eventPrune, 1, async () => {
        const deleted = await pruneEvents(config.eventRetentionDays);
        if (deleted > 0) logger.info({ deleted, retentionDays: config.eventRetentionDays }, 'event log pruned');
      });
      await queue.schedule(QUEUES.uploadPrune, UPLOAD_PRUNE_CRON);
      await queue.work(QUEUES.uploadPrune, 1, async () => {
        const deleted = await pruneUploads();
        if (deleted > 0) logger.info({ deleted }, 'unused uploads deleted');
      });
    },
    async stop() {
      await webhooks.stop();
      // The notifier and the queue stop side by side, each waiting at most JOB_STOP_WAIT_MS. A sweep
      // held by a push service or a mail relay that stopped answering (timeouts of 10 to 30 s) is
      // not waited for longer: what it was sending is lost, as in a crash between its claim and the
      // answer (at most once: see notifications/index.ts).
      await Promise.all([Promise.race([notifier.stop(), delay(JOB_STOP_WAIT_MS, undefined, { ref: false })]), queue?.stop()]);
    },
  };
}
