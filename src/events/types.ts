import type { Appointment, Conversation, Message, MessageAttachment } from '../generated/prisma/client.js';

export type MessageWithAttachments = Message & { attachments: MessageAttachment[] };

/**
 * What a service did, reported from inside its transaction: recorded in the user event log before
 * commit (src/events/log.ts), published on the bus after it. Nothing is announced for a
 * transaction that rolled back.
 */
export type AppEvent =
  | { kind: 'messageAdded'; message: MessageWithAttachments; participantIds: readonly string[] }
  | {
      kind: 'messageRead';
      conversationId: string;
      messageIds: string[];
      readAt: Date;
      readerId: string;
      participantIds: readonly string[];
    }
  | { kind: 'messageDeleted'; conversationId: string; messageId: string; participantIds: readonly string[] }
  | { kind: 'unreadCount'; userId: string; totalUnread: number; conversationId: string; conversationUnread: number }
  | { kind: 'conversationCreated'; conversation: Conversation; participantIds: readonly string[] }
  | { kind: 'conversationUpdated'; conversation: Conversation; participantIds: readonly string[] }
  | { kind: 'conversationDeleted'; conversationId: string; participantIds: readonly string[] }
  | { kind: 'appointmentCreated'; appointment: Appointment; participantIds: readonly string[] };

/**
 * Who learns of an event: every participant of the conversation (or appointment) it is about —
 * the author included, for their other devices — except an unread count, which is its user's
 * alone. The log and the bus both ask here.
 */
export function recipientsOf(event: AppEvent): readonly string[] {
  return event.kind === 'unreadCount' ? [event.userId] : event.participantIds;
}

export interface EventSink {
  publish(events: readonly AppEvent[]): Promise<void>;
}
