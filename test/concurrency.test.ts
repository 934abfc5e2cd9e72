import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { useTestApp, type TestUser } from './support/app.js';
import { codes, openConversation, send } from './support/fixtures.js';

const t = useTestApp({ DATABASE_POOL_SIZE: '20' });

/** Small deterministic PRNG so a failing mix can be replayed with its seed. */
function random(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1664525 + 1013904223) % 2 ** 32;
    return state / 2 ** 32;
  };
}

const pick = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;

async function invariantViolations() {
  return t.sql(`
    SELECT c.id AS "conversationId", u.id AS "userId", COALESCE(n."unreadCount", 0) AS cached,
           (SELECT count(*) FROM "Message" m
             WHERE m."conversationId" = c.id AND m."readAt" IS NULL AND NOT m."isDeleted"
               AND ((m.kind = 'USER' AND m."authorId" IS DISTINCT FROM u.id)
                    OR (m.kind = 'SYSTEM' AND c."clientUserId" = u.id)))::int AS actual
      FROM "Conversation" c
      JOIN "User" u ON u.id IN (c."salonId", c."clientUserId")
      LEFT JOIN "MessageNotification" n ON n."conversationId" = c.id AND n."userId" = u.id
     WHERE COALESCE(n."unreadCount", 0) <>
           (SELECT count(*) FROM "Message" m
             WHERE m."conversationId" = c.id AND m."readAt" IS NULL AND NOT m."isDeleted"
               AND ((m.kind = 'USER' AND m."authorId" IS DISTINCT FROM u.id)
                    OR (m.kind = 'SYSTEM' AND c."clientUserId" = u.id)))`);
}

describe('under concurrency', () => {
  it('the unread counters equal a recount after a random mix of 80 sends, reads, read-alls, mark-unreads and deletes', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const booked = await t.gql<{ createAppointment: { conversation: { id: string } } }>(
      `mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { conversation { id } } }`,
      { input: { clientUserId: client.id, startsAt: '2027-02-02T10:00:00Z', service: 'Couleur' } },
      salon.token,
    );
    const conversations = [booked.data!.createAppointment.conversation.id, await openConversation(t, salon, client)];
    const people = [salon, client];
    const rand = random(20261125);
    const existing: { id: string; author: TestUser }[] = [];
    /** [conversation, message of it] pairs to mark unread from. */
    const unreadTargets: [string, string][] = [];
    for (let i = 0; i < 24; i++) {
      const author = pick(rand, people);
      const conversationId = pick(rand, conversations);
      const { id } = await send(t, author, conversationId, `seed ${i}`);
      existing.push({ id, author });
      unreadTargets.push([conversationId, id]);
    }
    // Read everything once, so that marking unread has read messages to turn back.
    for (const conversationId of conversations) {
      for (const person of people) await t.gql('mutation($id: ID!) { markConversationRead(id: $id) { id } }', { id: conversationId }, person.token);
    }
    const [{ id: systemId } = { id: '' }] = await t.sql<{ id: string }>(
      `SELECT id FROM "Message" WHERE kind = 'SYSTEM' AND "conversationId" = $1`,
      [conversations[0]],
    );

    const operations: Promise<{ errors?: unknown[] }>[] = [];
    for (let i = 0; i < 80; i++) {
      const roll = rand();
      const target = pick(rand, existing);
      const recipient = target.author === salon ? client : salon;
      if (roll < 0.35) {
        const author = pick(rand, people);
        operations.push(
          t.gql('mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }', { input: { conversationId: pick(rand, conversations), content: `live ${i}` } }, author.token),
        );
      } else if (roll < 0.6) {
        operations.push(t.gql('mutation($id: ID!) { markMessageRead(id: $id) { id } }', { id: target.id }, recipient.token));
      } else if (roll < 0.7) {
        operations.push(t.gql('mutation($id: ID!) { markConversationRead(id: $id) { id } }', { id: pick(rand, conversations) }, pick(rand, people).token));
      } else if (roll < 0.8) {
        const [conversationId, fromMessageId] = unreadTargets[Math.floor(rand() * unreadTargets.length)]!;
        operations.push(
          t.gql('mutation($id: ID!, $from: ID!) { markConversationUnread(id: $id, fromMessageId: $from) { id } }', { id: conversationId, from: fromMessageId }, pick(rand, people).token),
        );
      } else if (roll < 0.95) {
        operations.push(t.gql('mutation($id: ID!) { deleteMessage(id: $id) }', { id: target.id }, target.author.token));
      } else {
        operations.push(t.gql('mutation($id: ID!) { markMessageRead(id: $id) { id } }', { id: systemId }, client.token));
      }
    }
    const results = await Promise.all(operations);
    expect(results.flatMap((result) => result.errors ?? [])).toEqual([]);
    expect(await invariantViolations()).toEqual([]);

    const seqs = await t.sql<{ conversationId: string; seqs: number[]; lastSeq: number }>(
      `SELECT c.id AS "conversationId", array_agg(m.seq ORDER BY m.seq) AS seqs, c."lastSeq" AS "lastSeq"
         FROM "Conversation" c JOIN "Message" m ON m."conversationId" = c.id GROUP BY c.id`,
    );
    for (const row of seqs) {
      expect(row.seqs).toEqual(Array.from({ length: row.lastSeq }, (_, i) => i + 1));
    }
  });

  it('the same clientMessageId sent five times at once stores one message', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        t.gql<{ sendMessage: { id: string } }>(
          'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
          { input: { conversationId, content: 'once only', clientMessageId: 'retry-key' } },
          client.token,
        ),
      ),
    );
    expect(results.flatMap((result) => result.errors ?? [])).toEqual([]);
    expect(new Set(results.map((result) => result.data?.sendMessage.id)).size).toBe(1);
    const rows = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM "Message" WHERE "conversationId" = $1', [conversationId]);
    expect(rows[0]?.n).toBe(1);
    expect(await invariantViolations()).toEqual([]);
  });

  it('five concurrent conversations for one appointment: one is created, the others get CONFLICT', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const [appointment] = await t.sql<{ id: string }>(
      `INSERT INTO "Appointment" (id, "salonId", "clientUserId", "startsAt", service, "updatedAt")
       VALUES (gen_random_uuid(), $1, $2, now(), 'Coupe', now()) RETURNING id::text`,
      [salon.id, client.id],
    );
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        t.gql('mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }', { input: { clientUserId: client.id, appointmentId: appointment!.id, subject: `try ${i}` } }, salon.token),
      ),
    );
    expect(results.filter((result) => result.data).length).toBe(1);
    expect(results.flatMap(codes).sort()).toEqual(['CONFLICT', 'CONFLICT', 'CONFLICT', 'CONFLICT']);
    const rows = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM "Conversation" WHERE "appointmentId" = $1', [appointment!.id]);
    expect(rows[0]?.n).toBe(1);
  });

  it('a booking commits with its conversation: while the conversation step waits, no reader sees the appointment', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    // The conversation's insert waits for a lock the test holds, so the step is caught midway every
    // time. A webhook delivery or a subscriber reading in that moment must not find the appointment
    // without the conversation it is about to get (appointment.created with conversationId null).
    await t.sql(`CREATE FUNCTION hold_conversation() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END $$`);
    await t.sql('CREATE TRIGGER hold BEFORE INSERT ON "Conversation" FOR EACH ROW EXECUTE FUNCTION hold_conversation()');
    const locker = new pg.Client({ connectionString: t.databaseUrl });
    await locker.connect();
    try {
      await locker.query('SELECT pg_advisory_lock(4242)');
      const pending = t.gql<{ createAppointment: { id: string; conversation: { id: string } | null } }>(
        `mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { id conversation { id } } }`,
        { input: { clientUserId: client.id, startsAt: '2027-03-03T10:00:00Z', service: 'Brushing' } },
        salon.token,
      );
      const waiting = async () =>
        (await t.sql<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'"))[0]!.n;
      await expect.poll(waiting).toBe(1);
      expect(await t.sql('SELECT id FROM "Appointment" WHERE "salonId" = $1', [salon.id])).toEqual([]);
      const listed = await t.gql<{ appointments: { edges: unknown[] } }>('{ appointments(first: 5) { edges { node { id } } } }', {}, client.token);
      expect(listed.data?.appointments.edges).toEqual([]);
      await locker.query('SELECT pg_advisory_unlock(4242)');
      const response = await pending;
      expect(response.errors).toBeUndefined();
      const rows = await t.sql<{ conversationId: string }>('SELECT c.id AS "conversationId" FROM "Appointment" a JOIN "Conversation" c ON c."appointmentId" = a.id WHERE a.id = $1', [
        response.data!.createAppointment.id,
      ]);
      expect(rows).toEqual([{ conversationId: response.data!.createAppointment.conversation?.id }]);
    } finally {
      await locker.end();
      await t.sql('DROP TRIGGER hold ON "Conversation"');
      await t.sql('DROP FUNCTION hold_conversation()');
    }
  });

  it('the appointment is kept when its conversation step fails', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    await t.sql(`CREATE FUNCTION refuse_conversation() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'conversation step down'; END $$`);
    await t.sql('CREATE TRIGGER refuse BEFORE INSERT ON "Conversation" FOR EACH ROW EXECUTE FUNCTION refuse_conversation()');
    try {
      const response = await t.gql<{ createAppointment: { id: string; conversation: null } }>(
        `mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { id conversation { id } } }`,
        { input: { clientUserId: client.id, startsAt: '2027-02-02T10:00:00Z', service: 'Couleur' } },
        salon.token,
      );
      expect(response.errors).toBeUndefined();
      expect(response.data?.createAppointment.conversation).toBeNull();
      const rows = await t.sql('SELECT id FROM "Appointment" WHERE id = $1', [response.data!.createAppointment.id]);
      expect(rows).toHaveLength(1);
    } finally {
      await t.sql('DROP TRIGGER refuse ON "Conversation"');
      await t.sql('DROP FUNCTION refuse_conversation()');
    }
  });
});
