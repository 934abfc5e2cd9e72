import type { Viewer } from '../auth/viewer.js';
import { db } from '../db.js';
import { badInput } from '../errors.js';
import type { AppEvent, MessageWithAttachments } from '../events/publish.js';
import { messageForViewer, participantIds } from './access.js';
import { change, unchanged, type Outcome } from './tx.js';
import { requireEmoji, requireId } from './validation.js';

/** Distinct emojis one message can carry, as in Slack (which allows 23): enough for a chat, bounded for a page. */
export const MAX_REACTIONS_PER_MESSAGE = 20;

/** What `Message.reactions` lists: one entry per emoji, in the order the emojis were first used. */
export interface ReactionGroup {
  emoji: string;
  count: number;
  reactedByMe: boolean;
}

/** What both participants learn of a reaction added or removed. */
function reactionChanged(
  found: Awaited<ReturnType<typeof messageForViewer>>,
  emoji: string,
  userId: string,
  added: boolean,
): AppEvent {
  const { id: messageId, conversationId, conversation } = found;
  return { kind: 'reactionChanged', conversationId, messageId, emoji, userId, added, participantIds: participantIds(conversation) };
}

const withAttachments = (id: string) => db.message.findUniqueOrThrow({ where: { id }, include: { attachments: true } });

/**
 * Adds the viewer's reaction (either participant may react). Adding one the viewer already has
 * changes nothing: one reaction per user and emoji, which the table's key holds even when two
 * requests race. The message row is locked first, so the count of distinct emojis checked
 * against MAX_REACTIONS_PER_MESSAGE cannot be passed by two new emojis at once.
 */
export async function addReaction(viewer: Viewer, messageId: string, rawEmoji: string): Promise<Outcome<MessageWithAttachments>> {
  const found = await messageForViewer(viewer, requireId(messageId, 'messageId'));
  const emoji = requireEmoji(rawEmoji);
  return change(async (tx) => {
    const [row] = await tx.$queryRaw<{ isDeleted: boolean }[]>`
      SELECT "isDeleted" FROM "Message" WHERE "id" = ${found.id}::uuid FOR UPDATE`;
    if (!row || row.isDeleted) throw badInput('This message was deleted; it takes no reactions', 'messageId');
    const [seen] = await tx.$queryRaw<{ distinct: number; known: boolean }[]>`
      SELECT count(DISTINCT "emoji")::int AS "distinct", coalesce(bool_or("emoji" = ${emoji}), false) AS "known"
        FROM "MessageReaction" WHERE "messageId" = ${found.id}::uuid`;
    if (seen && !seen.known && seen.distinct >= MAX_REACTIONS_PER_MESSAGE) {
      throw badInput(`A message has at most ${MAX_REACTIONS_PER_MESSAGE} different reactions`, 'emoji');
    }
    const added = await tx.$executeRaw`
      INSERT INTO "MessageReaction" ("messageId", "userId", "emoji", "createdAt")
      VALUES (${found.id}::uuid, ${viewer.id}::uuid, ${emoji}, clock_timestamp())
      ON CONFLICT DO NOTHING`;
    const message = await tx.message.findUniqueOrThrow({ where: { id: found.id }, include: { attachments: true } });
    return { result: message, events: added === 0 ? [] : [reactionChanged(found, emoji, viewer.id, true)] };
  });
}

/** Removes the viewer's reaction; removing one the viewer does not have changes nothing. */
export async function removeReaction(viewer: Viewer, messageId: string, rawEmoji: string): Promise<Outcome<MessageWithAttachments>> {
  const found = await messageForViewer(viewer, requireId(messageId, 'messageId'));
  const emoji = requireEmoji(rawEmoji);
  const exists = await db.messageReaction.findUnique({
    where: { messageId_emoji_userId: { messageId: found.id, emoji, userId: viewer.id } },
    select: { emoji: true },
  });
  if (!exists) return unchanged(await withAttachments(found.id));
  return change(async (tx) => {
    const removed = await tx.messageReaction.deleteMany({ where: { messageId: found.id, emoji, userId: viewer.id } });
    const message = await tx.message.findUniqueOrThrow({ where: { id: found.id }, include: { attachments: true } });
    return { result: message, events: removed.count === 0 ? [] : [reactionChanged(found, emoji, viewer.id, false)] };
  });
}

/**
 * The reactions of many messages in one statement, for `viewerId`: what the per-request loader
 * runs for a page of messages (no query per message).
 */
export async function reactionGroups(messageIds: readonly string[], viewerId: string | null): Promise<Map<string, ReactionGroup[]>> {
  const rows = await db.$queryRaw<{ messageId: string; emoji: string; count: number; reactedByMe: boolean }[]>`
    SELECT "messageId"::text AS "messageId", "emoji", count(*)::int AS "count",
           coalesce(bool_or("userId" = ${viewerId}::uuid), false) AS "reactedByMe"
      FROM "MessageReaction" WHERE "messageId" = ANY(${[...messageIds]}::uuid[])
     GROUP BY "messageId", "emoji"
     ORDER BY "messageId", min("createdAt"), "emoji"`;
  const groups = new Map<string, ReactionGroup[]>();
  for (const { messageId, ...group } of rows) groups.set(messageId, [...(groups.get(messageId) ?? []), group]);
  return groups;
}
