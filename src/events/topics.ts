import type { Conversation } from '../generated/prisma/client.js';
import type { MessageWithAttachments } from './types.js';

export interface MessageReadPayload {
  conversationId: string;
  messageIds: string[];
  readAt: Date;
  readerId: string;
}

export interface MessageDeletedPayload {
  conversationId: string;
  messageId: string;
}

export interface UnreadCountPayload {
  totalUnread: number;
  conversationId: string;
  conversationUnread: number;
}

export interface TypingPayload {
  conversationId: string;
  userId: string;
  isTyping: boolean;
}

/** A wake-up: the user's event log has grown to `position` (a decimal string: JSON has no bigint). */
export interface EventsWakeUp {
  position: string;
}

export interface PresencePayload {
  userId: string;
  online: boolean;
  lastSeenAt: Date | null;
}

/**
 * Every topic and what travels on it, declared once. Topics are per user (chosen from the
 * viewer, never from arguments) except typing, which is per conversation and only subscribed
 * after a membership check.
 */
export interface TopicMap {
  [topic: `user:${string}:message-added`]: MessageWithAttachments;
  [topic: `user:${string}:message-read`]: MessageReadPayload;
  [topic: `user:${string}:message-deleted`]: MessageDeletedPayload;
  [topic: `user:${string}:unread-count`]: UnreadCountPayload;
  [topic: `user:${string}:conversation-updated`]: Conversation;
  [topic: `user:${string}:presence`]: PresencePayload;
  [topic: `user:${string}:events`]: EventsWakeUp;
  [topic: `conversation:${string}:typing`]: TypingPayload;
}

export type Topic = keyof TopicMap;

export const topics = {
  messageAdded: (userId: string) => `user:${userId}:message-added` as const,
  messageRead: (userId: string) => `user:${userId}:message-read` as const,
  messageDeleted: (userId: string) => `user:${userId}:message-deleted` as const,
  unreadCount: (userId: string) => `user:${userId}:unread-count` as const,
  conversationUpdated: (userId: string) => `user:${userId}:conversation-updated` as const,
  presence: (userId: string) => `user:${userId}:presence` as const,
  userEvents: (userId: string) => `user:${userId}:events` as const,
  typing: (conversationId: string) => `conversation:${conversationId}:typing` as const,
};
