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
 * still what was read), and only then sends: of two instances sweeping at once, exactly one
 * wins. The price is at-most-once: a crash between the claim and the SMTP answer loses that
 * notification rather than risking a second one.
 *
 * Nothing lost, and cheap per message. The counter's increment, in the transaction that adds the
 * message, sets "pendingSince" if it was null (src/services/messages.ts), so a message to notify
 * of cannot commit without its row becoming due. Every instance sweeps every NOTIFY_SWEEP_MS: one
 * statement reads up to SWEEP_BATCH due rows by that index, with what is pending there; one
 * presence lookup covers all their recipients; one statement settles every row whose recipient
 * read them, was online, or is not due yet. Only notifications actually sent cost statements of
 * their own. (A job per message, as before, cost five statements per message even for a
 * recipient who was online, and the sweep looked at every unread conversation.)
 *
 * "pendingSince" only moves forward under optimistic concurrency: a settlement writes it only if
 * the row is the version the sweep read (xmin). A counter increment or a read committed since
 * changes the version, and the row stays due for the next sweep to look at again — a message can
 * be looked at twice, never forgotten.
 *
 * Quiet hours delay: the row's "notifyNotBefore" is set to their end, and the sweep passes it by
 * until then. The hold too is written only on the version read: a change of the settings since
 * (which touches the user's pending rows) sends the row back to the next sweep.
 */
import type { Config } from '../config.js';
import { db } from '../db.js';
import type { Presence } from '../events/presence.js';
import { logger } from '../logger.js';
import type { Metrics } from '../observability.js';
import { displayNameOf } from '../services/profile.js';
import { titleOf, type Burst } from './content.js';
import { createEmailChannel } from './email.js';
import { createPushChannel } from './push.js';
import { quietUntil } from './quiet.js';
import { createUnsubscribeSigner } from './unsubscribe.js';

export type Channel = 'email' | 'push' | 'log';
export type NotificationResult = 'sent' | 'failed' | 'skipped_read' | 'skipped_online' | 'skipped_preference';

/** Due rows one sweep statement reads; a full batch is followed by another at once. */
const SWEEP_BATCH = 500;

/** A due (recipient, conversation), with what is pending there and the recipient's preferences. */
interface DueRow {
  userId: string;
  conversationId: string;
  /** The row version read (xmin): "pendingSince" is only written if it is still this one. */
  version: string;
  /** notifiedThroughSeq as read: a claim moves it only from here. */
  prev: number;
  /** Unread messages after `prev` addressed to the recipient. */
  count: number;
  throughSeq: number | null;
  /** The oldest of them (as text: written back exactly). */
  firstAt: string | null;
  /** The oldest one's deadline has passed (database clock). */
  due: boolean;
  /** Whether the recipient's last socket closed after the oldest pending message came. */
  seenSince: boolean;
  email: boolean;
  push: boolean;
  quietHoursStart: string | null;
  quietHoursEnd: string | null;
  timeZone: string | null;
}

/** Which messages are for `user`: a SYSTEM message is for the client, a USER message for whoever did not write it. */
const FOR_USER = `CASE WHEN m."kind" = 'SYSTEM' THEN c."clientUserId" = mn."userId" ELSE m."authorId" IS DISTINCT FROM mn."userId" END`;

// Marked `background`: statement counts of requests (tests, benchmarks) leave the notifier's out.
const DUE_SQL = `/* background: notification sweep */
  SELECT mn."userId"::text AS "userId", mn."conversationId"::text AS "conversationId", mn.xmin::text AS "version",
         mn."notifiedThroughSeq" AS "prev", p."count", p."throughSeq", p."firstAt"::text AS "firstAt",
         coalesce(p."firstAt" + make_interval(secs => $1) <= now(), false) AS "due",
         coalesce(u."lastSeenAt" >= p."firstAt", false) AS "seenSince",
         coalesce(ns."email", true) AS "email", coalesce(ns."push", true) AS "push",
         ns."quietHoursStart", ns."quietHoursEnd", ns."timeZone"
    FROM "MessageNotification" mn
    JOIN "User" u ON u."id" = mn."userId"
    JOIN "Conversation" c ON c."id" = mn."conversationId"
    LEFT JOIN "NotificationSettings" ns ON ns."userId" = mn."userId"
   CROSS JOIN LATERAL (
         SELECT count(*)::int AS "count", max(m."seq") AS "throughSeq", min(m."createdAt") AS "firstAt"
           FROM "Message" m
          WHERE m."conversationId" = mn."conversationId" AND m."seq" > mn."notifiedThroughSeq"
            AND m."readAt" IS NULL AND NOT m."isDeleted" AND ${FOR_USER}) p
   WHERE mn."pendingSince" <= now() - make_interval(secs => $1)
     AND (mn."notifyNotBefore" IS NULL OR mn."notifyNotBefore" <= now())
   ORDER BY mn."pendingSince"
   LIMIT $2`;

/**
 * What a sweep decided for a row: `claim` moves the high-water mark from `prev` to `through`
 * (nothing to send, or sent by this instance); `wait` sets "pendingSince" to `next` (the oldest
 * pending message is not due yet; null: nothing is pending). Either writes "pendingSince" only
 * if the row is still the version read; a claim also only from `prev`, and a `strict` one (about
 * to send) only if the row is still the version read: a read or a new message since then, and it
 * is looked at again by the next sweep rather than sent on stale facts.
 */
type Settlement =
  | { row: DueRow; kind: 'claim'; through: number; strict?: boolean }
  | { row: DueRow; kind: 'wait'; next: string | null };

/**
 * Settles many rows in one statement; returns the keys ("user:conversation") of the rows it wrote
 * (a claim that won, a wait). The rows are locked in id order first: two instances settling
 * overlapping batches at once then queue on each other instead of deadlocking.
 */
async function settle(settlements: Settlement[]): Promise<Set<string>> {
  if (settlements.length === 0) return new Set();
  const column = <T>(pick: (s: Settlement) => T) => settlements.map(pick);
  const rows = await db.$queryRawUnsafe<{ key: string }[]>(
    `/* background: notification settle */
    WITH s AS (
      SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bool[], $5::bool[], $6::int[], $7::int[], $8::text[])
          AS s("userId", "conversationId", "version", "claim", "strict", "prev", "through", "next")
    ), locked AS (
      SELECT mn."id" FROM "MessageNotification" mn JOIN s ON mn."userId" = s."userId" AND mn."conversationId" = s."conversationId"
       ORDER BY mn."id" FOR UPDATE OF mn
    )
    UPDATE "MessageNotification" mn
       SET "notifiedThroughSeq" = CASE WHEN s."claim" THEN s."through" ELSE mn."notifiedThroughSeq" END,
           "notifyNotBefore" = CASE WHEN s."claim" THEN NULL ELSE mn."notifyNotBefore" END,
           "pendingSince" = CASE WHEN mn.xmin::text = s."version" THEN s."next"::timestamp(3) ELSE mn."pendingSince" END
      FROM s
     WHERE mn."id" IN (SELECT "id" FROM locked) AND mn."userId" = s."userId" AND mn."conversationId" = s."conversationId"
       AND CASE WHEN s."claim" THEN mn."notifiedThroughSeq" = s."prev" AND (NOT s."strict" OR mn.xmin::text = s."version")
                ELSE mn.xmin::text = s."version" END
 RETURNING mn."userId"::text || ':' || mn."conversationId"::text AS "key"`,
    column((s) => s.row.userId),
    column((s) => s.row.conversationId),
    column((s) => s.row.version),
    column((s) => s.kind === 'claim'),
    column((s) => s.kind === 'claim' && s.strict === true),
    column((s) => s.row.prev),
    column((s) => (s.kind === 'claim' ? s.through : s.row.prev)),
    // After a claim through the newest pending message, nothing read as pending is left.
    column((s) => (s.kind === 'wait' ? s.next : null)),
  );
  return new Set(rows.map((row) => row.key));
}

const keyOf = (row: Pick<DueRow, 'userId' | 'conversationId'>) => `${row.userId}:${row.conversationId}`;

export function createNotifier(config: Config, presence: Presence, metrics: Metrics) {
  const settings = config.notifications;
  const email = settings.smtp ? createEmailChannel(settings.smtp, settings.appUrl) : undefined;
  const push = settings.vapid ? createPushChannel(settings.vapid, settings.appUrl, config.webhooks.allowPrivateNetworks) : undefined;
  const signer = createUnsubscribeSigner(config.jwt.secret);
  let origin = config.uploads.publicUrl ?? `http://localhost:${config.port}`;
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> = Promise.resolve();
  let stopped = false;

  const count = (channels: readonly Channel[], result: NotificationResult) => {
    for (const channel of channels) metrics.notifications.inc({ channel, result });
  };

  /** The channels configured on this server; none: the log stands in. */
  const configured: Channel[] = [...(email ? (['email'] as const) : []), ...(push ? (['push'] as const) : [])];
  /** The channels a recipient gets: the configured ones they did not turn off, or the log. */
  const channelsOf = (row: Pick<DueRow, 'email' | 'push'>): Channel[] =>
    configured.length === 0 ? ['log'] : configured.filter((channel) => row[channel as 'email' | 'push']);

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
   * A due row whose recipient was offline all along: held until the end of their quiet hours, or
   * claimed and sent. Idempotent across instances: only the claim that moves the mark sends.
   */
  async function notify(row: DueRow & { throughSeq: number }): Promise<void> {
    const channels = channelsOf(row);
    // Notifications before this one in the batch may have taken seconds to send: online since
    // the batch was read, the recipient is skipped like the others.
    const [online] = await presence.isOnline([row.userId]);
    if (online) {
      if ((await settle([{ row, kind: 'claim', through: row.throughSeq }])).has(keyOf(row))) count(channels, 'skipped_online');
      return;
    }
    const until = quietUntil(new Date(), row.quietHoursStart && row.quietHoursEnd
      ? { start: row.quietHoursStart, end: row.quietHoursEnd, timeZone: row.timeZone ?? config.timeZone }
      : null);
    if (until) {
      // Only the version read: quiet hours removed since (updateNotificationSettings touches the
      // pending rows) must not be held to, by a sweep of another instance that read the row first.
      await db.$executeRaw`/* background: notification hold */
        UPDATE "MessageNotification" SET "notifyNotBefore" = ${until}
         WHERE "userId" = ${row.userId}::uuid AND "conversationId" = ${row.conversationId}::uuid
           AND "notifiedThroughSeq" = ${row.prev} AND xmin::text = ${row.version}`;
      logger.debug({ userId: row.userId, conversationId: row.conversationId, until }, 'notification held until the end of quiet hours');
      return;
    }
    const won = await settle([{ row, kind: 'claim', through: row.throughSeq, strict: true }]);
    if (!won.has(keyOf(row))) return;
    count(configured.filter((channel) => !channels.includes(channel)), 'skipped_preference');
    if (channels.length === 0) return;
    const conversation = await db.conversation.findUniqueOrThrow({
      where: { id: row.conversationId },
      select: { subject: true, salonId: true, salon: true, client: true },
    });
    const latest = await db.message.findUnique({
      where: { conversationId_seq: { conversationId: row.conversationId, seq: row.throughSeq } },
      select: { content: true },
    });
    const sender = conversation.salonId === row.userId ? conversation.client : conversation.salon;
    const recipient = conversation.salonId === row.userId ? conversation.salon : conversation.client;
    await deliver(
      {
        userId: row.userId,
        email: recipient.email,
        conversationId: row.conversationId,
        subject: conversation.subject,
        senderName: displayNameOf(sender),
        count: row.count,
        latest: latest?.content ?? '',
      },
      channels,
    );
  }

  /**
   * One batch of due rows: settled together (read, online, not yet due) in one statement, the
   * rest notified one by one. Returns how many rows were read.
   */
  async function sweepBatch(): Promise<number> {
    const rows = await db.$queryRawUnsafe<DueRow[]>(DUE_SQL, settings.afterS, SWEEP_BATCH);
    const settlements: Settlement[] = [];
    const due: (DueRow & { throughSeq: number })[] = [];
    for (const row of rows) {
      if (row.count === 0 || row.throughSeq === null) settlements.push({ row, kind: 'wait', next: null });
      else if (!row.due) settlements.push({ row, kind: 'wait', next: row.firstAt });
      else due.push({ ...row, throughSeq: row.throughSeq });
    }
    // Online now, or since the first of these messages (lastSeenAt is written when a user's last
    // socket closes): they had the chance to see them in the app.
    const online = await presence.isOnline(due.map((row) => row.userId));
    const offline: (DueRow & { throughSeq: number })[] = [];
    due.forEach((row, i) => {
      if (online[i] || row.seenSince) settlements.push({ row, kind: 'claim', through: row.throughSeq });
      else offline.push(row);
    });
    const settled = await settle(settlements);
    for (const settlement of settlements) {
      if (!settled.has(keyOf(settlement.row))) continue;
      if (settlement.kind === 'claim') count(channelsOf(settlement.row), 'skipped_online');
      else if (settlement.row.count === 0) count(channelsOf(settlement.row), 'skipped_read');
    }
    for (const row of offline) {
      if (stopped) break;
      await notify(row);
    }
    return rows.length;
  }

  async function sweep(): Promise<void> {
    // A full batch: more may be due (a backlog after a pause); read on at once.
    while (!stopped && (await sweepBatch()) === SWEEP_BATCH);
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
    start() {
      scheduleSweep();
      const channels = configured.length === 0 ? 'log (set SMTP_URL or VAPID_* to send)' : configured.join(', ');
      logger.info({ channels, afterS: settings.afterS, sweepMs: settings.sweepMs }, 'offline notifications on');
    },
    async stop() {
      stopped = true;
      clearTimeout(sweepTimer);
      await sweeping;
    },
    /** For tests and scripts: one sweep now. */
    sweep,
  };
}

export type Notifier = ReturnType<typeof createNotifier>;
