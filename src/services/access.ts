import type { Viewer } from '../auth/viewer.js';
import { db } from '../db.js';
import { notFound } from '../errors.js';
import type { Conversation, Message } from '../generated/prisma/client.js';
import { requireId } from './validation.js';

export type Participants = Pick<Conversation, 'salonId' | 'clientUserId'>;

export function participantIds(conversation: Participants): [string, string] {
  return [conversation.salonId, conversation.clientUserId];
}

export function isParticipant(conversation: Participants, userId: string): boolean {
  return conversation.salonId === userId || conversation.clientUserId === userId;
}

/** Whom an unread message is for: the other participant, or the client for SYSTEM messages. */
export function recipientOf(message: Pick<Message, 'kind' | 'authorId'>, conversation: Participants): string {
  if (message.kind === 'SYSTEM') return conversation.clientUserId;
  return message.authorId === conversation.salonId ? conversation.clientUserId : conversation.salonId;
}

export function visibleConversationWhere(viewerId: string) {
  return { OR: [{ salonId: viewerId }, { clientUserId: viewerId }] };
}

/** The conversation if the viewer takes part in it; NOT_FOUND otherwise, never a hint it exists. */
export async function conversationForViewer(viewer: Viewer, id: string): Promise<Conversation> {
  const conversationId = requireId(id, 'id');
  const conversation = await db.conversation.findFirst({
    where: { id: conversationId, ...visibleConversationWhere(viewer.id) },
  });
  if (!conversation) throw notFound('Conversation');
  return conversation;
}

export async function messageForViewer(viewer: Viewer, id: string) {
  const messageId = requireId(id, 'id');
  const message = await db.message.findFirst({
    where: { id: messageId, conversation: visibleConversationWhere(viewer.id) },
    include: { conversation: true },
  });
  if (!message) throw notFound('Message');
  return message;
}
