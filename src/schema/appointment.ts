import { db } from '../db.js';
import { committed } from './live.js';
import type { Context } from '../context.js';
import { cancelAppointment, createAppointment, rescheduleAppointment, type ReminderSchedule } from '../services/appointments.js';
import { withSelection } from './selection.js';
import { builder, pageComplexity, pageLimit, viewerRef } from './builder.js';

const AppointmentStatusEnum = builder.enumType('AppointmentStatus', {
  description: 'Whether an appointment still holds.',
  values: {
    SCHEDULED: { description: 'Booked (and possibly rescheduled): it takes place at `startsAt`.' },
    CANCELLED: { description: 'Cancelled by the salon or the client (`cancelAppointment`); it cannot be rescheduled.' },
  } as const,
});

/** The instance's job queue (started with the webhooks) and REMINDER_BEFORE_H. */
const remindersOf = (ctx: Context): ReminderSchedule => ({ queue: ctx.webhooks.queue(), beforeH: ctx.config.reminderBeforeH });

const AppointmentRef = builder.prismaObject('Appointment', {
  description: 'A booking of a client at a salon.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier (a UUID).' }),
    startsAt: t.expose('startsAt', { type: 'DateTime', description: 'When it starts.' }),
    service: t.exposeString('service', { description: 'What is booked, e.g. "Coupe femme".' }),
    status: t.expose('status', { type: AppointmentStatusEnum, description: 'SCHEDULED, or CANCELLED once cancelled.' }),
    cancelledAt: t.expose('cancelledAt', { type: 'DateTime', nullable: true, description: 'When it was cancelled; null while SCHEDULED.' }),
    reminderSentAt: t.expose('reminderSentAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the reminder for the current `startsAt` was posted in its conversation; null before, and again after a reschedule.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was booked.' }),
    salon: t.relation('salon', { description: 'The salon.' }),
    client: t.relation('client', { description: 'The client.' }),
    conversation: t.relation('conversation', {
      nullable: true,
      description: 'Its conversation; null if opening it failed or the salon deleted it.',
    }),
  }),
});

const AppointmentConnection = builder.connectionObject(
  { type: AppointmentRef, name: 'AppointmentConnection', description: 'A page of appointments.' },
  { name: 'AppointmentEdge', description: 'An appointment in a page.' },
);

const CreateAppointmentInput = builder.inputType('CreateAppointmentInput', {
  description: 'A booking. A salon names the client; a client names the salon.',
  fields: (t) => ({
    clientUserId: t.id({ required: false, description: 'The client (when a salon books).' }),
    salonId: t.id({ required: false, description: 'The salon (when a client books).' }),
    startsAt: t.field({ type: 'DateTime', description: 'When it starts.' }),
    service: t.string({ description: 'What is booked, 1–200 characters.' }),
  }),
});

const visibleAppointments = (viewerId: string) => ({ OR: [{ salonId: viewerId }, { clientUserId: viewerId }] });

builder.queryFields((t) => ({
  appointments: t.withAuth({ viewer: true }).prismaConnection(
    {
      type: 'Appointment',
      description: "The viewer's appointments, latest start first.",
      cursor: 'id',
      defaultSize: 20,
      maxSize: pageLimit,
      complexity: pageComplexity(20),
      totalCount: (_connection, _args, ctx) =>
        db.appointment.count({ where: visibleAppointments(ctx.viewer.id) }),
      resolve: (query, _root, _args, ctx) =>
        db.appointment.findMany({
          ...query,
          where: visibleAppointments(ctx.viewer.id),
          orderBy: [{ startsAt: 'desc' }, { id: 'desc' }],
        }),
    },
    viewerRef(AppointmentConnection),
  ),
}));

builder.mutationFields((t) => ({
  createAppointment: t.withAuth({ viewer: true }).prismaField({
    type: 'Appointment',
    description:
      'Books an appointment and opens its conversation with a confirmation for the client. The appointment is kept even if the conversation step fails.',
    args: { input: t.arg({ type: CreateAppointmentInput, description: 'The booking.' }) },
    resolve: async (query, _root, { input }, ctx) =>
      withSelection(query, await committed(ctx, createAppointment(ctx.viewer, input, ctx.config.timeZone, remindersOf(ctx))), (args) =>
        db.appointment.findUniqueOrThrow(args),
      ),
  }),
  cancelAppointment: t.withAuth({ viewer: true }).prismaField({
    type: 'Appointment',
    description:
      'Cancels an appointment (its salon or its client; anyone else gets NOT_FOUND) and posts a SYSTEM notice to the client in its conversation, archived or not (already read when the client cancelled); its reminder is not sent. Cancelling a cancelled appointment changes nothing and posts nothing.',
    args: { id: t.arg.id({ description: 'The appointment.' }) },
    resolve: async (query, _root, { id }, ctx) =>
      withSelection(query, await committed(ctx, cancelAppointment(ctx.viewer, id, ctx.config.timeZone)), (args) => db.appointment.findUniqueOrThrow(args)),
  }),
  rescheduleAppointment: t.withAuth({ viewer: true }).prismaField({
    type: 'Appointment',
    description:
      'Moves an appointment (its salon or its client; anyone else gets NOT_FOUND) and posts a SYSTEM notice with the new date to the client in its conversation (already read when the client moved it); its reminder moves with it, and so does the subject of its conversation unless the salon renamed it. A cancelled appointment or a start in the past is BAD_USER_INPUT; the same start again changes nothing.',
    args: {
      id: t.arg.id({ description: 'The appointment.' }),
      startsAt: t.arg({ type: 'DateTime', description: 'The new start, in the future.' }),
    },
    resolve: async (query, _root, { id, startsAt }, ctx) =>
      withSelection(
        query,
        await committed(ctx, rescheduleAppointment(ctx.viewer, id, startsAt, ctx.config.timeZone, remindersOf(ctx))),
        (args) => db.appointment.findUniqueOrThrow(args),
      ),
  }),
}));
