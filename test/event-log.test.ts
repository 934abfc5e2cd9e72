import { describe, expect, it } from 'vitest';
import { pruneEvents, readEvents, streamState } from '../src/events/log.js';
import { topics, type EventsWakeUp } from '../src/events/topics.js';
import PgBoss from 'pg-boss';
import { QUEUES } from '../src/jobs/queue.js';
import { useTestApp, type TestUser } from './support/app.js';
import { codes, openConversation, send } from './support/fixtures.js';

const t = useTestApp({ DATABASE_POOL_SIZE: '20', RATE_LIMIT_SENDS_PER_MIN: '1000' });

interface Row extends Record<string, unknown> {
  position: number;
  type: string;
  conversationId: string | null;
  payload: Record<string, unknown>;
}

/** A user's log as PostgreSQL holds it, read beside the code under test. */
async function logOf(user: TestUser, after = 0): Promise<Row[]> {
  return t.sql<Row>(
    `SELECT "position"::int AS "position", "type", "conversationId"::text AS "conversationId", "payload"
       FROM "UserEvent" WHERE "userId" = $1 AND "position" > $2 ORDER BY "position"`,
    [user.id, after],
  );
}

async function lastPosition(user: TestUser): Promise<number> {
  return Number((await streamState(user.id)).lastPosition);
}

const typesOf = (rows: Row[]) => rows.map((row) => row.type);

describe('the user event log', () => {
  it('a send records message.created for both participants and unread.changed for the recipient, nothing more', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const [salonBefore, clientBefore] = [await lastPosition(salon), await lastPosition(client)];

    const message = await send(t, client, conversationId, 'Bonjour');

    const salonRows = await logOf(salon, salonBefore);
    const clientRows = await logOf(client, clientBefore);
    expect(typesOf(salonRows)).toEqual(['message.created', 'unread.changed']);
    expect(typesOf(clientRows)).toEqual(['message.created']);
    expect(salonRows[0]).toMatchObject({
      position: salonBefore + 1,
      conversationId,
      payload: { messageId: message.id, conversationId, seq: message.seq },
    });
    expect(salonRows[0]!.payload).not.toHaveProperty('content');
    expect(salonRows[1]!.payload).toEqual({ conversationId, conversationUnread: 1, totalUnread: 1 });
    expect(clientRows.map((row) => row.position)).toEqual([clientBefore + 1]);
    // A message's events occurred when the message was created, to the millisecond.
    const [stamps] = await t.sql<{ createdAt: Date; occurredAt: Date }>(
      `SELECT m."createdAt", e."occurredAt" FROM "Message" m JOIN "UserEvent" e ON e."payload"->>'messageId' = m."id"::text
        WHERE m."id" = $1 AND e."userId" = $2`,
      [message.id, salon.id],
    );
    expect(stamps?.occurredAt).toEqual(stamps?.createdAt);
  });

  it('createConversation, rename, archive, unarchive, reads and deletes each record what both users must learn', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    expect(typesOf(await logOf(client))).toEqual(['conversation.created']);
    expect((await logOf(salon))[0]).toMatchObject({ type: 'conversation.created', conversationId, payload: { conversationId } });

    const mark = await lastPosition(client);
    const rename = await t.gql(
      'mutation($id: ID!, $input: UpdateConversationInput!) { updateConversation(id: $id, input: $input) { id } }',
      { id: conversationId, input: { subject: 'Renamed' } },
      salon.token,
    );
    const archive = await t.gql('mutation($id: ID!) { archiveConversation(id: $id) { id } }', { id: conversationId }, salon.token);
    const unarchive = await t.gql(
      'mutation($id: ID!, $input: UpdateConversationInput!) { updateConversation(id: $id, input: $input) { id } }',
      { id: conversationId, input: { status: 'ACTIVE' } },
      salon.token,
    );
    expect([rename, archive, unarchive].flatMap(codes)).toEqual([]);
    expect(typesOf(await logOf(client, mark))).toEqual(['conversation.updated', 'conversation.updated', 'conversation.updated']);

    const message = await send(t, salon, conversationId, 'Votre rendez-vous');
    const readMark = { salon: await lastPosition(salon), client: await lastPosition(client) };
    const read = await t.gql('mutation($id: ID!) { markConversationRead(id: $id) { id } }', { id: conversationId }, client.token);
    expect(codes(read)).toEqual([]);
    const clientRead = await logOf(client, readMark.client);
    expect(typesOf(clientRead)).toEqual(['message.read', 'unread.changed']);
    expect(clientRead[0]!.payload).toMatchObject({ conversationId, messageIds: [message.id], readerId: client.id });
    expect(typesOf(await logOf(salon, readMark.salon))).toEqual(['message.read']);

    const deleteMark = { salon: await lastPosition(salon), client: await lastPosition(client) };
    const deleted = await t.gql('mutation($id: ID!) { deleteMessage(id: $id) }', { id: message.id }, salon.token);
    expect(codes(deleted)).toEqual([]);
    // Already read: the recipient's counter does not change, so no unread.changed.
    expect(typesOf(await logOf(client, deleteMark.client))).toEqual(['message.deleted']);
    expect((await logOf(salon, deleteMark.salon))[0]!.payload).toEqual({ messageId: message.id, conversationId });
  });

  it('deleteConversation reaches the other participant, with their new unread total', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    await send(t, salon, conversationId, 'Unread by the client');
    const mark = await lastPosition(client);

    const response = await t.gql('mutation($id: ID!) { deleteConversation(id: $id) }', { id: conversationId }, salon.token);
    expect(codes(response)).toEqual([]);

    const rows = await logOf(client, mark);
    expect(typesOf(rows)).toEqual(['conversation.deleted', 'unread.changed']);
    expect(rows[0]).toMatchObject({ conversationId, payload: { conversationId } });
    expect(rows[1]!.payload).toEqual({ conversationId, conversationUnread: 0, totalUnread: 0 });
    // The events outlive the conversation they are about.
    expect(await t.sql('SELECT 1 FROM "Conversation" WHERE id = $1', [conversationId])).toEqual([]);
  });

  it('createAppointment records appointment.created, then its conversation and confirmation', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const response = await t.gql<{ createAppointment: { id: string; conversation: { id: string } } }>(
      `mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { id conversation { id } } }`,
      { input: { clientUserId: client.id, startsAt: '2027-03-03T10:00:00Z', service: 'Coupe' } },
      salon.token,
    );
    const { id: appointmentId, conversation } = response.data!.createAppointment;
    const clientRows = await logOf(client);
    expect(typesOf(clientRows)).toEqual(['appointment.created', 'conversation.created', 'message.created', 'unread.changed']);
    expect(clientRows[0]!.payload).toEqual({ appointmentId });
    expect(clientRows[1]!.conversationId).toBe(conversation.id);
    expect(typesOf(await logOf(salon))).toEqual(['appointment.created', 'conversation.created', 'message.created']);
  });

  it('a change that fails at commit records nothing and leaves the positions free', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const before = { salon: await lastPosition(salon), client: await lastPosition(client) };
    // A deferred trigger fails the send at COMMIT, after its events were recorded in the transaction.
    await t.sql(`CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.content = 'boom' THEN RAISE EXCEPTION 'refused at commit'; END IF; RETURN NULL; END $$`);
    await t.sql(`CREATE CONSTRAINT TRIGGER refuse_boom AFTER INSERT ON "Message"
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_boom()`);
    try {
      const response = await t.gql(
        'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
        { input: { conversationId, content: 'boom' } },
        client.token,
      );
      expect(codes(response)).toEqual(['INTERNAL_SERVER_ERROR']);
    } finally {
      await t.sql('DROP TRIGGER refuse_boom ON "Message"');
      await t.sql('DROP FUNCTION refuse_boom()');
    }
    expect(await logOf(salon, before.salon)).toEqual([]);
    expect(await logOf(client, before.client)).toEqual([]);
    expect(await lastPosition(salon)).toBe(before.salon);

    // A refused input stops before the transaction's end too.
    const archived = await t.gql('mutation($id: ID!) { archiveConversation(id: $id) { id } }', { id: conversationId }, salon.token);
    expect(codes(archived)).toEqual([]);
    const afterArchive = await lastPosition(client);
    const refused = await t.gql(
      'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
      { input: { conversationId, content: 'into an archived conversation' } },
      client.token,
    );
    expect(codes(refused)).toEqual(['BAD_USER_INPUT']);
    expect(await lastPosition(client)).toBe(afterArchive);

    // The next change takes the positions the failed one would have had: no gap.
    await t.gql(
      'mutation($id: ID!, $input: UpdateConversationInput!) { updateConversation(id: $id, input: $input) { id } }',
      { id: conversationId, input: { status: 'ACTIVE' } },
      salon.token,
    );
    await send(t, client, conversationId, 'after');
    const positions = (await logOf(salon)).map((row) => row.position);
    expect(positions).toEqual(Array.from({ length: positions.length }, (_, i) => i + 1));
  });

  it('50 concurrent sends across 5 conversations of one salon: positions gapless per user, in commit order, never behind a reader', async () => {
    const salon = await t.user('SALON');
    const clients = await Promise.all(Array.from({ length: 5 }, (_, i) => t.user('CLIENT', `Client${i}`)));
    const conversations = await Promise.all(clients.map((client) => openConversation(t, salon, client)));

    // A reader polls the salon's log while the sends run: once it has read up to P, no row ≤ P
    // may appear later (a transaction that committed behind the reader's back).
    let done = false;
    const seen = new Set<bigint>();
    const lateRows: bigint[] = [];
    let polls = 0;
    const reader = (async () => {
      while (!done) {
        const rows = await readEvents(salon.id, 0n, 10_000);
        const highest = [...seen].reduce((max, position) => (position > max ? position : max), 0n);
        for (const row of rows) {
          if (!seen.has(row.position) && row.position <= highest) lateRows.push(row.position);
          seen.add(row.position);
        }
        polls++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();

    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => {
        const k = i % 5;
        const author = i % 2 === 0 ? salon : clients[k]!;
        return t.gql('mutation($input: SendMessageInput!) { sendMessage(input: $input) { id seq } }', { input: { conversationId: conversations[k], content: `m${i}` } }, author.token);
      }),
    );
    done = true;
    await reader;
    expect(results.flatMap(codes)).toEqual([]);
    expect(polls).toBeGreaterThan(1);
    expect(lateRows).toEqual([]);

    for (const user of [salon, ...clients]) {
      const rows = await logOf(user);
      expect(rows.map((row) => row.position)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
      expect(await lastPosition(user)).toBe(rows.length);
      // Commit order: within each conversation `seq` is commit order, and so must the log be.
      for (const conversationId of conversations) {
        const seqs = rows
          .filter((row) => row.type === 'message.created' && row.conversationId === conversationId)
          .map((row) => Number(row.payload.seq));
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      }
    }
    // 1 conversation.created per conversation, then message.created per send, and unread.changed
    // for the salon on each of the 25 client sends.
    expect(await logOf(salon)).toHaveLength(5 + 50 + 25);
    expect(seen.size).toBeLessThanOrEqual(5 + 50 + 25);

    // Unread totals follow the log's order exactly, though the 25 sends to the salon ran at once
    // in five conversations: every client send adds one, so the totals read 1, 2, … 25, and the
    // last equals the counters.
    const salonTotals = (await logOf(salon)).filter((row) => row.type === 'unread.changed').map((row) => Number(row.payload.totalUnread));
    expect(salonTotals).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    const [counted] = await t.sql<{ total: number }>('SELECT SUM("unreadCount")::int AS total FROM "MessageNotification" WHERE "userId" = $1', [salon.id]);
    expect(counted?.total).toBe(25);
  });

  it('pruneEvents deletes what is past the retention and raises prunedThrough', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    // conversation.created, then one message.created per send.
    for (let i = 0; i < 6; i++) await send(t, client, conversationId, `old ${i}`);
    const total = await lastPosition(client);
    expect(total).toBe(7);
    await t.sql(
      `UPDATE "UserEvent" SET "occurredAt" = now() - interval '31 days' WHERE "userId" = $1 AND "position" <= 4`,
      [client.id],
    );

    expect(await pruneEvents(30)).toBeGreaterThanOrEqual(4);
    expect(await streamState(client.id)).toEqual({ lastPosition: 7n, prunedThrough: 4n });
    expect((await readEvents(client.id, 0n, 100)).map((event) => event.position)).toEqual([5n, 6n, 7n]);
    // The salon's events are all recent: untouched.
    expect((await streamState(salon.id)).prunedThrough).toBe(0n);
    // Idempotent: nothing left to prune, prunedThrough stays.
    await pruneEvents(30);
    expect((await streamState(client.id)).prunedThrough).toBe(4n);
    // New events continue after the pruned ones.
    await send(t, client, conversationId, 'new');
    expect((await readEvents(client.id, 4n, 100))[3]).toMatchObject({ position: 8n, type: 'message.created', conversationId });
  });

  it('the prune runs hourly as a job of the PostgreSQL job queue, and a run of that job prunes', async () => {
    const [schedule] = await t.sql<{ name: string; cron: string }>(`SELECT name, cron FROM pgboss.schedule WHERE name = $1`, [QUEUES.eventPrune]);
    expect(schedule).toEqual({ name: QUEUES.eventPrune, cron: '17 * * * *' });

    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, await t.user('SALON'), client);
    await send(t, client, conversationId, 'old');
    await t.sql(`UPDATE "UserEvent" SET "occurredAt" = now() - interval '31 days' WHERE "userId" = $1`, [client.id]);
    // What the cron tick does: one job on the queue, taken by an instance's worker.
    const boss = new PgBoss({ connectionString: t.databaseUrl, max: 1, supervise: false, schedule: false });
    await boss.start();
    try {
      await boss.send(QUEUES.eventPrune, {});
    } finally {
      await boss.stop({ graceful: false });
    }
    // conversation.created and message.created, both past the retention.
    await expect.poll(async () => (await streamState(client.id)).prunedThrough, { timeout: 10_000 }).toBe(2n);
  });

  it('after commit, each recipient is woken on user:<id>:events with exactly its new log rows and the message', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const salonWakeUps = await t.app.bus.subscribe(topics.userEvents(salon.id));
    const clientWakeUps = await t.app.bus.subscribe(topics.userEvents(client.id));
    try {
      await send(t, client, conversationId, 'Réveil');
      const [salonNext, clientNext] = (await Promise.all([salonWakeUps.next(), clientWakeUps.next()])).map(
        (next) => ({ value: next.value as EventsWakeUp }),
      ) as [{ value: EventsWakeUp }, { value: EventsWakeUp }];
      // The wake-up carries what the log holds, row for row: a reader can take it instead of a query.
      for (const [user, next] of [[salon, salonNext], [client, clientNext]] as const) {
        const rows = await readEvents(user.id, 1n, 100);
        expect(next.value!.events.map((event) => ({ ...event, occurredAt: new Date(event.occurredAt) }))).toEqual(
          rows.map((row) => ({
            position: String(row.position),
            type: row.type,
            conversationId: row.conversationId,
            payload: row.payload,
            occurredAt: row.occurredAt,
          })),
        );
        expect(next.value!.messages.map((message) => message.content)).toEqual(['Réveil']);
      }
      expect(salonNext.value!.events.map((event) => event.type)).toEqual(['message.created', 'unread.changed']);
      expect(clientNext.value!.events.map((event) => event.type)).toEqual(['message.created']);
      expect(await lastPosition(salon)).toBe(3);
    } finally {
      await salonWakeUps.return?.();
      await clientWakeUps.return?.();
    }
  });

  it('readEvents returns typed payloads; streamState is 0n, 0n for a user with no event', async () => {
    const salon = await t.user('SALON');
    expect(await streamState(salon.id)).toEqual({ lastPosition: 0n, prunedThrough: 0n });
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const [event] = await readEvents(client.id, 0n, 1);
    expect(event).toMatchObject({
      userId: client.id,
      position: 1n,
      type: 'conversation.created',
      conversationId,
      payload: { type: 'conversation.created', conversationId },
    });
    expect(event!.occurredAt).toBeInstanceOf(Date);
    expect(await readEvents(client.id, 1n, 10)).toEqual([]);
  });
});
