/**
 * Offline notifications of unread messages: email, Web Push, or the log when neither is
 * configured.
 *
 * When. A message still unread NOTIFY_AFTER_S after it was sent, its recipient offline all along,
 * gets its recipient one notification for the conversation, covering every unread message not yet
 * notified there (a burst of three: "3 nouveaux messages de …").
 *
 * Never twice. Each (recipient, conversation) has a high-water mark, MessageNotification
 * ."notifiedThroughSeq". Whoever notifies first moves it, with a conditional UPDATE (WHERE it is
 * still what was read), and only then sends: of two instances, or of a job and a sweep, exactly
 * one wins. The price is at-most-once: a crash between the claim and the SMTP answer loses that
 * notification rather than risking a second one.
 *
 * Nothing lost. After each send commits, the instance enqueues a pg-boss job per recipient and
 * conversation, due at the deadline (a 'short' queue with singletonKey user:conversation: one job
 * waits per key, so a burst is one job). A crash between the commit and the enqueue, or a SYSTEM
 * message written outside a request, would leave no job: every instance also sweeps
 * every NOTIFY_SWEEP_MS for due, unread, unnotified messages. The job gives the deadline to the
 * poll; the sweep bounds how late a lost one can be.
 *
 * Quiet hours delay: the row's "notifyNotBefore" is set to their end (the sweep skips it until
 * then) and a job is scheduled for that moment.
 */
import type PgBoss from 'pg-boss';
import type { Config } from '../config.js';
import { db } from '../db.js';
import type { Presence } from '../events/presence.js';
import type { AppEvent } from '../events/publish.js';
import type { JobQueue } from '../jobs/queue.js';
import { QUEUES } from '../jobs/queue.js';
import { logger } from '../logger.js';
import type { Metrics } from '../observability.js';
import { recipientOf } from '../services/access.js';
import { notificationSettingsOf } from '../services/notifications.js';
import { displayNameOf } from '../services/profile.js';
import { titleOf, type Burst } from './content.js';
import { createEmailChannel } from './email.js';
import { createPushChannel } from './push.js';
import { quietUntil } from './quiet.js';
import { createUnsubscribeSigner } from './unsubscribe.js';

export type Channel = 'email' | 'push' | 'log';
export type NotificationResult = 'sent' | 'failed' | 'skipped_read' | 'skipped_online' | 'skipped_preference';

export interface NotifyJob {
  userId: string;
  conversationId: string;
  /** The message whose deadline this job is for (0: a quiet-hours wake-up). */
  seq: number;
}

/** The messages a recipient has not read and was not notified of, in one conversation. */
interface Pending {
  prev: number;
  notBefore: Date | null;
  count: number;
  throughSeq: number | null;
  /** The earliest one's deadline has passed (database clock). */
  due: boolean;
  dueAt: Date | null;
  latest: string | null;
  lastSeenAt: Date | null;
  firstAt: Date | null;
}

/** Which messages are for `user`: a SYSTEM message is for the client, a USER message for whoever did not write it. */
const FOR_USER = `CASE WHEN m."kind" = 'SYSTEM' THEN c."clientUserId" = mn."userId" ELSE m."authorId" IS DISTINCT FROM mn."userId" END`;

// Marked `background`: statement counts of requests (tests, benchmarks) leave the notifier's out.
const PENDING_SQL = `/* background: notification check */
  SELECT mn."notifiedThroughSeq" AS "prev", mn."notifyNotBefore" AS "notBefore", u."lastSeenAt",
         count(m."seq")::int AS "count", max(m."seq") AS "throughSeq", min(m."createdAt") AS "firstAt",
         min(m."createdAt") + make_interval(secs => $3) AS "dueAt",
         coalesce(min(m."createdAt") + make_interval(secs => $3) <= now(), false) AS "due",
         (SELECT m2."content" FROM "Message" m2 WHERE m2."conversationId" = mn."conversationId" AND m2."seq" = max(m."seq")) AS "latest"
    FROM "MessageNotification" mn
    JOIN "User" u ON u."id" = mn."userId"
    JOIN "Conversation" c ON c."id" = mn."conversationId"
    LEFT JOIN "Message" m ON m."conversationId" = mn."conversationId" AND m."seq" > mn."notifiedThroughSeq"
         AND m."readAt" IS NULL AND NOT m."isDeleted" AND ${FOR_USER}
   WHERE mn."userId" = $1::uuid AND mn."conversationId" = $2::uuid
   GROUP BY mn."userId", mn."conversationId", mn."notifiedThroughSeq", mn."notifyNotBefore", u."lastSeenAt"`;

/** Due, unread, unnotified messages, whatever their job became (the sweep). */
const DUE_SQL = `/* background: notification sweep */
  SELECT mn."userId"::text AS "userId", mn."conversationId"::text AS "conversationId"
    FROM "MessageNotification" mn
    JOIN "Conversation" c ON c."id" = mn."conversationId"
   WHERE mn."unreadCount" > 0 AND (mn."notifyNotBefore" IS NULL OR mn."notifyNotBefore" <= now())
     AND EXISTS (SELECT 1 FROM "Message" m
                  WHERE m."conversationId" = mn."conversationId" AND m."seq" > mn."notifiedThroughSeq"
                    AND m."readAt" IS NULL AND NOT m."isDeleted" AND ${FOR_USER}
                    AND m."createdAt" <= now() - make_interval(secs => $1))
   LIMIT 100`;

export function createNotifier(config: Config, presence: Presence, metrics: Metrics) {
  const settings = config.notifications;
  const email = settings.smtp ? createEmailChannel(settings.smtp, settings.appUrl) : undefined;
  const push = settings.vapid ? createPushChannel(settings.vapid, settings.appUrl, config.webhooks.allowPrivateNetworks) : undefined;
  const signer = createUnsubscribeSigner(config.jwt.secret);
  let origin = config.uploads.publicUrl ?? `http://localhost:${config.port}`;
  let queue: JobQueue | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> = Promise.resolve();
  let stopped = false;
  /**
   * Wakes this instance's workers when a job it enqueued is due, rather than a poll later: one
   * timer per recipient and conversation (the earliest), as there is one waiting job per key.
   */
  const wakeTimers = new Map<string, { at: number; timer: NodeJS.Timeout }>();

  const count = (channels: readonly Channel[], result: NotificationResult) => {
    for (const channel of channels) metrics.notifications.inc({ channel, result });
  };

  const wakeAt = (key: string, at: number) => {
    const current = wakeTimers.get(key);
    if (stopped || (current && current.at <= at)) return;
    if (current) clearTimeout(current.timer);
    const timer = setTimeout(() => {
      wakeTimers.delete(key);
      queue?.wake(QUEUES.notify);
    }, Math.max(0, at - Date.now()) + 20);
    timer.unref();
    wakeTimers.set(key, { at, timer });
  };

  const enqueue = async (jobs: NotifyJob[], startAfter: Date) => {
    if (!queue || jobs.length === 0) return;
    await queue.insert(
      jobs.map((data) => ({ name: QUEUES.notify, data, singletonKey: `${data.userId}:${data.conversationId}`, startAfter })),
    );
    for (const job of jobs) wakeAt(`${job.userId}:${job.conversationId}`, startAfter.getTime());
  };

  const claim = async (userId: string, conversationId: string, prev: number, through: number) => {
    const claimed = await db.$executeRaw`/* background: notification claim */
      UPDATE "MessageNotification" SET "notifiedThroughSeq" = ${through}, "notifyNotBefore" = NULL
       WHERE "userId" = ${userId}::uuid AND "conversationId" = ${conversationId}::uuid AND "notifiedThroughSeq" = ${prev}`;
    return claimed === 1;
  };

  /** The channels configured on this server; none: the log stands in. */
  const configured: Channel[] = [...(email ? (['email'] as const) : []), ...(push ? (['push'] as const) : [])];

  /** Every wanted channel at once; a channel that fails is counted and logged, and does not hold the others back. */
  async function deliver(burst: Burst, wanted: Channel[]) {
    const sendEmail = async () => {
      if (!email || !wanted.includes('email')) return;
      try {
        await email.send(burst, signer.url(origin, burst.userId));
        count(['email'], 'sent');
      } catch (error) {
        count(['email'], 'failed');
        logger.warn({ err: error, userId: burst.userId }, 'notification email failed');
      }
    };
    const sendPush = async () => {
      if (!push || !wanted.includes('push')) return;
      try {
        const outcome = await push.send(burst);
        if (outcome.sent > 0) metrics.notifications.inc({ channel: 'push', result: 'sent' }, outcome.sent);
        if (outcome.failed + outcome.forgotten > 0) metrics.notifications.inc({ channel: 'push', result: 'failed' }, outcome.failed + outcome.forgotten);
      } catch (error) {
        count(['push'], 'failed');
        logger.warn({ err: error, userId: burst.userId }, 'push notification failed');
      }
    };
    if (wanted.includes('log')) {
      logger.info({ userId: burst.userId, conversationId: burst.conversationId, count: burst.count, title: titleOf(burst) }, 'notification (no channel configured: logged)');
      count(['log'], 'sent');
    }
    await Promise.all([sendEmail(), sendPush()]);
  }

  /**
   * Looks at one recipient's conversation and notifies it if due. Idempotent: run by the job, the
   * sweep, on any instance, as often as they like, it sends each message's notification once.
   */
  async function check(userId: string, conversationId: string, triggerSeq = 0): Promise<void> {
    const [pending] = await db.$queryRawUnsafe<Pending[]>(PENDING_SQL, userId, conversationId, settings.afterS);
    if (!pending) return;
    const prefs = await notificationSettingsOf(userId);
    const channels: Channel[] = configured.length === 0 ? ['log'] : configured.filter((channel) => prefs[channel as 'email' | 'push']);
    if (pending.count === 0 || pending.throughSeq === null) {
      if (triggerSeq > pending.prev) count(channels, 'skipped_read');
      return;
    }
    if (!pending.due) {
      // This job's message was read, but a later one waits: its own deadline is another job.
      if (pending.dueAt) await enqueue([{ userId, conversationId, seq: pending.throughSeq }], pending.dueAt);
      return;
    }
    if (pending.notBefore && pending.notBefore.getTime() > Date.now()) return;

    // Online now, or since the first of these messages (lastSeenAt is written when a user's last
    // socket closes): they had the chance to see them in the app.
    const [online] = await presence.isOnline([userId]);
    const seenSince = pending.lastSeenAt !== null && pending.firstAt !== null && pending.lastSeenAt >= pending.firstAt;
    if (online || seenSince) {
      if (await claim(userId, conversationId, pending.prev, pending.throughSeq)) count(channels, 'skipped_online');
      return;
    }

    const until = quietUntil(new Date(), prefs.quietHoursStart && prefs.quietHoursEnd
      ? { start: prefs.quietHoursStart, end: prefs.quietHoursEnd, timeZone: prefs.timeZone ?? config.timeZone }
      : null);
    if (until) {
      await db.messageNotification.updateMany({ where: { userId, conversationId, notifiedThroughSeq: pending.prev }, data: { notifyNotBefore: until } });
      await enqueue([{ userId, conversationId, seq: 0 }], until);
      logger.debug({ userId, conversationId, until }, 'notification held until the end of quiet hours');
      return;
    }

    if (!(await claim(userId, conversationId, pending.prev, pending.throughSeq))) return;
    count(configured.filter((channel) => !channels.includes(channel)), 'skipped_preference');
    if (channels.length === 0) return;
    const conversation = await db.conversation.findUniqueOrThrow({
      where: { id: conversationId },
      select: { subject: true, salonId: true, salon: true, client: true },
    });
    const sender = conversation.salonId === userId ? conversation.client : conversation.salon;
    const recipient = conversation.salonId === userId ? conversation.salon : conversation.client;
    await deliver(
      {
        userId,
        email: recipient.email,
        conversationId,
        subject: conversation.subject,
        senderName: displayNameOf(sender),
        count: pending.count,
        latest: pending.latest ?? '',
      },
      channels,
    );
  }

  async function sweep() {
    const rows = await db.$queryRawUnsafe<{ userId: string; conversationId: string }[]>(DUE_SQL, settings.afterS);
    for (const row of rows) {
      if (stopped) return;
      await check(row.userId, row.conversationId);
    }
  }

  const scheduleSweep = () => {
    if (stopped) return;
    sweepTimer = setTimeout(() => {
      sweeping = sweep()
        .catch((error: unknown) => logger.warn({ err: error }, 'notification sweep failed'))
        .finally(scheduleSweep);
    }, settings.sweepMs);
    sweepTimer.unref();
  };

  return {
    /** The API's origin, for the unsubscribe links (PUBLIC_URL unset: http://localhost:<port>). */
    listening(port: number) {
      origin = config.uploads.publicUrl ?? `http://localhost:${port}`;
    },
    unsubscribe: signer,
    /**
     * After a commit: one job per new message's recipient and conversation, due at its deadline.
     * Never throws: a lost job is the sweep's to find.
     */
    messagesAdded(events: readonly AppEvent[]): void {
      for (const event of events) {
        if (event.kind !== 'messageAdded') continue;
        const { message, conversation } = event;
        const recipient = recipientOf(message, conversation);
        // Due from when the message was stored, not from now: the deadline the sweep uses too.
        const due = new Date(new Date(message.createdAt).getTime() + settings.afterS * 1000);
        enqueue([{ userId: recipient, conversationId: conversation.id, seq: message.seq }], due).catch((error: unknown) =>
          logger.warn({ err: error }, 'notification job not enqueued (the sweep will find it)'),
        );
      }
    },
    async start(jobs: JobQueue) {
      queue = jobs;
      await jobs.work<NotifyJob>(QUEUES.notify, 2, async (job: PgBoss.Job<NotifyJob>) => {
        await check(job.data.userId, job.data.conversationId, job.data.seq);
      });
      scheduleSweep();
      const channels = configured.length === 0 ? 'log (set SMTP_URL or VAPID_* to send)' : configured.join(', ');
      logger.info({ channels, afterS: settings.afterS }, 'offline notifications on');
    },
    async stop() {
      stopped = true;
      clearTimeout(sweepTimer);
      for (const { timer } of wakeTimers.values()) clearTimeout(timer);
      wakeTimers.clear();
      await sweeping;
    },
    /** For tests and scripts: one sweep now. */
    sweep,
  };
}

export type Notifier = ReturnType<typeof createNotifier>;
