import type { Viewer } from '../auth/viewer.js';
import { db } from '../db.js';
import { badInput, conflict, forbidden, notFound } from '../errors.js';
import type { AppEvent } from '../events/publish.js';
import type { Conversation, ConversationStatus } from '../generated/prisma/client.js';
import { conversationForViewer, participantIds } from './access.js';
import { appendMessage, messageAddedEvents } from './messages.js';
import { change, isUniqueViolation, unchanged, type Outcome } from './tx.js';
import { MAX_SUBJECT_LENGTH, requireId, requireText } from './validation.js';

function requireSalon(viewer: Viewer, action: string) {
  if (viewer.role !== 'SALON') throw forbidden(`Only the salon can ${action} a conversation`);
}

async function requireSalonOf(viewer: Viewer, id: string, action: string): Promise<Conversation> {
  const conversation = await conversationForViewer(viewer, id);
  if (conversation.salonId !== viewer.id) throw forbidden(`Only the salon can ${action} a conversation`);
  return conversation;
}

function updatedEvents(conversation: Conversation): AppEvent[] {
  return [{ kind: 'conversationUpdated', conversation, participantIds: participantIds(conversation) }];
}

/**
 * A new conversation (by the salon, or an appointment's) and its first message if it has one.
 * The created event carries the conversation as it stands after that message.
 */
export function openedEvents(
  conversation: Conversation,
  appended: Awaited<ReturnType<typeof appendMessage>> | null,
): AppEvent[] {
  const created: AppEvent = {
    kind: 'conversationCreated',
    conversation: appended?.conversation ?? conversation,
    participantIds: participantIds(conversation),
  };
  if (!appended) return [created];
  return [created, ...messageAddedEvents(appended)];
}

export interface CreateConversationInput {
  clientUserId: string;
  appointmentId?: string | null;
  subject: string;
  firstMessage?: string | null;
}

export async function createConversation(
  viewer: Viewer,
  input: CreateConversationInput,
  maxLength: number,
): Promise<Outcome<Conversation>> {
  requireSalon(viewer, 'create');
  const clientUserId = requireId(input.clientUserId, 'clientUserId');
  const appointmentId = input.appointmentId == null ? null : requireId(input.appointmentId, 'appointmentId');
  const subject = requireText(input.subject, 'subject', MAX_SUBJECT_LENGTH);
  const firstMessage = input.firstMessage == null ? null : requireText(input.firstMessage, 'firstMessage', maxLength);

  const client = await db.user.findUnique({ where: { id: clientUserId }, select: { role: true } });
  if (!client || client.role !== 'CLIENT') throw badInput('clientUserId does not name a client', 'clientUserId');
  if (appointmentId) {
    const appointment = await db.appointment.findFirst({
      where: { id: appointmentId, salonId: viewer.id },
      select: { clientUserId: true, conversation: { select: { id: true } } },
    });
    if (!appointment) throw notFound('Appointment');
    if (appointment.clientUserId !== clientUserId) {
      throw badInput('The appointment belongs to another client', 'appointmentId');
    }
    if (appointment.conversation) throw conflict('This appointment already has a conversation');
  }

  try {
    return await change(async (tx) => {
      const created = await tx.conversation.create({
        data: {
          salonId: viewer.id,
          clientUserId,
          appointmentId,
          subject,
          notifications: { create: [{ userId: viewer.id }, { userId: clientUserId }] },
        },
      });
      if (!firstMessage) return { result: created, events: openedEvents(created, null) };
      const appended = await appendMessage(tx, {
        conversationId: created.id,
        authorId: viewer.id,
        kind: 'USER',
        content: firstMessage,
        attachments: [],
        clientMessageId: null,
      });
      return { result: appended.conversation, events: openedEvents(created, appended) };
    });
  } catch (error) {
    // The pre-check above and a concurrent create can both pass; the unique index decides.
    if (appointmentId && isUniqueViolation(error)) throw conflict('This appointment already has a conversation');
    throw error;
  }
}

export interface UpdateConversationInput {
  subject?: string | null;
  status?: ConversationStatus | null;
}

export async function updateConversation(
  viewer: Viewer,
  id: string,
  input: UpdateConversationInput,
): Promise<Outcome<Conversation>> {
  const conversation = await requireSalonOf(viewer, id, 'update');
  const data: { subject?: string; status?: ConversationStatus } = {};
  if (input.subject != null) data.subject = requireText(input.subject, 'subject', MAX_SUBJECT_LENGTH);
  if (input.status != null) data.status = input.status;
  if (Object.keys(data).length === 0) return unchanged(conversation);
  return change(async (tx) => {
    const updated = await tx.conversation.update({ where: { id: conversation.id }, data });
    return { result: updated, events: updatedEvents(updated) };
  });
}

export async function archiveConversation(viewer: Viewer, id: string): Promise<Outcome<Conversation>> {
  const conversation = await requireSalonOf(viewer, id, 'archive');
  if (conversation.status === 'ARCHIVED') return unchanged(conversation);
  return change(async (tx) => {
    const updated = await tx.conversation.update({ where: { id: conversation.id }, data: { status: 'ARCHIVED' } });
    return { result: updated, events: updatedEvents(updated) };
  });
}

/**
 * Deletes the conversation with its messages and counters: both participants are told it is gone
 * and get their new unread totals.
 */
export async function deleteConversation(viewer: Viewer, id: string): Promise<Outcome<string>> {
  const conversation = await requireSalonOf(viewer, id, 'delete');
  const participants = participantIds(conversation);
  return change(async (tx) => {
    // Conversation row first, then its counters: the order a send takes them in, so no deadlock.
    await tx.$queryRaw`SELECT 1 FROM "Conversation" WHERE "id" = ${conversation.id}::uuid FOR UPDATE`;
    // Its counters go with it: each participant's total drops by what was unread there.
    const counters = await tx.$queryRaw<{ userId: string; unreadCount: number }[]>`
      SELECT "userId"::text AS "userId", "unreadCount" FROM "MessageNotification"
       WHERE "conversationId" = ${conversation.id}::uuid ORDER BY "userId" FOR UPDATE`;
    await tx.conversation.delete({ where: { id: conversation.id } });
    const events: AppEvent[] = [{ kind: 'conversationDeleted', conversationId: conversation.id, participantIds: participants }];
    for (const userId of participants) {
      const unread = counters.find((row) => row.userId === userId)?.unreadCount ?? 0;
      events.push({ kind: 'unreadCount', userId, conversationId: conversation.id, conversationUnread: 0, delta: -unread });
    }
    return { result: conversation.id, events };
  });
}
