import type { Viewer } from '../auth/viewer.js';
import { db } from '../db.js';
import { badInput } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import { topics } from '../events/topics.js';
import type { MessageWithAttachments } from '../events/types.js';
import { conversationForViewer, messageForViewer, visibleConversationWhere } from './access.js';

const include = { attachments: true } as const;

/**
 * messageAdded for one viewer: optional replay from `after`, then live delivery, in `seq` order
 * per conversation with no gap and no duplicate.
 *
 * The live subscription is opened first and the database read second, so a message committed
 * during the replay is either in the replay or arrives live (dropped if already replayed). Each
 * conversation's last delivered `seq` is tracked; a live message further ahead than the next one
 * means events were lost (a Redis outage, two instances publishing out of order), and the gap
 * is read from PostgreSQL before it is delivered.
 */
export async function* liveMessages(
  bus: EventBus,
  viewer: Viewer,
  args: { conversationId?: string | null; after?: string | null },
): AsyncGenerator<MessageWithAttachments> {
  const only = args.conversationId ? await conversationForViewer(viewer, args.conversationId) : null;
  const after = args.after ? await messageForViewer(viewer, args.after) : null;
  if (only && after && after.conversationId !== only.id) {
    throw badInput('`after` is not a message of this conversation', 'after');
  }

  const live = await bus.subscribe(topics.messageAdded(viewer.id));
  try {
    // A baseline older than the subscription only means that the first live message may be
    // preceded by the few committed just before it (read as a gap): late, never lost or doubled.
    const baseline = only
      ? [only]
      : await db.conversation.findMany({ where: visibleConversationWhere(viewer.id), select: { id: true, lastSeq: true } });
    const delivered = new Map(baseline.map((c) => [c.id, c.lastSeq]));

    if (after) {
      delivered.set(after.conversationId, after.seq);
      const missed = await db.message.findMany({
        where: only
          ? { conversationId: only.id, seq: { gt: after.seq } }
          : {
              OR: [
                { conversationId: after.conversationId, seq: { gt: after.seq } },
                // Across conversations there is no common sequence; time is the best order there.
                {
                  conversationId: { not: after.conversationId },
                  conversation: visibleConversationWhere(viewer.id),
                  createdAt: { gt: after.createdAt },
                },
              ],
            },
        orderBy: [{ createdAt: 'asc' }, { seq: 'asc' }],
        include,
      });
      for (const message of missed) {
        delivered.set(message.conversationId, Math.max(delivered.get(message.conversationId) ?? 0, message.seq));
        yield message;
      }
    }

    for await (const message of live) {
      if (only && message.conversationId !== only.id) continue;
      const last = delivered.get(message.conversationId) ?? 0;
      if (message.seq <= last) continue;
      if (message.seq > last + 1) {
        const gap = await db.message.findMany({
          where: { conversationId: message.conversationId, seq: { gt: last, lt: message.seq } },
          orderBy: { seq: 'asc' },
          include,
        });
        for (const missing of gap) yield missing;
      }
      delivered.set(message.conversationId, message.seq);
      yield message;
    }
  } finally {
    await live.return?.();
  }
}
