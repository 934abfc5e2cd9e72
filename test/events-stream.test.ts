import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import type { Redis } from 'ioredis';
import type { Socket } from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  EventCursorDocument,
  EventsDocument,
  InboxDocument,
  OnEventsDocument,
  type EventCursorQuery,
  type EventsQuery,
  type InboxQuery,
  type OnEventsSubscription,
  type ViewerEventFieldsFragment,
} from '../operations/generated/graphql.js';
import { onQuery } from '../src/db.js';
import { encodeCursor } from '../src/events/cursor.js';
import { pruneEvents } from '../src/events/log.js';
import { topics } from '../src/events/topics.js';
import { useTestApp, type TestUser } from './support/app.js';
import { codes, openConversation, send } from './support/fixtures.js';
import { REDIS_URL } from './support/redis.js';
import { connectTab, liveTopics, subscribe, untilLive, wsClient, type Subscription } from './support/ws.js';

// Two instances sharing PostgreSQL and Redis. The periodic re-read of the log is pushed far out,
// so that live delivery here comes from the wake-ups; and the race test holds a row lock on purpose,
// so no statement timeout may end the request it holds up.
const t = useTestApp({ REDIS_URL, EVENT_POLL_MS: '60000', DATABASE_STATEMENT_TIMEOUT_MS: '60000' }, { instances: 2 });

const clients: Client[] = [];
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
});

function connect(user: TestUser, instance = 0) {
  const client = wsClient(t.apps[instance]!.wsUrl(), { authorization: `Bearer ${user.token}` });
  clients.push(client);
  return client;
}

type Event = ViewerEventFieldsFragment;

/** `Subscription.events` on a client, live on its instance when this resolves. */
async function streamOf(client: Client, instance: number, after?: string): Promise<Subscription<OnEventsSubscription>> {
  const before = await liveTopics(t.apps[instance]!);
  const stream = subscribe<OnEventsSubscription>(client, OnEventsDocument, after === undefined ? {} : { after });
  await untilLive(t.apps[instance]!, before, 1);
  return stream;
}

const received = (stream: Subscription<OnEventsSubscription>): Event[] => stream.events.map((result) => result.events);

async function eventCursor(user: TestUser): Promise<string> {
  const response = await t.gql<EventCursorQuery>(print(EventCursorDocument), {}, user.token);
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.eventCursor;
}

async function eventsPage(user: TestUser, after: string, first?: number, instance = 0) {
  return t.gql<EventsQuery>(print(EventsDocument), first === undefined ? { after } : { after, first }, user.token, instance);
}

/** Every event of the user's log after `after`, through Query.events pages. */
async function allEventsAfter(user: TestUser, after: string): Promise<Event[]> {
  const events: Event[] = [];
  for (let cursor = after; ; ) {
    const page = await eventsPage(user, cursor, 100);
    if (!page.data) throw new Error(JSON.stringify(page.errors));
    events.push(...page.data.events.edges.map((edge) => edge.node));
    cursor = page.data.events.pageInfo.endCursor!;
    if (!page.data.events.pageInfo.hasNextPage) return events;
  }
}

/** The user's log as PostgreSQL holds it: the cursor of every position, oldest first. */
async function logCursors(user: TestUser, after = 0n): Promise<string[]> {
  const rows = await t.sql<{ at: string }>(
    'SELECT "position"::text AS "at" FROM "UserEvent" WHERE "userId" = $1 AND "position" > $2 ORDER BY "position"',
    [user.id, after.toString()],
  );
  return rows.map((row) => encodeCursor(user.id, BigInt(row.at)));
}

const addedIds = (events: Event[]) =>
  events.flatMap((event) => (event.payload.__typename === 'MessageAddedEvent' ? [event.payload.message.id] : []));

/** A refused subscription gets graphql-ws's `error` message: its errors, each with its code. */
const errorCodes = (stream: Subscription<unknown>) =>
  stream.errors.flat().map((error) => (error as { extensions?: { code?: string } }).extensions?.code);

const positionOf = (cursor: string) => BigInt(Buffer.from(cursor, 'base64url').toString().split(':')[2]!);

async function pair() {
  const salon = await t.user('SALON');
  const client = await t.user('CLIENT', 'Camille');
  return { salon, client, conversationId: await openConversation(t, salon, client) };
}

describe('eventCursor with the inbox, then events(after:)', () => {
  it('misses nothing committed while the inbox was read, nor after', async () => {
    const { salon, client, conversationId } = await pair();
    // Messages committing while the salon loads its inbox: each is in the loaded data, or after
    // the cursor, or both — never in neither.
    const sends = Array.from({ length: 30 }, (_, i) => send(t, client, conversationId, `during ${i}`));
    const loaded = await t.gql<{ eventCursor: string; messages: { edges: { node: { id: string } }[] } }>(
      `query($id: ID!) {
        conversations(first: 20) { edges { node { id unreadCount lastMessage { id } } } }
        messages(conversationId: $id, first: 100) { edges { node { id } } }
        eventCursor
      }`,
      { id: conversationId },
      salon.token,
    );
    expect(loaded.errors).toBeUndefined();
    const inInbox = new Set(loaded.data!.messages.edges.map((edge) => edge.node.id));
    const during = await Promise.all(sends);

    const stream = await streamOf(connect(salon, 1), 1, loaded.data!.eventCursor);
    const after = [await send(t, client, conversationId, 'after 1'), await send(t, client, conversationId, 'after 2')];
    const wanted = [...during.map((message) => message.id).filter((id) => !inInbox.has(id)), ...after.map((message) => message.id)];
    await expect.poll(() => addedIds(received(stream)).filter((id) => wanted.includes(id)).length).toBe(wanted.length);
    // Delivered in commit order, which for one conversation is `seq` order.
    const seqs = received(stream).flatMap((event) => (event.payload.__typename === 'MessageAddedEvent' ? [event.payload.message.seq] : []));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(stream.errors).toEqual([]);
    stream.dispose();
  });

  it('eventCursor is read before any other field of its request runs, wherever it stands in the document', async () => {
    const { salon, conversationId } = await pair();
    const statements: string[] = [];
    const stop = onQuery((sql) => statements.push(sql));
    try {
      const response = await t.gql(
        `query($id: ID!) { conversations(first: 5) { edges { node { id } } } messages(conversationId: $id) { edges { node { id } } } ...Cursor }
         fragment Cursor on Query { eventCursor }`,
        { id: conversationId },
        salon.token,
      );
      expect(response.errors).toBeUndefined();
    } finally {
      stop();
    }
    const first = (table: string) => statements.findIndex((sql) => sql.includes(`"${table}"`));
    expect(first('UserEventStream')).toBeGreaterThanOrEqual(0);
    expect(first('UserEventStream')).toBeLessThan(first('Conversation'));
    expect(first('UserEventStream')).toBeLessThan(first('Message'));
  });

  it('the Inbox operation carries eventCursor, and without `after` the stream starts from now', async () => {
    const { salon, client, conversationId } = await pair();
    await send(t, client, conversationId, 'before');
    const inbox = await t.gql<InboxQuery>(print(InboxDocument), { first: 5 }, salon.token);
    expect(await logCursors(salon, positionOf(inbox.data!.eventCursor))).toEqual([]);

    const live = await streamOf(connect(salon), 0);
    const message = await send(t, client, conversationId, 'now');
    await expect.poll(() => addedIds(received(live))).toEqual([message.id]);
    live.dispose();
  });
});

/**
 * A send in conversation `b` that is created but not committed: it stops on the salon's unread
 * counter of `b`, which a second connection holds. Its message row and `createdAt` are written;
 * `release()` lets it commit and returns the message.
 */
async function sendHeldBack(b: string, author: TestUser, salon: TestUser, content: string) {
  const locker = new pg.Client({ connectionString: t.databaseUrl });
  locker.on('error', () => {});
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('SELECT 1 FROM "MessageNotification" WHERE "conversationId" = $1 AND "userId" = $2 FOR UPDATE', [b, salon.id]);
  const held = send(t, author, b, content);
  held.catch(() => {});
  await expect
    .poll(async () => (await locker.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rowCount)
    .toBeGreaterThan(0);
  return {
    async release() {
      await locker.query('COMMIT');
      return held;
    },
    end: () => locker.end(),
  };
}

describe('resuming', () => {
  it('a subscriber that drops and resumes from its last cursor on the other instance gets exactly the rest', async () => {
    const { salon, client, conversationId } = await pair();
    const start = await eventCursor(salon);
    const first = await connectTab(t.apps[0]!.wsUrl(), { authorization: `Bearer ${salon.token}` });
    clients.push(first.client);
    const before = await liveTopics(t.apps[0]!);
    const one = subscribe<OnEventsSubscription>(first.client, OnEventsDocument, { after: start });
    await untilLive(t.apps[0]!, before, 1);
    for (let i = 0; i < 3; i++) await send(t, client, conversationId, `seen ${i}`);
    await t.gql('mutation($id: ID!) { markConversationRead(id: $id) { id } }', { id: conversationId }, salon.token);
    const firstPart = await logCursors(salon, positionOf(start));
    await expect.poll(() => received(one).map((event) => event.cursor)).toEqual(firstPart);

    // The network goes: no `complete`, the socket is simply cut.
    first.socket.tcp!.destroy();
    const lastHeld = received(one).at(-1)!.cursor;
    for (let i = 0; i < 3; i++) await send(t, client, conversationId, `missed ${i}`);
    const message = await send(t, salon, conversationId, 'sent from another device');
    await t.gql('mutation($id: ID!) { deleteMessage(id: $id) }', { id: message.id }, salon.token);

    const two = await streamOf(connect(salon, 1), 1, lastHeld);
    await send(t, client, conversationId, 'live again');
    const rest = await logCursors(salon, positionOf(lastHeld));
    expect(rest.length).toBeGreaterThanOrEqual(9);
    await expect.poll(() => received(two).map((event) => event.cursor)).toEqual(rest);
    expect(received(one).map((event) => event.cursor)).toEqual(firstPart);
    expect(received(two).map((event) => event.payload.__typename)).toEqual(expect.arrayContaining(['MessageAddedEvent', 'MessageDeletedEvent', 'UnreadCountEvent']));
    expect(two.errors).toEqual([]);
    two.dispose();
  });

  it('a message created in another conversation before `after` but committed after it is delivered', async () => {
    const { salon, client, conversationId: a } = await pair();
    const b = await openConversation(t, salon, client, 'B');
    await send(t, client, b, 'creates the counter row');
    const hold = await sendHeldBack(b, client, salon, 'created first, committed last');
    try {
      const start = await eventCursor(salon);
      const inA = await send(t, client, a, 'created second, committed first');
      // The client has applied everything up to A's message: that is its `after`.
      const afterA = (await allEventsAfter(salon, start)).find(
        (event) => event.payload.__typename === 'MessageAddedEvent' && event.payload.message.id === inA.id,
      )!.cursor;
      const stream = await streamOf(connect(salon, 1), 1, afterA);

      const inB = await hold.release();
      await expect.poll(() => addedIds(received(stream))).toContain(inB.id);
      const [createdB, createdA] = await Promise.all(
        [inB.id, inA.id].map(async (id) => (await t.sql<{ createdAt: Date }>('SELECT "createdAt" FROM "Message" WHERE id = $1', [id]))[0]!.createdAt),
      );
      expect(createdB!.getTime()).toBeLessThan(createdA!.getTime());
      expect(addedIds(received(stream))).not.toContain(inA.id);
      stream.dispose();
    } finally {
      await hold.end();
    }
  });
});

describe('per-type subscriptions read the same log', () => {
  it('messageAdded(after:) without conversationId delivers a message created before `after` in another conversation but committed after it', async () => {
    const { salon, client, conversationId: a } = await pair();
    const b = await openConversation(t, salon, client, 'B');
    await send(t, client, b, 'creates the counter row');
    const hold = await sendHeldBack(b, client, salon, 'created first, committed last');
    try {
      const inA = await send(t, client, a, 'created second, committed first');
      // The salon's app had A's message, then went offline; B commits while it is away.
      const inB = await hold.release();
      // It comes back and resumes after the last message it holds, across all conversations.
      const added = subscribe<{ messageAdded: { id: string; content: string } }>(
        connect(salon, 1),
        'subscription($after: ID) { messageAdded(after: $after) { id content } }',
        { after: inA.id },
      );
      await expect.poll(() => added.events.map((event) => event.messageAdded.id)).toEqual([inB.id]);
      const later = await send(t, client, a, 'then live');
      await expect.poll(() => added.events.map((event) => event.messageAdded.id)).toEqual([inB.id, later.id]);
      expect(added.errors).toEqual([]);
      added.dispose();
    } finally {
      await hold.end();
    }
  });

  it('messageAdded names a malformed argument by its own name', async () => {
    const { salon } = await pair();
    const codeAndField = (errors: unknown[]) =>
      errors.map((error) => {
        const { code, field } = (error as { extensions?: { code?: string; field?: string } }).extensions ?? {};
        return [code, field];
      });
    const badAfter = subscribe(connect(salon), 'subscription { messageAdded(after: "xyz") { id } }');
    await expect.poll(() => codeAndField(badAfter.errors)).toEqual([['BAD_USER_INPUT', 'after']]);
    const badConversation = subscribe(connect(salon), 'subscription { messageRead(conversationId: "xyz") { messageIds } }');
    await expect.poll(() => codeAndField(badConversation.errors)).toEqual([['BAD_USER_INPUT', 'conversationId']]);
  });

  it('messageAdded(after:) with a message no longer in the log is CURSOR_EXPIRED', async () => {
    const { salon, client, conversationId } = await pair();
    const old = await send(t, client, conversationId, 'long ago');
    await t.sql(`UPDATE "UserEvent" SET "occurredAt" = now() - interval '31 days' WHERE "userId" = $1`, [salon.id]);
    await pruneEvents(30);
    const added = subscribe(connect(salon), 'subscription($after: ID) { messageAdded(after: $after) { id } }', { after: old.id });
    await expect
      .poll(() => added.errors.map((error) => (error as { extensions?: { code?: string } }).extensions?.code))
      .toEqual(['CURSOR_EXPIRED']);
  });
});

describe('typing', () => {
  it('a typing state ends when its author sends a message (the TTL here is 5 s)', async () => {
    const { salon, client, conversationId } = await pair();
    const before = await liveTopics(t.apps[1]!);
    const typing = subscribe<{ typing: { user: { id: string }; isTyping: boolean } }>(
      connect(client, 1),
      'subscription($id: ID!) { typing(conversationId: $id) { user { id } isTyping } }',
      { id: conversationId },
    );
    await untilLive(t.apps[1]!, before, 1);
    const setTyping = () => t.gql('mutation($id: ID!) { setTyping(conversationId: $id, isTyping: true) }', { id: conversationId }, salon.token);
    await setTyping();
    await typing.waitFor(1);
    await send(t, salon, conversationId, 'Voilà');
    await typing.waitFor(2);
    // Typing again right away is a new state (true again), not a refresh of one still running.
    await setTyping();
    await typing.waitFor(3);
    expect(typing.events.map((event) => [event.typing.user.id, event.typing.isTyping])).toEqual([
      [salon.id, true],
      [salon.id, false],
      [salon.id, true],
    ]);
    typing.dispose();
  });
});

/** Each write a socket makes (one `write` or `writev` call each), as text, until `stop`. Observed, not replaced. */
function recordWrites(socket: Socket): { writes: string[]; stop(): void } {
  const writes: string[] = [];
  const { _write: write, _writev: writev } = socket;
  socket._write = function (chunk: unknown, encoding: BufferEncoding, callback: (error?: Error | null) => void) {
    writes.push(String(chunk));
    write.call(this, chunk, encoding, callback);
  };
  socket._writev = function (chunks: { chunk: unknown; encoding: BufferEncoding }[], callback: (error?: Error | null) => void) {
    writes.push(chunks.map((entry) => String(entry.chunk)).join(''));
    writev!.call(this, chunks, callback);
  };
  return {
    writes,
    // The prototype's methods again.
    stop: () => void (delete (socket as Partial<Socket>)._write, delete (socket as Partial<Socket>)._writev),
  };
}

describe('what a send writes to Redis', () => {
  it("its wake-ups and the end of its author's typing state leave in one write", async () => {
    const { salon, client, conversationId } = await pair();
    const recorder = recordWrites((t.app.bus.redis as Redis).stream);
    try {
      await send(t, salon, conversationId, 'One write');
      const ended = `typing:${conversationId}:${salon.id}`;
      await expect.poll(() => recorder.writes.some((write) => write.includes(ended))).toBe(true);
      const write = recorder.writes.find((text) => text.includes(ended))!;
      // A wake-up for each participant, in the same write.
      expect(write).toContain(topics.userEvents(salon.id));
      expect(write).toContain(topics.userEvents(client.id));
    } finally {
      recorder.stop();
    }
  });
});

describe('Query.events', () => {
  it('pages through the log oldest first; endCursor resumes; an empty page keeps the cursor', async () => {
    const { salon, client, conversationId } = await pair();
    const start = await eventCursor(salon);
    for (let i = 0; i < 4; i++) await send(t, client, conversationId, `page ${i}`);
    const log = await logCursors(salon, positionOf(start));

    const seen: string[] = [];
    let cursor = start;
    for (let round = 0; ; round++) {
      const page = await eventsPage(salon, cursor, 3, round % 2);
      expect(page.errors).toBeUndefined();
      const { edges, pageInfo } = page.data!.events;
      seen.push(...edges.map((edge) => edge.node.cursor));
      expect(edges.length).toBeLessThanOrEqual(3);
      cursor = pageInfo.endCursor!;
      if (!pageInfo.hasNextPage) break;
    }
    expect(seen).toEqual(log);
    expect(cursor).toBe(log.at(-1));

    const empty = await eventsPage(salon, cursor);
    expect(empty.data!.events).toEqual({ pageInfo: { hasNextPage: false, endCursor: cursor }, edges: [] });
    const message = await send(t, client, conversationId, 'next');
    const next = await eventsPage(salon, cursor);
    expect(addedIds(next.data!.events.edges.map((edge) => edge.node))).toEqual([message.id]);

    expect(codes(await eventsPage(salon, start, 101))).toEqual(['BAD_USER_INPUT']);

    // hasPreviousPage: retained events come before a cursor past the first, none before position 0.
    const previous = (after: string) =>
      t.gql<{ events: { pageInfo: { hasPreviousPage: boolean } } }>(
        'query($after: String!) { events(after: $after, first: 1) { pageInfo { hasPreviousPage } } }',
        { after },
        salon.token,
      );
    expect((await previous(log[1]!)).data?.events.pageInfo.hasPreviousPage).toBe(true);
    expect((await previous(encodeCursor(salon.id, 0n))).data?.events.pageInfo.hasPreviousPage).toBe(false);
  });

  it('a conversation deleted since: its messages are skipped, its deletion is delivered, to both participants', async () => {
    const { salon, client, conversationId } = await pair();
    const starts = [await eventCursor(salon), await eventCursor(client)];
    await send(t, client, conversationId, 'soon gone');
    const deleted = await t.gql('mutation($id: ID!) { deleteConversation(id: $id) }', { id: conversationId }, salon.token);
    expect(deleted.errors).toBeUndefined();
    for (const [i, user] of [salon, client].entries()) {
      const events = await allEventsAfter(user, starts[i]!);
      expect(events.map((event) => event.payload.__typename)).not.toContain('MessageAddedEvent');
      expect(events).toContainEqual(expect.objectContaining({ conversationId, payload: { __typename: 'ConversationDeletedEvent', conversationId } }));
    }
  });
});

describe('cursors the viewer may not use', () => {
  it('CURSOR_EXPIRED once the events after it were pruned; a cursor at the pruned edge still works', async () => {
    const { salon, client, conversationId } = await pair();
    const start = await eventCursor(salon);
    for (let i = 0; i < 3; i++) await send(t, client, conversationId, `old ${i}`);
    const old = await logCursors(salon, positionOf(start));
    const edge = old[2]!;
    await t.sql(`UPDATE "UserEvent" SET "occurredAt" = now() - interval '40 days' WHERE "userId" = $1 AND "position" <= $2`, [
      salon.id,
      positionOf(edge).toString(),
    ]);
    expect(await pruneEvents(30)).toBeGreaterThanOrEqual(3);

    const expired = await eventsPage(salon, start);
    expect(codes(expired)).toEqual(['CURSOR_EXPIRED']);
    expect(expired.errors![0]!.message).toMatch(/retention/);
    const stream = subscribe<OnEventsSubscription>(connect(salon), OnEventsDocument, { after: old[0] });
    await expect.poll(() => errorCodes(stream)).toEqual(['CURSOR_EXPIRED']);

    const atEdge = await eventsPage(salon, edge);
    expect(atEdge.errors).toBeUndefined();
    expect(atEdge.data!.events.edges.map((e) => e.node.cursor)).toEqual(await logCursors(salon, positionOf(edge)));
  });

  it('a malformed, forged or another user\'s cursor is BAD_USER_INPUT and says nothing more', async () => {
    const { salon, client, conversationId } = await pair();
    await send(t, client, conversationId, 'something');
    const mine = await eventCursor(salon);
    const theirs = await eventCursor(client);
    const forge = (text: string) => Buffer.from(text).toString('base64url');
    const bad = [
      'garbage',
      '',
      theirs,
      forge(`v1:${salon.id}:${positionOf(mine) + 1000n}`),
      forge(`v1:${salon.id}:-1`),
      forge(`v2:${salon.id}:1`),
      forge(`v1:${salon.id}:1:extra`),
      `${mine}=`,
    ];
    for (const after of bad) {
      const response = await eventsPage(salon, after);
      expect(codes(response), after).toEqual(['BAD_USER_INPUT']);
      expect(response.errors![0]!.message).toBe('Invalid cursor');
    }
    const stream = subscribe<OnEventsSubscription>(connect(salon, 1), OnEventsDocument, { after: theirs });
    await expect.poll(() => errorCodes(stream)).toEqual(['BAD_USER_INPUT']);
    expect(codes(await eventsPage(salon, mine))).toEqual([]);
  });
});
