import { createHash } from 'node:crypto';
import type PgBoss from 'pg-boss';
import type { Viewer } from '../auth/viewer.js';
import { db, type Tx } from '../db.js';
import { badInput, notFound } from '../errors.js';
import type { AppEvent } from '../events/publish.js';
import type { Appointment } from '../generated/prisma/client.js';
import { QUEUES, type JobQueue } from '../jobs/queue.js';
import { logger } from '../logger.js';
import { participantIds } from './access.js';
import { openedEvents } from './conversations.js';
import { appendMessage, messageAddedEvents, readAtOnce } from './messages.js';
import { change, unchanged, type Outcome } from './tx.js';
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

const timeFormatters = new Map<string, Intl.DateTimeFormat>();
/** "14:30" in the salon's time zone. */
function frenchTime(date: Date, timeZone: string): string {
  let formatter = timeFormatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('fr-FR', { timeStyle: 'short', timeZone });
    timeFormatters.set(timeZone, formatter);
  }
  return formatter.format(date);
}

/** The calendar day of `date` in `timeZone`, as a UTC midnight (so days can be counted). */
function localDay(date: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric' }).formatToParts(date);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(part('year'), part('month') - 1, part('day'));
}

export function cancellationText(service: string, startsAt: Date, timeZone: string): string {
  return `Votre rendez-vous du ${frenchDate(startsAt, timeZone)} pour ${service} est annulé.`;
}

export function rescheduleText(service: string, startsAt: Date, timeZone: string): string {
  return `Votre rendez-vous pour ${service} est déplacé au ${frenchDate(startsAt, timeZone)}.`;
}

/** "… est demain à 14:30." when sent the day before (the usual case), "aujourd'hui" the same day, else the date. */
export function reminderText(service: string, startsAt: Date, now: Date, timeZone: string): string {
  const days = Math.round((localDay(startsAt, timeZone) - localDay(now, timeZone)) / 86_400_000);
  const when =
    days === 0
      ? `aujourd'hui à ${frenchTime(startsAt, timeZone)}`
      : days === 1
        ? `demain à ${frenchTime(startsAt, timeZone)}`
        : `le ${frenchDate(startsAt, timeZone)}`;
  return `Rappel : votre rendez-vous pour ${service} est ${when}.`;
}

export function appointmentSubject(service: string, startsAt: Date, timeZone: string): string {
  return `Appointment: ${service} — ${frenchDate(startsAt, timeZone)}`;
}

export function confirmationText(firstName: string, service: string, startsAt: Date, timeZone: string): string {
  return `Bonjour ${firstName}, votre rendez-vous du ${frenchDate(startsAt, timeZone)} pour ${service} est confirmé.`;
}

/** What a reminder job carries: the start it was scheduled for, so a job for a time since moved does nothing. */
export interface ReminderJob {
  appointmentId: string;
  startsAt: string;
}

/** Where and when reminders are scheduled: the instance's job queue and REMINDER_BEFORE_H. */
export interface ReminderSchedule {
  queue: JobQueue;
  beforeH: number;
}

/**
 * One job id per appointment and start: inserting the same reminder twice (pg-boss ignores a
 * known id) schedules it once.
 */
function reminderJobId(appointmentId: string, startsAt: Date): string {
  const hex = createHash('sha256').update(`${appointmentId}@${startsAt.toISOString()}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The reminder job of an appointment at its current start, inserted in the caller's transaction
 * (it exists if, and only if, the booking or the move commits). None when the reminder's time has
 * already passed: the confirmation or move notice posted at the same moment says when, and a
 * reminder right after it would only repeat it.
 */
async function scheduleReminder(tx: Tx, schedule: ReminderSchedule | undefined, appointment: Appointment): Promise<void> {
  if (!schedule) return;
  const due = appointment.startsAt.getTime() - schedule.beforeH * 3_600_000;
  if (due <= Date.now()) return;
  const job: PgBoss.JobInsert<ReminderJob> = {
    id: reminderJobId(appointment.id, appointment.startsAt),
    name: QUEUES.appointmentReminder,
    data: { appointmentId: appointment.id, startsAt: appointment.startsAt.toISOString() },
    startAfter: new Date(due),
  };
  await schedule.queue.insertIn(tx, [job]);
}

export interface CreateAppointmentInput {
  clientUserId?: string | null;
  salonId?: string | null;
  startsAt: Date;
  service: string;
}

/**
 * The appointment's conversation with its French SYSTEM confirmation, in the booking's
 * transaction behind a savepoint: the appointment, its conversation and their events commit
 * together, so no reader (a webhook delivery, a subscriber) sees the appointment without the
 * conversation it got; if this step fails it alone is rolled back, logged, and the appointment stays.
 */
async function openAppointmentConversation(
  tx: Tx,
  appointment: Appointment,
  clientFirstName: string,
  timeZone: string,
): Promise<readonly AppEvent[]> {
  await tx.$executeRawUnsafe('SAVEPOINT appointment_conversation');
  try {
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
    await tx.$executeRawUnsafe('RELEASE SAVEPOINT appointment_conversation');
    return openedEvents(conversation, appended);
  } catch (error) {
    await tx.$executeRawUnsafe('ROLLBACK TO SAVEPOINT appointment_conversation');
    logger.error({ err: error, appointmentId: appointment.id }, 'appointment conversation step failed');
    return [];
  }
}

/** Books an appointment; with `reminders`, its reminder is scheduled in the same transaction. */
export async function createAppointment(
  viewer: Viewer,
  input: CreateAppointmentInput,
  timeZone: string,
  reminders?: ReminderSchedule,
): Promise<Outcome<Appointment>> {
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

  return change(async (tx) => {
    const appointment = await tx.appointment.create({
      data: { salonId, clientUserId, startsAt: input.startsAt, service },
    });
    await scheduleReminder(tx, reminders, appointment);
    return {
      result: appointment,
      events: [
        { kind: 'appointmentCreated', appointment, participantIds: participantIds(appointment) },
        ...(await openAppointmentConversation(tx, appointment, client.firstName, timeZone)),
      ],
    };
  });
}

/** The appointment if the viewer is its salon or its client; NOT_FOUND otherwise, never a hint it exists. */
async function appointmentForViewer(viewer: Viewer, id: string) {
  const appointmentId = requireId(id, 'id');
  const appointment = await db.appointment.findFirst({
    where: { id: appointmentId, OR: [{ salonId: viewer.id }, { clientUserId: viewer.id }] },
    include: { conversation: { select: { id: true, subject: true } } },
  });
  if (!appointment) throw notFound('Appointment');
  return appointment;
}

/**
 * Posts an appointment notice (SYSTEM, unread for the client) in its conversation, if it has one:
 * the events to report with the change. Archived conversations get it too (appendMessage lets
 * SYSTEM messages through): archiving stops people's messages, not what the client must learn.
 * When the client made the change (`by`; null for the reminder job), the notice is read at once: nobody is notified of what
 * they just did; the salon learns of it from AppointmentUpdatedEvent and the notice itself.
 */
async function postNotice(tx: Tx, conversationId: string | null, content: string, by: string | null = null): Promise<AppEvent[]> {
  if (!conversationId) return [];
  const appended = await appendMessage(tx, { conversationId, authorId: null, kind: 'SYSTEM', content, attachments: [], clientMessageId: null });
  return [...messageAddedEvents(appended), ...(appended.recipientId === by ? await readAtOnce(tx, appended) : [])];
}

/**
 * The salon or the client cancels. Idempotent: cancelling a cancelled appointment returns it
 * unchanged, with no second notice. The reminder job, when it comes due, finds it cancelled and
 * posts nothing.
 */
export async function cancelAppointment(viewer: Viewer, id: string, timeZone: string): Promise<Outcome<Appointment>> {
  const found = await appointmentForViewer(viewer, id);
  if (found.status === 'CANCELLED') return unchanged(found);
  return change(async (tx) => {
    // Conditional: of two cancels at once, one changes the row and posts; the other sees it done.
    const { count } = await tx.appointment.updateMany({
      where: { id: found.id, status: 'SCHEDULED' },
      data: { status: 'CANCELLED', cancelledAt: new Date() },
    });
    const cancelled = await tx.appointment.findUniqueOrThrow({ where: { id: found.id } });
    if (count === 0) return { result: cancelled, events: [] };
    const conversationId = found.conversation?.id ?? null;
    const events: AppEvent[] = [
      { kind: 'appointmentUpdated', appointment: cancelled, conversationId, participantIds: participantIds(cancelled) },
      ...(await postNotice(tx, conversationId, cancellationText(cancelled.service, cancelled.startsAt, timeZone), viewer.id)),
    ];
    return { result: cancelled, events };
  });
}

/**
 * The salon or the client moves it to `startsAt` (in the future; a cancelled appointment cannot
 * be moved). The same start again changes nothing. Its conversation's subject follows when it is
 * still the one booking gave it. The reminder moves with it: a new job for the
 * new start, and the old one, when it comes due, finds a different start and posts nothing.
 */
export async function rescheduleAppointment(
  viewer: Viewer,
  id: string,
  startsAt: Date,
  timeZone: string,
  reminders?: ReminderSchedule,
): Promise<Outcome<Appointment>> {
  const found = await appointmentForViewer(viewer, id);
  if (Number.isNaN(startsAt.getTime())) throw badInput('startsAt is not a valid date-time', 'startsAt');
  if (startsAt.getTime() <= Date.now()) throw badInput('startsAt must be in the future', 'startsAt');
  if (found.status === 'CANCELLED') throw badInput('This appointment is cancelled; book a new one instead', 'id');
  if (found.startsAt.getTime() === startsAt.getTime()) return unchanged(found);
  return change(async (tx) => {
    const { count } = await tx.appointment.updateMany({
      where: { id: found.id, status: 'SCHEDULED' },
      data: { startsAt, reminderSentAt: null },
    });
    // A cancel committed since it was read wins.
    if (count === 0) throw badInput('This appointment is cancelled; book a new one instead', 'id');
    const moved = await tx.appointment.findUniqueOrThrow({ where: { id: found.id } });
    await scheduleReminder(tx, reminders, moved);
    const conversation = found.conversation;
    const events: AppEvent[] = [
      { kind: 'appointmentUpdated', appointment: moved, conversationId: conversation?.id ?? null, participantIds: participantIds(moved) },
    ];
    // The subject booking gave it names the old date: it follows the move. A subject the salon chose stays.
    if (conversation && conversation.subject === appointmentSubject(found.service, found.startsAt, timeZone)) {
      const renamed = await tx.conversation.update({
        where: { id: conversation.id },
        data: { subject: appointmentSubject(moved.service, moved.startsAt, timeZone) },
      });
      events.push({ kind: 'conversationUpdated', conversation: renamed, participantIds: participantIds(renamed) });
    }
    events.push(...(await postNotice(tx, conversation?.id ?? null, rescheduleText(moved.service, moved.startsAt, timeZone), viewer.id)));
    return { result: moved, events };
  });
}

export type ReminderResult = 'sent' | 'cancelled' | 'moved' | 'already_sent' | 'late' | 'no_conversation';

/**
 * A due reminder job: posts the reminder once. The conditional UPDATE of `reminderSentAt`, in
 * the message's transaction, is what makes it once: two instances (or a retry after a crash)
 * racing for it wait on the row lock, and the second finds it set. A job scheduled for a start
 * since moved finds a different `startsAt` and does nothing.
 */
export async function sendReminder(job: ReminderJob, timeZone: string): Promise<Outcome<ReminderResult>> {
  const startsAt = new Date(job.startsAt);
  const found = await db.appointment.findUnique({ where: { id: job.appointmentId }, include: { conversation: { select: { id: true } } } });
  // Deleted with its salon or client: nothing to remind.
  if (!found || found.status === 'CANCELLED') return unchanged('cancelled');
  if (found.startsAt.getTime() !== startsAt.getTime()) return unchanged('moved');
  if (found.reminderSentAt) return unchanged('already_sent');
  if (found.startsAt.getTime() <= Date.now()) return unchanged('late');
  const conversationId = found.conversation?.id;
  if (!conversationId) return unchanged('no_conversation');
  return change(async (tx) => {
    const { count } = await tx.appointment.updateMany({
      where: { id: found.id, status: 'SCHEDULED', startsAt, reminderSentAt: null },
      data: { reminderSentAt: new Date() },
    });
    if (count === 0) return { result: 'already_sent' as ReminderResult, events: [] };
    const events = await postNotice(tx, conversationId, reminderText(found.service, startsAt, new Date(), timeZone));
    return { result: 'sent' as ReminderResult, events };
  });
}
