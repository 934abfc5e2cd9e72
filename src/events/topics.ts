import type { Conversation } from '../generated/prisma/client.js';
import type { MessageWithAttachments } from './publish.js';

export interface TypingPayload {
  conversationId: string;
  userId: string;
  isTyping: boolean;
}

/** One row of a user's event log on the wire (position as a decimal string: JSON has no bigint). */
export interface WireEvent {
  position: string;
  type: string;
  conversationId: string | null;
  payload: unknown;
  occurredAt: Date;
}

/** A wake-up: the user's new log rows of one committed change, and their subjects as committed. */
export interface EventsWakeUp {
  events: WireEvent[];
  messages: MessageWithAttachments[];
  conversations: Conversation[];
}

export interface PresencePayload {
  userId: string;
  online: boolean;
  lastSeenAt: Date | null;
}

/**
 * Every topic and what travels on it, declared once. Topics are per user (chosen from the
 * viewer, never from arguments) except typing, which is per conversation and only subscribed
 * after a membership check, and the instances' own `webhooks:owners`, which no operation reads.
 */
export interface TopicMap {
  [topic: `user:${string}:presence`]: PresencePayload;
  [topic: `user:${string}:events`]: EventsWakeUp;
  [topic: `conversation:${string}:typing`]: TypingPayload;
  /** An account has an enabled webhook endpoint now: every instance fans out its events from its next commit. */
  'webhooks:owners': { ownerId: string };
}

export type Topic = keyof TopicMap;

export const topics = {
  presence: (userId: string) => `user:${userId}:presence` as const,
  userEvents: (userId: string) => `user:${userId}:events` as const,
  typing: (conversationId: string) => `conversation:${conversationId}:typing` as const,
  webhookOwners: 'webhooks:owners' as const,
};
