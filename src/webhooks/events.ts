/**
 * What a partner receives: the owner's log events of the types below, each as
 * `{ "type", "timestamp", "data" }`. The log keeps ids only; the fan-out reads the rows they name
 * (as they are then) to give the fields a partner needs, and the body is frozen in the delivery so
 * every retry sends the same bytes.
 */
import type { Tx } from '../db.js';
import type { LoggedEvent } from '../events/log.js';
import { displayNameOf } from '../services/profile.js';

export const WEBHOOK_EVENT_TYPES = [
  'message.created',
  'message.deleted',
  'message.edited',
  'message.read',
  'message.unread',
  'reaction.changed',
  'conversation.created',
  'conversation.updated',
  'conversation.deleted',
  'appointment.created',
  'appointment.updated',
  'user.updated',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const TYPES: ReadonlySet<string> = new Set(WEBHOOK_EVENT_TYPES);

export function isWebhookEventType(type: string): type is WebhookEventType {
  return TYPES.has(type);
}

export interface WebhookBody {
  type: WebhookEventType;
  timestamp: string;
  data: Record<string, unknown>;
}

/** The bodies of `events` (those of a webhook type), read in `tx`; keyed by position. */
export async function bodiesOf(tx: Tx, events: readonly LoggedEvent[]): Promise<Map<bigint, WebhookBody>> {
  const messageIds = new Set<string>();
  const conversationIds = new Set<string>();
  const appointmentIds = new Set<string>();
  const userIds = new Set<string>();
  for (const { payload } of events) {
    if (payload.type === 'user.updated') userIds.add(payload.userId);
    if (payload.type === 'message.created' || payload.type === 'message.edited') messageIds.add(payload.messageId);
    if (payload.type === 'conversation.created' || payload.type === 'conversation.updated') conversationIds.add(payload.conversationId);
    if (payload.type === 'appointment.created' || payload.type === 'appointment.updated') appointmentIds.add(payload.appointmentId);
  }
  const [messages, conversations, appointments, users] = await Promise.all([
    messageIds.size ? tx.message.findMany({ where: { id: { in: [...messageIds] } } }) : [],
    conversationIds.size ? tx.conversation.findMany({ where: { id: { in: [...conversationIds] } } }) : [],
    appointmentIds.size
      ? tx.appointment.findMany({ where: { id: { in: [...appointmentIds] } }, include: { conversation: { select: { id: true } } } })
      : [],
    userIds.size ? tx.user.findMany({ where: { id: { in: [...userIds] } } }) : [],
  ]);
  const user = new Map(users.map((row) => [row.id, row]));
  const message = new Map(messages.map((row) => [row.id, row]));
  const conversation = new Map(conversations.map((row) => [row.id, row]));
  const appointment = new Map(appointments.map((row) => [row.id, row]));

  const bodies = new Map<bigint, WebhookBody>();
  for (const event of events) {
    const { payload } = event;
    let data: Record<string, unknown>;
    switch (payload.type) {
      case 'message.created': {
        const row = message.get(payload.messageId);
        data = row
          ? {
              id: row.id,
              conversationId: row.conversationId,
              authorId: row.authorId,
              kind: row.kind,
              // A message deleted before its event went out is sent without its content.
              content: row.isDeleted ? null : row.content,
              seq: row.seq,
              createdAt: row.createdAt.toISOString(),
            }
          : { id: payload.messageId, conversationId: payload.conversationId, seq: payload.seq };
        break;
      }
      case 'message.deleted':
        data = { id: payload.messageId, conversationId: payload.conversationId };
        break;
      case 'message.edited': {
        const row = message.get(payload.messageId);
        // The text as it is when the delivery is made: a later edit's delivery carries the same, a delete null.
        data = {
          id: payload.messageId,
          conversationId: payload.conversationId,
          content: row && !row.isDeleted ? row.content : null,
          editedAt: payload.editedAt,
        };
        break;
      }
      case 'message.unread':
        data = { conversationId: payload.conversationId, messageIds: payload.messageIds, readerId: payload.readerId };
        break;
      case 'reaction.changed':
        data = {
          messageId: payload.messageId,
          conversationId: payload.conversationId,
          emoji: payload.emoji,
          userId: payload.userId,
          added: payload.added,
        };
        break;
      case 'message.read':
        data = { conversationId: payload.conversationId, messageIds: payload.messageIds, readerId: payload.readerId, readAt: payload.readAt };
        break;
      case 'conversation.created':
      case 'conversation.updated': {
        const row = conversation.get(payload.conversationId);
        data = row
          ? {
              id: row.id,
              salonId: row.salonId,
              clientUserId: row.clientUserId,
              subject: row.subject,
              status: row.status,
              appointmentId: row.appointmentId,
              lastMessageAt: row.lastMessageAt.toISOString(),
            }
          : { id: payload.conversationId };
        break;
      }
      case 'conversation.deleted':
        data = { id: payload.conversationId };
        break;
      case 'appointment.created':
      case 'appointment.updated': {
        const row = appointment.get(payload.appointmentId);
        // As it is when the delivery is made: a cancel after a move sends CANCELLED in both.
        data = row
          ? {
              id: row.id,
              salonId: row.salonId,
              clientUserId: row.clientUserId,
              service: row.service,
              startsAt: row.startsAt.toISOString(),
              ...(payload.type === 'appointment.updated' ? { status: row.status, cancelledAt: row.cancelledAt?.toISOString() ?? null } : {}),
              conversationId: row.conversation?.id ?? null,
            }
          : { id: payload.appointmentId };
        break;
      }
      case 'user.updated': {
        const row = user.get(payload.userId);
        // The name as it is when the delivery is made; avatars are signed links that expire, so none here.
        data = row ? { id: row.id, role: row.role, displayName: displayNameOf(row), hasAvatar: row.avatarUploadId !== null } : { id: payload.userId };
        break;
      }
      default:
        continue;
    }
    bodies.set(event.position, { type: payload.type, timestamp: event.occurredAt.toISOString(), data });
  }
  return bodies;
}
