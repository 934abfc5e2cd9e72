/**
 * The one home of publishing. Services report what they did as `AppEvent`s; `change` records
 * them in each recipient's log inside the transaction (src/events/log.ts, src/services/tx.ts);
 * once it has committed, `announce` wakes the recipients' readers. Nothing here is durable and
 * nothing needs to be: a lost wake-up costs a delay (readers re-check the log every
 * EVENT_POLL_MS and when Redis comes back), never an event. Typing and presence, which are
 * ephemeral by nature, publish on their own topics (typing.ts, presence.ts).
 */
import type { Appointment, Conversation, Message, MessageAttachment, User } from '../generated/prisma/client.js';
import { logger } from '../logger.js';
import type { EventBus, Publication } from './bus.js';
import type { LoggedEvent } from './log.js';
import { topics } from './topics.js';

type UserEventsTopic = ReturnType<typeof topics.userEvents>;

export type MessageWithAttachments = Message & {
  attachments: MessageAttachment[];
  /** Its author's row, when a send carried it: a live delivery then shows the author without a query. */
  author?: User | null;
};

/** What a service did, reported from inside its transaction. Nothing is announced for a transaction that rolled back. */
export type AppEvent =
  /** `conversation`: as the message left it (what a wake-up carries for `conversationUpdated`). */
  | { kind: 'messageAdded'; message: MessageWithAttachments; conversation: Conversation; participantIds: readonly string[] }
  | {
      kind: 'messageRead';
      conversationId: string;
      messageIds: string[];
      readAt: Date;
      readerId: string;
      participantIds: readonly string[];
    }
  | { kind: 'messageDeleted'; conversationId: string; messageId: string; participantIds: readonly string[] }
  | { kind: 'messageEdited'; conversationId: string; messageId: string; editedAt: Date; participantIds: readonly string[] }
  /** Read messages became unread again: their recipient (`readerId`) marked the conversation unread from one of them. */
  | { kind: 'messageUnread'; conversationId: string; messageIds: string[]; readerId: string; participantIds: readonly string[] }
  | {
      kind: 'reactionChanged';
      conversationId: string;
      messageId: string;
      emoji: string;
      userId: string;
      added: boolean;
      participantIds: readonly string[];
    }
  /** A counter moved by `delta`; the user's total is the log's to state (see LOG_ENTRIES in log.ts). */
  | { kind: 'unreadCount'; userId: string; conversationId: string; conversationUnread: number; delta: number }
  | { kind: 'conversationCreated'; conversation: Conversation; participantIds: readonly string[] }
  | { kind: 'conversationUpdated'; conversation: Conversation; participantIds: readonly string[] }
  | { kind: 'conversationDeleted'; conversationId: string; participantIds: readonly string[] }
  | { kind: 'appointmentCreated'; appointment: Appointment; participantIds: readonly string[] }
  /** Cancelled or moved; `conversationId`: its conversation, if it has one. */
  | { kind: 'appointmentUpdated'; appointment: Appointment; conversationId: string | null; participantIds: readonly string[] }
  /** `participantIds`: the user and everyone who shares a conversation with them. */
  | { kind: 'userUpdated'; userId: string; participantIds: readonly string[] }
  /** The owner's endpoint stopped receiving after failing everything for WEBHOOK_DISABLE_AFTER_S (src/webhooks). */
  | { kind: 'webhookEndpointDisabled'; endpointId: string; reason: string; participantIds: readonly string[] };

/**
 * Who learns of an event: every participant of the conversation (or appointment) it is about —
 * the author included, for their other devices — except an unread count, which is its user's
 * alone. The log asks here; nothing else decides recipients.
 */
export function recipientsOf(event: AppEvent): readonly string[] {
  return event.kind === 'unreadCount' ? [event.userId] : event.participantIds;
}

/** A committed change: what it reported and the log rows they became. */
export interface Announced {
  readonly events: readonly AppEvent[];
  readonly logged: readonly LoggedEvent[];
}

/**
 * After commit: one wake-up per recipient, carrying that user's new log rows and the rows'
 * subjects as they were committed, so a reader already at the previous position delivers them
 * without reading PostgreSQL. A failed publish is logged; the readers' periodic check of the log
 * delivers the events later.
 */
export async function announce(bus: EventBus, { events, logged }: Announced): Promise<void> {
  if (logged.length === 0) return;
  const messages = events.flatMap((event) => (event.kind === 'messageAdded' ? [event.message] : []));
  const conversations = events.flatMap((event) =>
    event.kind === 'conversationCreated' || event.kind === 'conversationUpdated' || event.kind === 'messageAdded' ? [event.conversation] : [],
  );
  const byUser = new Map<string, LoggedEvent[]>();
  for (const row of logged) byUser.set(row.userId, [...(byUser.get(row.userId) ?? []), row]);
  const users = [...byUser];
  const published = await bus.publishAll(
    users.map(([userId, rows]): Publication<UserEventsTopic> => [
      topics.userEvents(userId),
      {
        events: rows.map((row) => ({
          position: row.position.toString(),
          type: row.payload.type,
          conversationId: row.conversationId,
          payload: row.payload,
          occurredAt: row.occurredAt,
        })),
        messages,
        conversations,
      },
    ]),
  );
  published.forEach((result, i) => {
    if (result.status === 'fulfilled') return;
    const [userId, rows] = users[i]!;
    logger.warn({ err: result.reason, userId, position: rows.at(-1)?.position.toString() }, 'event wake-up not published; readers catch up from the log');
  });
}
