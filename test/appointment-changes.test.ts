import { describe, expect, it } from 'vitest';
import {
  ArchiveConversationDocument,
  CancelAppointmentDocument,
  ConversationViewDocument,
  CreateAppointmentDocument,
  DeleteConversationDocument,
  EventCursorDocument,
  EventsDocument,
  RescheduleAppointmentDocument,
} from '../operations/generated/graphql.js';
import { reminderText } from '../src/services/appointments.js';
import { useTestApp, type TestUser } from './support/app.js';
import { codes } from './support/fixtures.js';
import { ok, run } from './support/uploads.js';

/**
 * 0.001 h = 3.6 s: an appointment 5 s away has its reminder due 1.4 s from now. The margins are
 * for a loaded machine: a booking, a move or a cancel returns well before a job is due, and a due
 * job runs well before the start (after it, a reminder is not sent).
 */
const BEFORE_MS = 3_600;
const t = useTestApp({ REMINDER_BEFORE_H: '0.001', JOB_POLL_MS: '500', APP_TIME_ZONE: 'Europe/Paris' }, { instances: 2 });

const inMs = (ms: number) => new Date(Date.now() + ms);
const paris = (options: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat('fr-FR', { ...options, timeZone: 'Europe/Paris' });
/** "25 novembre 2026 à 14:30", as the confirmation writes dates. */
const longDate = (date: Date) => paris({ dateStyle: 'long', timeStyle: 'short' }).format(date);
const hourMinute = (date: Date) => paris({ timeStyle: 'short' }).format(date);

async function book(client: TestUser, salon: TestUser, startsAt: Date, service = 'Coupe femme') {
  const { createAppointment } = await ok(t, CreateAppointmentDocument, { input: { salonId: salon.id, startsAt: startsAt.toISOString(), service } }, client.token);
  return { id: createAppointment.id, conversationId: createAppointment.conversation!.id };
}

/** The conversation as `user` sees it: its messages oldest first and the viewer's unread count. */
async function conversationOf(user: TestUser, id: string) {
  const { conversation } = await ok(t, ConversationViewDocument, { id }, user.token);
  const messages = conversation!.messages.edges.map((edge) => edge.node).sort((a, b) => a.seq - b.seq);
  return { unreadCount: conversation!.unreadCount, messages, texts: messages.map((m) => `${m.kind}: ${m.content}`) };
}

async function appointmentRow(id: string) {
  const [row] = await t.sql<{ startsAt: Date; status: string; cancelledAt: Date | null; reminderSentAt: Date | null }>(
    'SELECT "startsAt", "status"::text, "cancelledAt", "reminderSentAt" FROM "Appointment" WHERE "id" = $1',
    [id],
  );
  return row!;
}

/** The state of the reminder job scheduled for `startsAt` (pg-boss's own table). */
async function jobState(appointmentId: string, startsAt: Date): Promise<string | undefined> {
  const rows = await t.sql<{ state: string }>(
    `SELECT state::text FROM pgboss.job WHERE name = 'appointment-reminder' AND data->>'appointmentId' = $1 AND data->>'startsAt' = $2`,
    [appointmentId, startsAt.toISOString()],
  );
  return rows.map((row) => row.state).join(',') || undefined;
}

/** A counter summed over both instances' /metrics, labels included in `series` (e.g. `name{reason="moved"}`). */
async function counter(series: string): Promise<number> {
  let total = 0;
  for (const app of t.apps) {
    const text = await (await fetch(new URL('/metrics', app.url()))).text();
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
    total += line ? Number(line.slice(series.length + 1)) : 0;
  }
  return total;
}

const confirmation = (startsAt: Date, service = 'Coupe femme') => `SYSTEM: Bonjour Client, votre rendez-vous du ${longDate(startsAt)} pour ${service} est confirmé.`;
/** The reminder for an appointment today (the tests' appointments start seconds from now). */
const reminder = (startsAt: Date, service = 'Coupe femme') => `SYSTEM: Rappel : votre rendez-vous pour ${service} est aujourd'hui à ${hourMinute(startsAt)}.`;

// The tests that wait for a reminder's time run at once (each with its own users and appointment).
describe.concurrent('reminders', () => {
  it('posts one reminder REMINDER_BEFORE_H before the start, in French, unread for the client, across two instances', async ({ expect }) => {
    const [salon, client] = [await t.user('SALON'), await t.user('CLIENT')];
    const sentBefore = await counter('salon_appointment_reminders_sent_total');
    const startsAt = inMs(5_000);
    const appointment = await book(client, salon, startsAt);

    await expect.poll(async () => (await conversationOf(client, appointment.conversationId)).texts, { timeout: 10_000, interval: 100 }).toEqual([
      confirmation(startsAt),
      reminder(startsAt),
    ]);
    const seen = await conversationOf(client, appointment.conversationId);
    expect(seen.unreadCount).toBe(2);
    expect((await conversationOf(salon, appointment.conversationId)).unreadCount).toBe(0);
    const row = await appointmentRow(appointment.id);
    // Not before it was due (the clocks are the same machine's).
    expect(row.reminderSentAt!.getTime()).toBeGreaterThanOrEqual(startsAt.getTime() - BEFORE_MS - 50);
    expect(row.reminderSentAt!.getTime()).toBeLessThan(startsAt.getTime());
    expect(await counter('salon_appointment_reminders_sent_total')).toBeGreaterThan(sentBefore);

    // The same job again (a retry after a crash, a second instance, a restart) posts nothing.
    const skippedBefore = await counter('salon_appointment_reminders_skipped_total{reason="already_sent"}');
    await t.sql(`INSERT INTO pgboss.job (name, data) VALUES ('appointment-reminder', $1)`, [
      JSON.stringify({ appointmentId: appointment.id, startsAt: startsAt.toISOString() }),
    ]);
    await expect.poll(() => counter('salon_appointment_reminders_skipped_total{reason="already_sent"}'), { timeout: 10_000, interval: 100 }).toBe(skippedBefore + 1);
    expect((await conversationOf(client, appointment.conversationId)).texts).toHaveLength(2);
  });

  it('is not scheduled when the appointment starts within REMINDER_BEFORE_H: the confirmation says when', async ({ expect }) => {
    const [salon, client] = [await t.user('SALON'), await t.user('CLIENT')];
    const startsAt = inMs(BEFORE_MS - 600);
    const appointment = await book(client, salon, startsAt);
    expect(await jobState(appointment.id, startsAt)).toBeUndefined();
    expect((await conversationOf(client, appointment.conversationId)).texts).toEqual([confirmation(startsAt)]);
  });

  it('says "demain" the day before, "aujourd\'hui" the same day, and the date otherwise, in the salon\'s time zone', ({ expect }) => {
    // 23:30 in Paris on 25 November is 22:30 UTC; 00:30 the next day there is the next day.
    const now = new Date('2026-11-25T22:30:00Z');
    expect(reminderText('Coupe', new Date('2026-11-25T23:30:00Z'), now, 'Europe/Paris')).toBe('Rappel : votre rendez-vous pour Coupe est demain à 00:30.');
    expect(reminderText('Coupe', new Date('2026-11-25T22:50:00Z'), now, 'Europe/Paris')).toBe("Rappel : votre rendez-vous pour Coupe est aujourd'hui à 23:50.");
    expect(reminderText('Coupe', new Date('2026-11-27T13:30:00Z'), now, 'Europe/Paris')).toBe('Rappel : votre rendez-vous pour Coupe est le 27 novembre 2026 à 14:30.');
    // Across the spring change of time: 14:30 in Paris is 12:30 UTC on 29 March 2026.
    expect(reminderText('Couleur', new Date('2026-03-29T12:30:00Z'), new Date('2026-03-28T13:30:00Z'), 'Europe/Paris')).toBe(
      'Rappel : votre rendez-vous pour Couleur est demain à 14:30.',
    );
  });

  it('moves with a reschedule: a notice now, nothing at the old time, one reminder at the new', async ({ expect }) => {
    const [salon, client] = [await t.user('SALON'), await t.user('CLIENT')];
    const oldStart = inMs(7_000);
    const appointment = await book(client, salon, oldStart);
    const newStart = inMs(9_000);

    // Booked through one instance, moved through the other.
    const moved = (await t.gql<{ rescheduleAppointment: { id: string; startsAt: string; status: string; reminderSentAt: string | null } }>(
      'mutation($id: ID!, $startsAt: DateTime!) { rescheduleAppointment(id: $id, startsAt: $startsAt) { id startsAt status reminderSentAt } }',
      { id: appointment.id, startsAt: newStart.toISOString() },
      salon.token,
      1,
    )).data!.rescheduleAppointment;
    expect(moved).toEqual({ id: appointment.id, startsAt: newStart.toISOString(), status: 'SCHEDULED', reminderSentAt: null });
    const notice = `SYSTEM: Votre rendez-vous pour Coupe femme est déplacé au ${longDate(newStart)}.`;
    expect((await conversationOf(client, appointment.conversationId)).texts).toEqual([confirmation(oldStart), notice]);

    // The old time's job runs and posts nothing…
    await expect.poll(() => jobState(appointment.id, oldStart), { timeout: 10_000, interval: 100 }).toBe('completed');
    expect((await conversationOf(client, appointment.conversationId)).texts).toEqual([confirmation(oldStart), notice]);
    // …the new time's posts the reminder, once.
    await expect.poll(async () => (await conversationOf(client, appointment.conversationId)).texts, { timeout: 10_000, interval: 100 }).toEqual([
      confirmation(oldStart),
      notice,
      reminder(newStart),
    ]);
    const seen = await conversationOf(client, appointment.conversationId);
    expect(seen.unreadCount).toBe(3);
    expect((await appointmentRow(appointment.id)).reminderSentAt!.getTime()).toBeGreaterThanOrEqual(newStart.getTime() - BEFORE_MS - 50);
    expect(await jobState(appointment.id, newStart)).toBe('completed');
  });

  it('is dropped by a cancel, which posts the cancellation; a second cancel changes nothing', async ({ expect }) => {
    const [salon, client] = [await t.user('SALON'), await t.user('CLIENT')];
    const startsAt = inMs(7_000);
    const appointment = await book(client, salon, startsAt);

    const { cancelAppointment } = await ok(t, CancelAppointmentDocument, { id: appointment.id }, salon.token);
    expect(cancelAppointment.status).toBe('CANCELLED');
    expect(cancelAppointment.cancelledAt).not.toBeNull();
    const notice = `SYSTEM: Votre rendez-vous du ${longDate(startsAt)} pour Coupe femme est annulé.`;
    expect(cancelAppointment.conversation!.lastMessage!.content).toBe(notice.slice('SYSTEM: '.length));

    const again = await ok(t, CancelAppointmentDocument, { id: appointment.id }, client.token);
    expect(again.cancelAppointment.cancelledAt).toBe(cancelAppointment.cancelledAt);

    // The reminder job comes due, finds the appointment cancelled and posts nothing.
    await expect.poll(() => jobState(appointment.id, startsAt), { timeout: 10_000, interval: 100 }).toBe('completed');
    const seen = await conversationOf(client, appointment.conversationId);
    expect(seen.texts).toEqual([confirmation(startsAt), notice]);
    expect(seen.unreadCount).toBe(2);
    expect((await appointmentRow(appointment.id)).reminderSentAt).toBeNull();
  });
});

describe('a change the client makes', () => {
  it('posts its notice already read for the client: nobody is notified of what they just did', async ({ expect }) => {
    const [salon, client] = [await t.user('SALON'), await t.user('CLIENT')];
    const appointment = await book(client, salon, inMs(3_600_000));
    const before = (await conversationOf(client, appointment.conversationId)).unreadCount;
    await ok(t, RescheduleAppointmentDocument, { id: appointment.id, startsAt: inMs(7_200_000).toISOString() }, client.token);
    await ok(t, CancelAppointmentDocument, { id: appointment.id }, client.token);
    const seen = await conversationOf(client, appointment.conversationId);
    expect(seen.texts.slice(-2).map((text) => text.split(' ').slice(0, 4).join(' '))).toEqual(['SYSTEM: Votre rendez-vous pour', 'SYSTEM: Votre rendez-vous du']);
    expect(seen.unreadCount).toBe(before);
    const read = await t.sql<{ n: number }>(`SELECT count(*)::int AS n FROM "Message" WHERE "conversationId" = $1 AND kind = 'SYSTEM' AND "readAt" IS NULL`, [appointment.conversationId]);
    expect(read[0]!.n).toBe(before);
  });
});

describe('rescheduleAppointment', () => {
  it('to the same start changes nothing; a start in the past, a cancelled appointment, a stranger, an unknown or malformed id store nothing', async () => {
    const [salon, client, otherClient, otherSalon] = [await t.user('SALON'), await t.user('CLIENT'), await t.user('CLIENT'), await t.user('SALON')];
    const startsAt = new Date('2030-06-01T08:00:00.000Z');
    const appointment = await book(client, salon, startsAt);
    const before = await appointmentRow(appointment.id);
    const texts = (await conversationOf(client, appointment.conversationId)).texts;
    const jobsBefore = await t.sql<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'appointment-reminder'`);

    const same = await ok(t, RescheduleAppointmentDocument, { id: appointment.id, startsAt: startsAt.toISOString() }, client.token);
    expect(same.rescheduleAppointment.startsAt).toBe(startsAt.toISOString());

    const refused = async (token: string, id: string, when: string) => {
      const response = await run(t, RescheduleAppointmentDocument, { id, startsAt: when }, token);
      expect(response.data).toBeNull();
      return { codes: codes(response), field: response.errors?.[0]?.extensions?.field };
    };
    const later = '2031-01-01T09:00:00Z';
    expect(await refused(client.token, appointment.id, new Date(Date.now() - 60_000).toISOString())).toEqual({ codes: ['BAD_USER_INPUT'], field: 'startsAt' });
    expect(await refused(otherClient.token, appointment.id, later)).toEqual({ codes: ['NOT_FOUND'], field: undefined });
    expect(await refused(otherSalon.token, appointment.id, later)).toEqual({ codes: ['NOT_FOUND'], field: undefined });
    expect(await refused(client.token, '00000000-0000-4000-8000-000000000000', later)).toEqual({ codes: ['NOT_FOUND'], field: undefined });
    expect(await refused(client.token, 'not-an-id', later)).toEqual({ codes: ['BAD_USER_INPUT'], field: 'id' });
    const cancelledByStranger = await run(t, CancelAppointmentDocument, { id: appointment.id }, otherSalon.token);
    expect(codes(cancelledByStranger)).toEqual(['NOT_FOUND']);
    expect(codes(await run(t, CancelAppointmentDocument, { id: 'not-an-id' }, client.token))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await run(t, CancelAppointmentDocument, { id: appointment.id }))).toEqual(['UNAUTHENTICATED']);

    expect(await appointmentRow(appointment.id)).toEqual(before);
    expect((await conversationOf(client, appointment.conversationId)).texts).toEqual(texts);
    expect(await t.sql(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'appointment-reminder'`)).toEqual(jobsBefore);

    await ok(t, CancelAppointmentDocument, { id: appointment.id }, salon.token);
    expect(await refused(client.token, appointment.id, later)).toEqual({ codes: ['BAD_USER_INPUT'], field: 'id' });
    expect((await appointmentRow(appointment.id)).startsAt).toEqual(startsAt);
  });
});

describe('cancelAppointment', () => {
  it('posts in an archived conversation too, keeps a subject the salon chose, and changes an appointment whose conversation was deleted', async () => {
    const [salon, client] = [await t.user('SALON'), await t.user('CLIENT')];
    const archived = await book(client, salon, new Date('2030-07-01T08:00:00Z'));
    await ok(t, ArchiveConversationDocument, { id: archived.conversationId }, salon.token);
    await ok(t, CancelAppointmentDocument, { id: archived.id }, client.token);
    const seen = await conversationOf(client, archived.conversationId);
    expect(seen.texts.at(-1)).toBe(`SYSTEM: Votre rendez-vous du ${longDate(new Date('2030-07-01T08:00:00Z'))} pour Coupe femme est annulé.`);
    // Archiving stops messages of the participants still.
    const userSend = await t.gql('mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }', { input: { conversationId: archived.conversationId, content: 'Et maintenant ?' } }, client.token);
    expect(codes(userSend)).toEqual(['BAD_USER_INPUT']);

    // A subject the salon chose stays when the appointment moves.
    const renamed = await book(client, salon, new Date('2030-07-15T08:00:00Z'));
    await t.gql('mutation($id: ID!) { updateConversation(id: $id, input: { subject: "Couleur de Camille" }) { id } }', { id: renamed.conversationId }, salon.token);
    await ok(t, RescheduleAppointmentDocument, { id: renamed.id, startsAt: '2030-07-16T08:00:00.000Z' }, client.token);
    const { conversation } = await ok(t, ConversationViewDocument, { id: renamed.conversationId }, client.token);
    expect(conversation!.subject).toBe('Couleur de Camille');

    const orphan = await book(client, salon, new Date('2030-08-01T08:00:00Z'));
    await ok(t, DeleteConversationDocument, { id: orphan.conversationId }, salon.token);
    const moved = await ok(t, RescheduleAppointmentDocument, { id: orphan.id, startsAt: '2030-08-02T08:00:00.000Z' }, client.token);
    expect(moved.rescheduleAppointment).toMatchObject({ startsAt: '2030-08-02T08:00:00.000Z', conversation: null });
    const cancelled = await ok(t, CancelAppointmentDocument, { id: orphan.id }, salon.token);
    expect(cancelled.cancelAppointment.status).toBe('CANCELLED');
  });
});

describe('events', () => {
  it('both participants get AppointmentUpdatedEvent and the notice on Query.events, the client its unread count', async () => {
    const [salon, client] = [await t.user('SALON'), await t.user('CLIENT')];
    const appointment = await book(client, salon, new Date('2030-09-01T08:00:00Z'));
    const cursors = {
      salon: (await ok(t, EventCursorDocument, {}, salon.token)).eventCursor,
      client: (await ok(t, EventCursorDocument, {}, client.token)).eventCursor,
    };
    await ok(t, RescheduleAppointmentDocument, { id: appointment.id, startsAt: '2030-09-02T08:00:00.000Z' }, client.token);
    await ok(t, CancelAppointmentDocument, { id: appointment.id }, salon.token);

    const eventsOf = async (user: TestUser, after: string) =>
      (await ok(t, EventsDocument, { after }, user.token)).events.edges.map(({ node }) => {
        const p = node.payload;
        switch (p.__typename) {
          case 'AppointmentUpdatedEvent':
            return `${p.__typename} ${p.appointment.id === appointment.id} ${node.conversationId === appointment.conversationId}`;
          case 'MessageAddedEvent':
            return `${p.__typename} ${p.message.kind} ${p.message.content.split(' ').slice(0, 6).join(' ')}`;
          case 'UnreadCountEvent':
            return `${p.__typename} ${p.conversationUnread}`;
          case 'ConversationUpdatedEvent':
            return `${p.__typename} ${p.conversation.subject}`;
          default:
            return p.__typename;
        }
      });
    const both = [
      'AppointmentUpdatedEvent true true',
      // The subject booking gave it follows the move.
      `ConversationUpdatedEvent Appointment: Coupe femme — ${longDate(new Date('2030-09-02T08:00:00Z'))}`,
      'MessageAddedEvent SYSTEM Votre rendez-vous pour Coupe femme est',
      'AppointmentUpdatedEvent true true',
      'MessageAddedEvent SYSTEM Votre rendez-vous du 2 septembre 2030',
    ];
    // The client moved it: its notice is read for the client at once (both learn of the read).
    expect(await eventsOf(salon, cursors.salon)).toEqual([both[0], both[1], both[2], 'MessageReadEvent', both[3], both[4]]);
    expect(await eventsOf(client, cursors.client)).toEqual([
      both[0],
      both[1],
      both[2],
      'UnreadCountEvent 2',
      'MessageReadEvent',
      'UnreadCountEvent 1',
      both[3],
      both[4],
      'UnreadCountEvent 2',
    ]);

    // The cancellation names the date it had been moved to; replayed, an event carries the appointment as it is now.
    const last = (await ok(t, EventsDocument, { after: cursors.client }, client.token)).events.edges
      .map(({ node }) => node.payload)
      .find((p) => p.__typename === 'AppointmentUpdatedEvent');
    expect(last).toMatchObject({ appointment: { id: appointment.id, startsAt: '2030-09-02T08:00:00.000Z', status: 'CANCELLED' } });
  });
});
