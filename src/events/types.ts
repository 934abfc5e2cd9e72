import type { Conversation, Message, MessageAttachment } from '../generated/prisma/client.js';

export type MessageWithAttachments = Message & { attachments: MessageAttachment[] };

/**
 * What a service reports after its transaction commits. Services return these instead of
 * publishing, so nothing is announced for a transaction that rolled back.
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
  | { kind: 'conversationUpdated'; conversation: Conversation; participantIds: readonly string[] };

export interface EventSink {
  publish(events: readonly AppEvent[]): Promise<void>;
}
