import { randomUUID } from 'node:crypto';
import type { Viewer } from '../auth/viewer.js';
import { db, direct, prepared, type Db } from '../db.js';
import { fromLoggedJson, LOG_ENTRIES, LOGGED_ROWS, type LoggedJson } from '../events/log.js';
import { Prisma } from '../generated/prisma/client.js';
import { badInput, conflict, forbidden, notFound } from '../errors.js';
import type { AppEvent, MessageWithAttachments } from '../events/publish.js';
import type { Conversation, Message, MessageAttachment, MessageKind, User } from '../generated/prisma/client.js';
import {
  conversationForViewer,
  isParticipant,
  messageForViewer,
  participantIds,
  recipientOf,
} from './access.js';
import { change, loggedBy, unchanged, type Outcome, type Tx } from './tx.js';
import { verifiedAttachments } from './uploads.js';
import {
  optionalClientMessageId,
  requireAttachments,
  requireId,
  requireText,
  type AttachmentInput,
} from './validation.js';

interface AppendInput {
  conversationId: string;
  authorId: string | null;
  kind: MessageKind;
  content: string;
  attachments: AttachmentInput[];
  clientMessageId: string | null;
}

/**
 * The one upsert of unread counters: adds each row's delta ("conversationId", "userId", "delta"
 * from `rows`, a SELECT) to its counter, creating it if needed, and returns "unreadCount" and
 * "userId". The send statement embeds it; the other paths run it alone. A positive delta is a
 * message to notify of, unless it is read first: "pendingSince" keeps the oldest such moment
 * (src/notifications/index.ts reads the due rows by it). now() is the transaction's start, at or
 * before the message's createdAt: a row can be looked at a little early, never late.
 */
const upsertCounters = (rows: Prisma.Sql) => Prisma.sql`
      INSERT INTO "MessageNotification" ("id", "conversationId", "userId", "unreadCount", "pendingSince", "createdAt", "updatedAt")
      SELECT gen_random_uuid(), r."conversationId", r."userId", r."delta", CASE WHEN r."delta" > 0 THEN now() END, now(), now()
        FROM (${rows}) AS r("conversationId", "userId", "delta")
          ON CONFLICT ("conversationId", "userId")
          DO UPDATE SET "unreadCount" = "MessageNotification"."unreadCount" + EXCLUDED."unreadCount", "updatedAt" = now(),
                        "pendingSince" = COALESCE("MessageNotification"."pendingSince", EXCLUDED."pendingSince")
   RETURNING "unreadCount", "userId"`;

/** Adds `delta` to a user's unread counter of a conversation: the event to report (the log adds the user's total). */
async function bumpUnread(tx: Tx, conversationId: string, userId: string, delta: number): Promise<AppEvent> {
  const [row] = await tx.$queryRaw<{ unreadCount: number }[]>`${upsertCounters(Prisma.sql`SELECT ${conversationId}::uuid, ${userId}::uuid, ${delta}::int`)}`;
  return { kind: 'unreadCount', userId, conversationId, conversationUnread: row?.unreadCount ?? 0, delta };
}

/**
 * The messages of a conversation whose recipient is the viewer (recipientOf in access.ts, as SQL):
 * the other participant's, and SYSTEM messages when the viewer is the client.
 */
const addressedTo = (viewerId: string, isClient: boolean) =>
  Prisma.sql`(("kind" = 'USER' AND "authorId" IS DISTINCT FROM ${viewerId}::uuid) OR ("kind" = 'SYSTEM' AND ${isClient}))`;

/**
 * Takes the recipient's counter row lock before touching messages: every path that changes
 * readAt or isDeleted locks counter → message in that order, so two of them cannot deadlock.
 * (DO NOTHING then FOR UPDATE, not an upsert of 0: ON CONFLICT DO UPDATE racing a send's
 * speculative insert of the same counter deadlocked under load.)
 */
async function lockCounter(tx: Tx, conversationId: string, userId: string) {
  await tx.$executeRaw`
    INSERT INTO "MessageNotification" ("id", "conversationId", "userId", "unreadCount", "createdAt", "updatedAt")
    VALUES (gen_random_uuid(), ${conversationId}::uuid, ${userId}::uuid, 0, now(), now())
    ON CONFLICT ("conversationId", "userId") DO NOTHING`;
  await tx.$queryRaw`
    SELECT 1 FROM "MessageNotification"
     WHERE "conversationId" = ${conversationId}::uuid AND "userId" = ${userId}::uuid FOR UPDATE`;
}

interface AppendedRow {
  message: Omit<Message, 'createdAt' | 'updatedAt' | 'readAt'> & { createdAt: string; updatedAt: string; readAt: null };
  attachments: (Omit<MessageAttachment, 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string })[];
  author: (Omit<User, 'createdAt' | 'updatedAt' | 'lastSeenAt'> & { createdAt: string; updatedAt: string; lastSeenAt: string | null }) | null;
  conversation: Omit<Conversation, 'createdAt' | 'updatedAt' | 'lastMessageAt'> & { createdAt: string; updatedAt: string; lastMessageAt: string };
  recipientId: string;
  conversationUnread: number;
  logged: LoggedJson[] | null;
}

/**
 * A send's events, as the log stores them (the payload shapes of `entryOf` in events/log.ts,
 * written here in SQL because seq and the counts exist only inside the statement). Each user's
 * entries in the order `messageAddedEvents` reports them: message, then the recipient's unread
 * count. No `conversation.updated`: a new message is the change (its `createdAt` is the
 * conversation's `lastMessageAt`), and every row here is written under the busy salon's lock.
 */
const SEND_ENTRIES = Prisma.sql`
    entry AS (
      SELECT e."userId", e."ord", e."type", conv."id" AS "conversationId", e."payload", msg."createdAt" AS "occurredAt",
             CASE WHEN e."type" = 'unread.changed' THEN 1 ELSE 0 END AS "unreadDelta"
        FROM conv, msg, counter, LATERAL (VALUES
          (conv."salonId", 1, 'message.created', jsonb_build_object('messageId', msg."id", 'conversationId', conv."id", 'seq', msg."seq")),
          (conv."clientUserId", 1, 'message.created', jsonb_build_object('messageId', msg."id", 'conversationId', conv."id", 'seq', msg."seq")),
          (conv."recipientId", 2, 'unread.changed', jsonb_build_object('conversationId', conv."id", 'conversationUnread', counter."unreadCount"))
        ) AS e("userId", "ord", "type", "payload")
    ), ${LOG_ENTRIES}`;

/**
 * Appends a message in ONE statement: take the conversation row's lock and its next `seq`
 * (UPDATE … RETURNING, so `seq` order is commit order with no gap — SPEC §1 "Order"), insert the
 * message and its attachments, bump the recipient's counter and read their total. With `log`,
 * the same statement also records the send's events for both participants (LOG_ENTRIES in
 * events/log.ts), so a send run on its own — autocommit, no interactive transaction — holds the
 * conversation's and the two event streams' row locks only for the rest of this statement and
 * its commit. That is what lets one busy salon, a participant of every send of its clients,
 * take hundreds of messages a second. clock_timestamp(), not now(): now() is the transaction's
 * start, which can precede a message that committed while we waited for the lock.
 */
async function appendStatement(tx: Tx | Db, input: AppendInput & { viewerId: string | null; log: boolean }) {
  const urls = input.attachments.map((a) => a.url);
  const types = input.attachments.map((a) => a.type);
  // The id is chosen here so the conversation row can point at its newest message in the same
  // statement (the foreign key is checked at the statement's end, once the message exists).
  const messageId = randomUUID();
  // A message's files are taken in the same statement (an upload is sent once: see
  // verifiedAttachments). A send racing for one of them waits for the winner's row lock, then
  // finds it taken: it claims fewer rows than it names, and stores nothing at all.
  const claim = urls.length
    ? Prisma.sql`claim AS (UPDATE "Upload" SET "sentAt" = clock_timestamp() WHERE "url" = ANY(${urls}::text[]) AND "sentAt" IS NULL RETURNING 1), `
    : Prisma.empty;
  const allClaimed = urls.length ? Prisma.sql`AND (SELECT count(*) FROM claim) = ${urls.length}` : Prisma.empty;
  const statement = Prisma.sql`${Prisma.raw(prepared(urls.length ? 'send-files' : 'send'))}
    WITH ${claim}conv AS (
      UPDATE "Conversation"
         SET "lastSeq" = "lastSeq" + 1, "lastMessageAt" = clock_timestamp(), "updatedAt" = clock_timestamp(),
             "lastMessageId" = ${messageId}::uuid
       WHERE "id" = ${input.conversationId}::uuid
         -- Archiving stops messages of people; the notices of the app (appointments) still reach the client.
         AND ("status" = 'ACTIVE' OR ${input.kind}::text = 'SYSTEM')
         AND (${input.viewerId}::uuid IS NULL OR ${input.viewerId}::uuid IN ("salonId", "clientUserId"))
         ${allClaimed}
   RETURNING *,
             CASE WHEN ${input.kind}::text = 'SYSTEM' OR ${input.authorId}::uuid = "salonId"
                  THEN "clientUserId" ELSE "salonId" END AS "recipientId"
    ), msg AS (
      INSERT INTO "Message" ("id", "conversationId", "seq", "authorId", "kind", "content", "clientMessageId", "createdAt", "updatedAt")
      SELECT ${messageId}::uuid, conv."id", conv."lastSeq", ${input.authorId}::uuid, ${input.kind}::"MessageKind",
             ${input.content}, ${input.clientMessageId}, conv."lastMessageAt", conv."lastMessageAt"
        FROM conv
   RETURNING *
    ), att AS (
      INSERT INTO "MessageAttachment" ("id", "messageId", "url", "type", "createdAt", "updatedAt")
      SELECT gen_random_uuid(), msg."id", a."url", a."type", msg."createdAt", msg."createdAt"
        FROM msg, unnest(${urls}::text[], ${types}::text[]) WITH ORDINALITY AS a("url", "type", "position")
   RETURNING *
    ), counter AS (${upsertCounters(Prisma.sql`SELECT conv."id", conv."recipientId", 1 FROM conv`)}
    )${input.log ? Prisma.sql`, ${SEND_ENTRIES}` : Prisma.empty}
    SELECT to_jsonb(msg.*) AS "message",
           COALESCE((SELECT jsonb_agg(to_jsonb(att.*)) FROM att), '[]'::jsonb) AS "attachments",
           -- Carried to subscribers with the message, so that a live delivery shows its author without a query.
           (SELECT to_jsonb(u.*) FROM "User" u WHERE u."id" = msg."authorId") AS "author",
           to_jsonb(conv.*) - 'recipientId' AS "conversation",
           conv."recipientId"::text AS "recipientId",
           counter."unreadCount" AS "conversationUnread",
           ${input.log ? LOGGED_ROWS : Prisma.sql`NULL::jsonb`} AS "logged"
      FROM conv, msg, counter`;
  // On its own (a send): straight on the pool, without Prisma's runtime (see `direct`); its
  // columns are jsonb, text and int, which both paths return alike.
  const rows = tx === db ? await direct<AppendedRow>(statement) : await tx.$queryRaw<AppendedRow[]>(statement);
  return rows[0];
}

const toDate = (value: string) => new Date(`${value}Z`);

/** A send whose files another send took at the same moment (see appendStatement). */
function filesTaken() {
  return badInput('attachments: a file of this message was just sent in another one; upload it again to send it again', 'attachments');
}

/**
 * Appends a message: see appendStatement. Inside a `change` (which records the events the
 * caller reports), or with `log` on its own, recording the send's events in the same statement.
 */
export async function appendMessage(tx: Tx | Db, input: AppendInput, options: { viewerId?: string | null; log?: boolean } = {}) {
  const viewerId = options.viewerId ?? null;
  const row = await appendStatement(tx, { ...input, viewerId, log: options.log ?? false });
  if (!row) {
    // Nothing was updated: say why, without revealing a conversation the viewer is not part of.
    const conversation = await tx.conversation.findUnique({ where: { id: input.conversationId } });
    if (!conversation || (viewerId !== null && !isParticipant(conversation, viewerId))) throw notFound('Conversation');
    if (conversation.status === 'ACTIVE' && input.attachments.length > 0) throw filesTaken();
    throw badInput('This conversation is archived; set it ACTIVE again to send messages', 'conversationId');
  }
  const message: MessageWithAttachments = {
    ...row.message,
    createdAt: toDate(row.message.createdAt),
    updatedAt: toDate(row.message.updatedAt),
    readAt: null,
    attachments: row.attachments.map((a) => ({ ...a, createdAt: toDate(a.createdAt), updatedAt: toDate(a.updatedAt) })),
    author: row.author && {
      ...row.author,
      createdAt: toDate(row.author.createdAt),
      updatedAt: toDate(row.author.updatedAt),
      lastSeenAt: row.author.lastSeenAt === null ? null : toDate(row.author.lastSeenAt),
    },
  };
  const conversation: Conversation = {
    ...row.conversation,
    createdAt: toDate(row.conversation.createdAt),
    updatedAt: toDate(row.conversation.updatedAt),
    lastMessageAt: toDate(row.conversation.lastMessageAt),
  };
  return {
    message,
    recipientId: row.recipientId,
    conversationUnread: row.conversationUnread,
    conversation,
    logged: fromLoggedJson(row.logged ?? []),
  };
}

/**
 * Inside the transaction that appended it: a SYSTEM notice its recipient caused (a client who
 * cancelled their own appointment) is read at once, so nobody is notified of their own action.
 * The counter row is already this transaction's (the append took it).
 */
export async function readAtOnce(tx: Tx, appended: Awaited<ReturnType<typeof appendMessage>>): Promise<AppEvent[]> {
  const [row] = await tx.$queryRaw<{ readAt: Date }[]>`
    UPDATE "Message" SET "readAt" = "createdAt" WHERE "id" = ${appended.message.id}::uuid AND "readAt" IS NULL RETURNING "readAt"`;
  if (!row) return [];
  const { conversation, recipientId } = appended;
  return [
    { kind: 'messageRead', conversationId: conversation.id, messageIds: [appended.message.id], readAt: row.readAt, readerId: recipientId, participantIds: participantIds(conversation) },
    await bumpUnread(tx, conversation.id, recipientId, -1),
  ];
}

export function messageAddedEvents(appended: Awaited<ReturnType<typeof appendMessage>>): AppEvent[] {
  const participants = participantIds(appended.conversation);
  return [
    { kind: 'messageAdded', message: appended.message, conversation: appended.conversation, participantIds: participants },
    {
      kind: 'unreadCount',
      userId: appended.recipientId,
      conversationId: appended.conversation.id,
      conversationUnread: appended.conversationUnread,
      delta: 1,
    },
  ];
}

export interface SendMessageInput {
  conversationId: string;
  content: string;
  attachments?: readonly AttachmentInput[] | null;
  clientMessageId?: string | null;
}

/**
 * A retry with the same clientMessageId gets the first message back (Stripe's idempotency-key
 * semantics); the same key for different content or another conversation is a CONFLICT.
 */
async function replayIdempotentSend(
  viewer: Viewer,
  clientMessageId: string,
  conversationId: string,
  content: string,
): Promise<MessageWithAttachments | undefined> {
  const existing = await db.message.findUnique({
    where: { authorId_clientMessageId: { authorId: viewer.id, clientMessageId } },
    include: { attachments: true },
  });
  if (!existing) return undefined;
  if (existing.conversationId !== conversationId || (existing.content !== content && !existing.isDeleted)) {
    throw conflict('clientMessageId was already used for a different message');
  }
  return existing;
}

export async function sendMessage(viewer: Viewer, input: SendMessageInput, maxLength: number): Promise<Outcome<MessageWithAttachments>> {
  const conversationId = requireId(input.conversationId, 'conversationId');
  const content = requireText(input.content, 'content', maxLength);
  const attachments = requireAttachments(input.attachments);
  const clientMessageId = optionalClientMessageId(input.clientMessageId);

  try {
    const verified = await verifiedAttachments(viewer, conversationId, attachments);
    // Autocommit: the statement records its own events (see appendStatement for why).
    const appended = await appendMessage(
      db,
      { conversationId, authorId: viewer.id, kind: 'USER', content, attachments: verified, clientMessageId },
      { viewerId: viewer.id, log: true },
    );
    return loggedBy(appended.message, messageAddedEvents(appended), appended.logged);
  } catch (error) {
    // A retry is found by its failure, not looked for before every send (a statement saved on
    // each first attempt): its insert hits the (author, clientMessageId) index and the whole
    // statement, its seq included, is undone; or it finds its files already taken by the first
    // attempt; or the conversation was archived since. Two sends with one key at once end the
    // same way. Either way, the first message is the answer; a key used for something else is a
    // CONFLICT; no message with that key: the error stands.
    if (clientMessageId) {
      const replay = await replayIdempotentSend(viewer, clientMessageId, conversationId, content);
      if (replay) return unchanged(replay);
    }
    throw error;
  }
}

export async function markMessageRead(viewer: Viewer, id: string): Promise<Outcome<MessageWithAttachments>> {
  const found = await messageForViewer(viewer, id);
  if (recipientOf(found, found.conversation) !== viewer.id) {
    throw forbidden('Only the recipient of a message can mark it read');
  }
  return change(async (tx) => {
    await lockCounter(tx, found.conversationId, viewer.id);
    const updated = await tx.$queryRaw<{ readAt: Date }[]>`
      UPDATE "Message" SET "readAt" = clock_timestamp(), "updatedAt" = clock_timestamp()
       WHERE "id" = ${found.id}::uuid AND "readAt" IS NULL AND "isDeleted" = false
   RETURNING "readAt"`;
    const message = await tx.message.findUniqueOrThrow({ where: { id: found.id }, include: { attachments: true } });
    const readAt = updated[0]?.readAt;
    if (!readAt) return { result: message, events: [] };
    const unread = await bumpUnread(tx, found.conversationId, viewer.id, -1);
    const participants = participantIds(found.conversation);
    return {
      result: message,
      events: [
        {
          kind: 'messageRead',
          conversationId: found.conversationId,
          messageIds: [found.id],
          readAt,
          readerId: viewer.id,
          participantIds: participants,
        },
        unread,
      ],
    };
  });
}

/** Every message to the viewer in the conversation that is still unread gets readAt. */
export async function markConversationRead(viewer: Viewer, id: string): Promise<Outcome<Conversation>> {
  const conversation = await conversationForViewer(viewer, id);
  const isClient = conversation.clientUserId === viewer.id;
  return change(async (tx) => {
    await lockCounter(tx, conversation.id, viewer.id);
    const updated = await tx.$queryRaw<{ id: string; readAt: Date }[]>`
      UPDATE "Message" SET "readAt" = clock_timestamp(), "updatedAt" = clock_timestamp()
       WHERE "conversationId" = ${conversation.id}::uuid
         AND "readAt" IS NULL AND "isDeleted" = false
         AND ${addressedTo(viewer.id, isClient)}
   RETURNING "id"::text AS "id", "readAt"`;
    const fresh = await tx.conversation.findUniqueOrThrow({ where: { id: conversation.id } });
    const first = updated[0];
    if (!first) return { result: fresh, events: [] };
    const unread = await bumpUnread(tx, conversation.id, viewer.id, -updated.length);
    return {
      result: fresh,
      events: [
        {
          kind: 'messageRead',
          conversationId: conversation.id,
          messageIds: updated.map((row) => row.id),
          readAt: first.readAt,
          readerId: viewer.id,
          participantIds: participantIds(conversation),
        },
        unread,
      ],
    };
  });
}

/** Soft delete by the author: content hidden, attachments dropped, the recipient's counter kept exact. */
export async function deleteMessage(viewer: Viewer, id: string): Promise<Outcome<string>> {
  const found = await messageForViewer(viewer, id);
  if (found.kind !== 'USER' || found.authorId !== viewer.id) {
    throw forbidden('Only the author of a message can delete it');
  }
  const recipientId = recipientOf(found, found.conversation);
  return change(async (tx) => {
    await lockCounter(tx, found.conversationId, recipientId);
    const updated = await tx.$queryRaw<{ readAt: Date | null }[]>`
      UPDATE "Message" SET "isDeleted" = true, "content" = '', "updatedAt" = clock_timestamp()
       WHERE "id" = ${found.id}::uuid AND "isDeleted" = false
   RETURNING "readAt"`;
    const row = updated[0];
    if (!row) return { result: found.id, events: [] };
    await tx.messageAttachment.deleteMany({ where: { messageId: found.id } });
    // Reactions go with the content: a deleted message shows none and takes none.
    await tx.messageReaction.deleteMany({ where: { messageId: found.id } });
    const events: AppEvent[] = [
      {
        kind: 'messageDeleted',
        conversationId: found.conversationId,
        messageId: found.id,
        participantIds: participantIds(found.conversation),
      },
    ];
    if (row.readAt === null) {
      events.push(await bumpUnread(tx, found.conversationId, recipientId, -1));
    }
    return { result: found.id, events };
  });
}

/**
 * The author changes the content of one of their USER messages. The same content again changes
 * nothing (no event, `editedAt` kept), so a client may retry an edit blindly. The update checks
 * `isDeleted` itself: a delete committed since the message was read wins.
 */
export async function editMessage(viewer: Viewer, id: string, rawContent: string, maxLength: number): Promise<Outcome<MessageWithAttachments>> {
  const found = await messageForViewer(viewer, id);
  if (found.kind !== 'USER' || found.authorId !== viewer.id) throw forbidden('Only the author of a message can edit it');
  const content = requireText(rawContent, 'content', maxLength);
  if (found.isDeleted) throw badInput('This message was deleted; it cannot be edited', 'id');
  if (found.content === content) return unchanged(await withAttachments(found.id));
  return change(async (tx) => {
    const updated = await tx.$queryRaw<{ editedAt: Date }[]>`
      UPDATE "Message" SET "content" = ${content}, "editedAt" = clock_timestamp(), "updatedAt" = clock_timestamp()
       WHERE "id" = ${found.id}::uuid AND "isDeleted" = false AND "content" <> ${content}
   RETURNING "editedAt"`;
    const message = await tx.message.findUniqueOrThrow({ where: { id: found.id }, include: { attachments: true } });
    const editedAt = updated[0]?.editedAt;
    if (!editedAt) {
      if (message.isDeleted) throw badInput('This message was deleted; it cannot be edited', 'id');
      return { result: message, events: [] };
    }
    return {
      result: message,
      events: [
        { kind: 'messageEdited', conversationId: found.conversationId, messageId: found.id, editedAt, participantIds: participantIds(found.conversation) },
      ],
    };
  });
}

const withAttachments = (id: string) => db.message.findUniqueOrThrow({ where: { id }, include: { attachments: true } });

/**
 * The viewer's messages in the conversation from `fromMessageId` on (by `seq`) become unread
 * again, as "mark unread" in Slack or Stream: `readAt` back to null, the viewer's counter and
 * total up by as many. Only messages to the viewer that were read are touched, so the counter
 * stays the number of unread messages to the viewer; calling it twice changes nothing more.
 * Locks the counter, then the messages, like every path that changes `readAt`.
 */
export async function markConversationUnread(viewer: Viewer, id: string, fromMessageId: string): Promise<Outcome<Conversation>> {
  const conversation = await conversationForViewer(viewer, id);
  const fromId = requireId(fromMessageId, 'fromMessageId');
  const from = await db.message.findFirst({ where: { id: fromId, conversationId: conversation.id }, select: { seq: true } });
  if (!from) throw badInput('fromMessageId is not a message of this conversation', 'fromMessageId');
  const isClient = conversation.clientUserId === viewer.id;
  return change(async (tx) => {
    await lockCounter(tx, conversation.id, viewer.id);
    const updated = await tx.$queryRaw<{ id: string }[]>`
      UPDATE "Message" SET "readAt" = NULL, "updatedAt" = clock_timestamp()
       WHERE "conversationId" = ${conversation.id}::uuid AND "seq" >= ${from.seq}
         AND "readAt" IS NOT NULL AND "isDeleted" = false
         AND ${addressedTo(viewer.id, isClient)}
   RETURNING "id"::text AS "id"`;
    const fresh = await tx.conversation.findUniqueOrThrow({ where: { id: conversation.id } });
    if (updated.length === 0) return { result: fresh, events: [] };
    const unread = await bumpUnread(tx, conversation.id, viewer.id, updated.length);
    return {
      result: fresh,
      events: [
        {
          kind: 'messageUnread',
          conversationId: conversation.id,
          messageIds: updated.map((row) => row.id),
          readerId: viewer.id,
          participantIds: participantIds(conversation),
        },
        unread,
      ],
    };
  });
}
