import type { Viewer } from '../auth/viewer.js';
import { db } from '../db.js';
import { badInput } from '../errors.js';
import type { Appointment } from '../generated/prisma/client.js';
import { logger } from '../logger.js';
import { participantIds } from './access.js';
import { openedEvents } from './conversations.js';
import { appendMessage } from './messages.js';
import { change, isUniqueViolation, thenAlso, unchanged, type Outcome } from './tx.js';
import { MAX_SERVICE_LENGTH, requireId, requireText } from './validation.js';

/** Salons are in France; the confirmation reads in their local time. */
const formatters = new Map<string, Intl.DateTimeFormat>();
/** A date as the salon's clients read it, in the salon's time zone (APP_TIME_ZONE, checked by the config). */
function frenchDate(date: Date, timeZone: string): string {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('fr-FR', { dateStyle: 'long', timeStyle: 'short', timeZone });
    formatters.set(timeZone, formatter);
  }
  return formatter.format(date);
}

export function appointmentSubject(service: string, startsAt: Date, timeZone: string): string {
  return `Appointment: ${service} — ${frenchDate(startsAt, timeZone)}`;
}

export function confirmationText(firstName: string, service: string, startsAt: Date, timeZone: string): string {
  return `Bonjour ${firstName}, votre rendez-vous du ${frenchDate(startsAt, timeZone)} pour ${service} est confirmé.`;
}

export interface CreateAppointmentInput {
  clientUserId?: string | null;
  salonId?: string | null;
  startsAt: Date;
  service: string;
}

/**
 * The appointment's conversation with its French SYSTEM confirmation. Runs after the
 * appointment has committed: a failure here is logged and the appointment stays.
 */
async function openAppointmentConversation(
  appointment: Appointment,
  clientFirstName: string,
  timeZone: string,
): Promise<Outcome<unknown>> {
  try {
    return await change(async (tx) => {
      const conversation = await tx.conversation.create({
        data: {
          salonId: appointment.salonId,
          clientUserId: appointment.clientUserId,
          appointmentId: appointment.id,
          subject: appointmentSubject(appointment.service, appointment.startsAt, timeZone),
          notifications: { create: [{ userId: appointment.salonId }, { userId: appointment.clientUserId }] },
        },
      });
      const appended = await appendMessage(tx, {
        conversationId: conversation.id,
        authorId: null,
        kind: 'SYSTEM',
        content: confirmationText(clientFirstName, appointment.service, appointment.startsAt, timeZone),
        attachments: [],
        clientMessageId: null,
      });
      return { result: appended.conversation, events: openedEvents(conversation, appended) };
    });
  } catch (error) {
    if (!isUniqueViolation(error)) {
      logger.error({ err: error, appointmentId: appointment.id }, 'appointment conversation step failed');
    }
    return unchanged(null);
  }
}

export async function createAppointment(viewer: Viewer, input: CreateAppointmentInput, timeZone: string): Promise<Outcome<Appointment>> {
  const service = requireText(input.service, 'service', MAX_SERVICE_LENGTH);
  if (Number.isNaN(input.startsAt.getTime())) throw badInput('startsAt is not a valid date-time', 'startsAt');

  let salonId: string;
  let clientUserId: string;
  if (viewer.role === 'SALON') {
    if (!input.clientUserId) throw badInput('A salon must name the clientUserId', 'clientUserId');
    salonId = viewer.id;
    clientUserId = requireId(input.clientUserId, 'clientUserId');
  } else {
    if (!input.salonId) throw badInput('A client must name the salonId', 'salonId');
    salonId = requireId(input.salonId, 'salonId');
    clientUserId = viewer.id;
  }
  const [salon, client] = await Promise.all([
    db.user.findUnique({ where: { id: salonId }, select: { role: true } }),
    db.user.findUnique({ where: { id: clientUserId }, select: { role: true, firstName: true } }),
  ]);
  if (!salon || salon.role !== 'SALON') throw badInput('salonId does not name a salon', 'salonId');
  if (!client || client.role !== 'CLIENT') throw badInput('clientUserId does not name a client', 'clientUserId');

  const created = await change(async (tx) => {
    const appointment = await tx.appointment.create({
      data: { salonId, clientUserId, startsAt: input.startsAt, service },
    });
    return {
      result: appointment,
      events: [{ kind: 'appointmentCreated', appointment, participantIds: participantIds(appointment) }] as const,
    };
  });
  return thenAlso(created, await openAppointmentConversation(created.result, client.firstName, timeZone));
}
