import { db } from '../db.js';
import { committed } from './live.js';
import { createAppointment } from '../services/appointments.js';
import { withSelection } from './selection.js';
import { builder, pageComplexity, pageLimit, viewerRef } from './builder.js';


const AppointmentRef = builder.prismaObject('Appointment', {
  description: 'A booking of a client at a salon.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier (a UUID).' }),
    startsAt: t.expose('startsAt', { type: 'DateTime', description: 'When it starts.' }),
    service: t.exposeString('service', { description: 'What is booked, e.g. "Coupe femme".' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was booked.' }),
    salon: t.relation('salon', { description: 'The salon.' }),
    client: t.relation('client', { description: 'The client.' }),
    conversation: t.relation('conversation', {
      nullable: true,
      description: 'Its conversation; null if opening it failed.',
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
      withSelection(query, await committed(ctx, createAppointment(ctx.viewer, input, ctx.config.timeZone)), (args) => db.appointment.findUniqueOrThrow(args)),
  }),
}));
