/**
 * The durable per-user event log: everything a user must learn of, written in PostgreSQL in the
 * same transaction as the change, each user's events numbered 1, 2, 3… by `position`.
 *
 * Why positions follow commit order (so a reader that has read up to P never later finds a new
 * row ≤ P): a transaction claims its positions with
 *   INSERT INTO "UserEventStream" … ON CONFLICT ("userId") DO UPDATE SET "lastPosition" = "lastPosition" + n RETURNING
 * which takes the user's stream row lock and keeps it until commit. A second transaction for
 * the same user waits on that lock, and PostgreSQL makes the first one's rows visible before it
 * releases its locks: the second gets higher positions only once the first's rows can be read,
 * or, if the first rolled back, the same positions again (nobody could have read them). No
 * gap, no late row behind a reader — Matrix's stream positions, with a row lock instead of a
 * global sequence, so only transactions of the same user wait for each other.
 *
 * Why it cannot deadlock: the stream rows are the LAST locks a transaction takes (after its
 * conversation and counter rows), taken in one statement in user-id order. A transaction waiting
 * for a stream row holds no stream row a waiting holder could want out of order, and the holder
 * takes nothing else before it commits.
 *
 * Why not a commit-order watermark (a global sequence, readers stopping below the oldest
 * transaction still running): that horizon is cluster-wide, so any long write transaction anywhere
 * in the PostgreSQL cluster would hold back every user's delivery; and gapless per-user positions
 * make "your cursor was pruned" (CURSOR_EXPIRED) an exact check.
 *
 * Cost: same-user transactions serialize from this statement to their commit, so a busy salon —
 * a participant of every send of its clients — is the bound. That is why a send records its
 * events inside its one autocommit statement (src/services/messages.ts), holding the salon's row
 * for the rest of that statement and its commit only; `npm run bench:send` measures it.
 */
import { db, prepared, type Tx } from '../db.js';
import { Prisma } from '../generated/prisma/client.js';
import { recipientsOf, type AppEvent } from './publish.js';

/** The facts each event type carries: ids and facts, never message content (webhooks reuse them). */
export interface EventPayloads {
  'message.created': { messageId: string; conversationId: string; seq: number };
  'message.deleted': { messageId: string; conversationId: string };
  'message.edited': { messageId: string; conversationId: string; editedAt: string };
  'message.read': { conversationId: string; messageIds: string[]; readAt: string; readerId: string };
  /** Messages read before became unread again (markConversationUnread by their recipient, `readerId`). */
  'message.unread': { conversationId: string; messageIds: string[]; readerId: string };
  'reaction.changed': { messageId: string; conversationId: string; emoji: string; userId: string; added: boolean };
  'unread.changed': { conversationId: string; conversationUnread: number; totalUnread: number };
  'conversation.created': { conversationId: string };
  'conversation.updated': { conversationId: string };
  'conversation.deleted': { conversationId: string };
  'appointment.created': { appointmentId: string; conversationId?: string };
  /** Cancelled or rescheduled (the appointment's `status` and `startsAt` say which). */
  'appointment.updated': { appointmentId: string; conversationId?: string };
  /** A user changed their display name or avatar (told to them and to everyone they talk with). */
  'user.updated': { userId: string };
  'webhook_endpoint.disabled': { endpointId: string; reason: string };
}

export type EventType =
  | 'message.created'
  | 'message.deleted'
  | 'message.edited'
  | 'message.read'
  | 'message.unread'
  | 'reaction.changed'
  | 'unread.changed'
  | 'conversation.created'
  | 'conversation.updated'
  | 'conversation.deleted'
  | 'appointment.created'
  | 'appointment.updated'
  | 'user.updated'
  | 'webhook_endpoint.disabled';

/** A payload with its type, so a `switch (payload.type)` narrows it. The stored JSON has no `type`: the column holds it. */
export type EventPayload = { [K in EventType]: { type: K } & EventPayloads[K] }[EventType];

export interface LoggedEvent {
  userId: string;
  position: bigint;
  type: EventType;
  conversationId: string | null;
  payload: EventPayload;
  occurredAt: Date;
}

const EVENT_TYPES: ReadonlySet<string> = new Set<EventType>([
  'message.created',
  'message.deleted',
  'message.edited',
  'message.read',
  'message.unread',
  'reaction.changed',
  'unread.changed',
  'conversation.created',
  'conversation.updated',
  'conversation.deleted',
  'appointment.created',
  'appointment.updated',
  'user.updated',
  'webhook_endpoint.disabled',
]);

/** What the log stores for an event, the same for each of its recipients. */
function entryOf(event: AppEvent): EventPayload {
  switch (event.kind) {
    case 'messageAdded': {
      const { id, conversationId, seq } = event.message;
      return { type: 'message.created', messageId: id, conversationId, seq };
    }
    case 'messageDeleted':
      return { type: 'message.deleted', messageId: event.messageId, conversationId: event.conversationId };
    case 'messageEdited':
      return {
        type: 'message.edited',
        messageId: event.messageId,
        conversationId: event.conversationId,
        editedAt: event.editedAt.toISOString(),
      };
    case 'messageUnread':
      return { type: 'message.unread', conversationId: event.conversationId, messageIds: event.messageIds, readerId: event.readerId };
    case 'reactionChanged':
      return {
        type: 'reaction.changed',
        messageId: event.messageId,
        conversationId: event.conversationId,
        emoji: event.emoji,
        userId: event.userId,
        added: event.added,
      };
    case 'messageRead':
      return {
        type: 'message.read',
        conversationId: event.conversationId,
        messageIds: event.messageIds,
        readAt: event.readAt.toISOString(),
        readerId: event.readerId,
      };
    case 'unreadCount':
      return {
        type: 'unread.changed',
        conversationId: event.conversationId,
        conversationUnread: event.conversationUnread,
        // Replaced when recorded by the user's exact total (LOG_ENTRIES).
        totalUnread: 0,
      };
    case 'conversationCreated':
      return { type: 'conversation.created', conversationId: event.conversation.id };
    case 'conversationUpdated':
      return { type: 'conversation.updated', conversationId: event.conversation.id };
    case 'conversationDeleted':
      return { type: 'conversation.deleted', conversationId: event.conversationId };
    case 'appointmentCreated':
      return { type: 'appointment.created', appointmentId: event.appointment.id };
    case 'appointmentUpdated':
      return event.conversationId
        ? { type: 'appointment.updated', appointmentId: event.appointment.id, conversationId: event.conversationId }
        : { type: 'appointment.updated', appointmentId: event.appointment.id };
    case 'userUpdated':
      return { type: 'user.updated', userId: event.userId };
    case 'webhookEndpointDisabled':
      return { type: 'webhook_endpoint.disabled', endpointId: event.endpointId, reason: event.reason };
  }
}

function conversationIdOf(payload: EventPayload): string | null {
  return 'conversationId' in payload && payload.conversationId !== undefined ? payload.conversationId : null;
}

/**
 * The two CTEs every writer of the log uses, after its own CTE named `entry` with columns
 * ("userId" uuid, "ord" bigint, "type" text, "conversationId" uuid, "payload" jsonb,
 * "occurredAt" timestamp, "unreadDelta" int): `claimed` takes n positions per user (stream rows
 * locked in user-id order, see the top of this file) and moves the user's unread total by the
 * entries' deltas; `logged` numbers each user's entries in `ord` order, writes that total into
 * each `unread.changed` payload and returns the rows. The send path embeds them in its one
 * statement (src/services/messages.ts).
 *
 * Why the total lives here: summed from the counters inside a statement, it would miss a
 * counter another transaction changed and committed while this one waited for the stream lock
 * (two clients writing to one salon at once), and the later event would state a stale total.
 * Under the stream row lock, the totals follow the log's order exactly.
 */
export const LOG_ENTRIES = Prisma.sql`
    claimed AS (
      INSERT INTO "UserEventStream" ("userId", "lastPosition", "unreadTotal")
      SELECT "userId", count(*), COALESCE(sum("unreadDelta"), 0) FROM entry GROUP BY "userId" ORDER BY "userId"
          ON CONFLICT ("userId")
          DO UPDATE SET "lastPosition" = "UserEventStream"."lastPosition" + EXCLUDED."lastPosition",
                        "unreadTotal" = "UserEventStream"."unreadTotal" + EXCLUDED."unreadTotal"
   RETURNING "userId", "lastPosition", "unreadTotal"
    ), logged AS (
      INSERT INTO "UserEvent" ("userId", "position", "type", "conversationId", "payload", "occurredAt")
      SELECT e."userId",
             c."lastPosition" - count(*) OVER (PARTITION BY e."userId") + row_number() OVER (PARTITION BY e."userId" ORDER BY e."ord"),
             e."type", e."conversationId",
             CASE WHEN e."type" = 'unread.changed' THEN e."payload" || jsonb_build_object('totalUnread', c."unreadTotal") ELSE e."payload" END,
             e."occurredAt"
        FROM entry e JOIN claimed c ON c."userId" = e."userId"
   RETURNING *
    )`;

/** The rows `LOG_ENTRIES` wrote, as one JSON array (select it in the statement's final SELECT). */
export const LOGGED_ROWS = Prisma.sql`COALESCE((SELECT jsonb_agg(to_jsonb(logged.*) ORDER BY logged."userId", logged."position") FROM logged), '[]'::jsonb)`;

/** A row of `LOGGED_ROWS` as JSON brings it (bigint and timestamp as strings). */
export interface LoggedJson {
  userId: string;
  position: string | number;
  type: string;
  conversationId: string | null;
  payload: unknown;
  occurredAt: string;
}

export function fromLoggedJson(rows: readonly LoggedJson[]): LoggedEvent[] {
  return rows.map((row) =>
    toLoggedEvent({ ...row, position: BigInt(row.position), occurredAt: new Date(`${row.occurredAt}Z`) }),
  );
}

/** Inside a transaction: records what `events` tell each recipient; returns the rows written. */
export async function recordEvents(tx: Tx, events: readonly AppEvent[]): Promise<LoggedEvent[]> {
  const userIds: string[] = [];
  const types: string[] = [];
  const conversationIds: (string | null)[] = [];
  const payloads: string[] = [];
  const deltas: number[] = [];
  for (const event of events) {
    const payload = entryOf(event);
    const { type, ...facts } = payload;
    for (const userId of new Set(recipientsOf(event))) {
      userIds.push(userId);
      types.push(type);
      conversationIds.push(conversationIdOf(payload));
      payloads.push(JSON.stringify(facts));
      deltas.push(event.kind === 'unreadCount' ? event.delta : 0);
    }
  }
  if (userIds.length === 0) return [];
  // now(): the transaction's start, the moment the change was made from the caller's view.
  const [row] = await tx.$queryRaw<{ logged: LoggedJson[] }[]>`${Prisma.raw(prepared('record-events'))}
    WITH entry AS (
      SELECT e."userId", e."ord", e."type", e."conversationId", e."payload"::jsonb AS "payload", now()::timestamp(3) AS "occurredAt", e."unreadDelta"
        FROM unnest(${userIds}::uuid[], ${types}::text[], ${conversationIds}::uuid[], ${payloads}::text[], ${deltas}::int[])
             WITH ORDINALITY AS e("userId", "type", "conversationId", "payload", "unreadDelta", "ord")
    ), ${LOG_ENTRIES}
    SELECT ${LOGGED_ROWS} AS "logged"`;
  return fromLoggedJson(row?.logged ?? []);
}

export interface EventRow {
  userId: string;
  position: bigint;
  type: string;
  conversationId: string | null;
  payload: unknown;
  occurredAt: Date;
}

export function toLoggedEvent(row: EventRow): LoggedEvent {
  if (!EVENT_TYPES.has(row.type)) throw new Error(`Unknown event type in the log: ${row.type}`);
  const facts = row.payload !== null && typeof row.payload === 'object' ? row.payload : {};
  return {
    userId: row.userId,
    position: row.position,
    type: row.type as EventType,
    conversationId: row.conversationId,
    payload: { ...facts, type: row.type } as EventPayload,
    occurredAt: row.occurredAt,
  };
}

/** Committed events of `userId` with position > after, oldest first, at most `limit`. */
export async function readEvents(userId: string, after: bigint, limit: number): Promise<LoggedEvent[]> {
  const rows = await db.userEvent.findMany({
    where: { userId, position: { gt: after } },
    orderBy: { position: 'asc' },
    take: limit,
  });
  return rows.map(toLoggedEvent);
}

/** The user's current last position and the position up to which events were pruned (0n, 0n for a user with none). */
export async function streamState(userId: string): Promise<{ lastPosition: bigint; prunedThrough: bigint }> {
  const stream = await db.userEventStream.findUnique({ where: { userId } });
  return { lastPosition: stream?.lastPosition ?? 0n, prunedThrough: stream?.prunedThrough ?? 0n };
}

/** Users per prune round: bounds each statement well under the statement timeout. */
const PRUNE_BATCH_USERS = 500;

/**
 * Deletes events older than `retentionDays`, raising each user's prunedThrough; returns rows deleted.
 * For each user it cuts at the highest position older than the retention, so what stays is
 * always a contiguous tail. prunedThrough is raised and committed BEFORE the rows go: a reader
 * that finds its position still above prunedThrough can trust every row after it is there.
 * Idempotent, so every instance may run it.
 */
export async function pruneEvents(retentionDays: number): Promise<number> {
  const cutoff = new Date(Date.now() - retentionDays * 86_400_000);
  let deleted = 0;
  for (;;) {
    const cuts = await db.$queryRaw<{ userId: string; through: string }[]>`/* background: event prune */
      SELECT "userId"::text AS "userId", max("position")::text AS "through"
        FROM "UserEvent" WHERE "occurredAt" < ${cutoff}
       GROUP BY "userId" ORDER BY "userId" LIMIT ${PRUNE_BATCH_USERS}`;
    if (cuts.length === 0) return deleted;
    const users = cuts.map((cut) => cut.userId);
    const throughs = cuts.map((cut) => cut.through);
    await db.$transaction(async (tx) => {
      // Stream rows in user-id order, like every writer (see the top of this file): no deadlock.
      await tx.$queryRaw`SELECT 1 FROM "UserEventStream" WHERE "userId" = ANY(${users}::uuid[]) ORDER BY "userId" FOR UPDATE`;
      await tx.$executeRaw`
        UPDATE "UserEventStream" s SET "prunedThrough" = GREATEST(s."prunedThrough", cut."through")
          FROM unnest(${users}::uuid[], ${throughs}::bigint[]) AS cut("userId", "through")
         WHERE s."userId" = cut."userId"`;
    });
    deleted += await db.$executeRaw`
      DELETE FROM "UserEvent" e
       USING unnest(${users}::uuid[], ${throughs}::bigint[]) AS cut("userId", "through")
       WHERE e."userId" = cut."userId" AND e."position" <= cut."through"`;
  }
}
