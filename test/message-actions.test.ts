import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddReactionDocument,
  EditMessageDocument,
  EventCursorDocument,
  EventsDocument,
  MarkConversationUnreadDocument,
  OnEventsDocument,
  OnMessageEditedDocument,
  RemoveReactionDocument,
  type AddReactionMutation,
  type EditMessageMutation,
  type EventCursorQuery,
  type EventsQuery,
  type MarkConversationUnreadMutation,
  type RemoveReactionMutation,
  type OnEventsSubscription,
  type OnMessageEditedSubscription,
} from '../operations/generated/graphql.js';
import { onQuery } from '../src/db.js';
import { useTestApp, type TestUser } from './support/app.js';
import { codes, openConversation, send } from './support/fixtures.js';
import { liveTopics, subscribe, untilLive, wsClient } from './support/ws.js';

const t = useTestApp({ RATE_LIMIT_REACTIONS_PER_MIN: '0', RATE_LIMIT_SENDS_PER_MIN: '0', DATABASE_POOL_SIZE: '20' });

const sockets: Client[] = [];
afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.dispose()));
});

let salon: TestUser;
let client: TestUser;
let stranger: TestUser;
let conversationId: string;

beforeAll(async () => {
  [salon, client, stranger] = [await t.user('SALON'), await t.user('CLIENT'), await t.user('CLIENT')];
  conversationId = await openConversation(t, salon, client, 'Actions');
});

const edit = (user: TestUser, id: string, content: string) => t.gql<EditMessageMutation>(print(EditMessageDocument), { id, content }, user.token);
const react = (user: TestUser, messageId: string, emoji: string) => t.gql<AddReactionMutation>(print(AddReactionDocument), { messageId, emoji }, user.token);
const unreact = (user: TestUser, messageId: string, emoji: string) =>
  t.gql<RemoveReactionMutation>(print(RemoveReactionDocument), { messageId, emoji }, user.token);

async function cursorOf(user: TestUser): Promise<string> {
  return (await t.gql<EventCursorQuery>(print(EventCursorDocument), {}, user.token)).data!.eventCursor;
}

/** The `__typename`s of the viewer's events after `after`, read over HTTP as a partner polls them. */
async function eventsAfter(user: TestUser, after: string) {
  const response = await t.gql<EventsQuery>(print(EventsDocument), { after, first: 100 }, user.token);
  expect(response.errors).toBeUndefined();
  return response.data!.events.edges.map((edge) => edge.node.payload);
}

describe('editMessage', () => {
  it('changes the text and sets editedAt; both participants get MessageEditedEvent, the other live on messageEdited; the same text again changes nothing', async () => {
    const message = await send(t, client, conversationId, 'À demain 10h');
    const socket = wsClient(t.app.wsUrl(), { authorization: `Bearer ${salon.token}` });
    sockets.push(socket);
    const before = await liveTopics(t.app);
    const live = subscribe<OnMessageEditedSubscription>(socket, OnMessageEditedDocument, { conversationId });
    await untilLive(t.app, before, 1);
    const [salonCursor, clientCursor] = [await cursorOf(salon), await cursorOf(client)];

    const edited = await edit(client, message.id, '  À demain 11h  ');
    expect(edited.errors).toBeUndefined();
    const { editedAt, content } = edited.data!.editMessage;
    expect(content).toBe('À demain 11h');
    expect(editedAt).not.toBeNull();

    const [event] = await live.waitFor(1);
    expect(event!.messageEdited).toEqual({ conversationId, editedAt, message: { id: message.id, content: 'À demain 11h', editedAt } });
    for (const [user, cursor] of [[salon, salonCursor], [client, clientCursor]] as const) {
      expect(await eventsAfter(user, cursor)).toEqual([
        { __typename: 'MessageEditedEvent', conversationId, editedAt, message: { id: message.id, content: 'À demain 11h', editedAt } },
      ]);
    }

    // A retry of the same edit: same answer, no new event, editedAt kept.
    const again = await edit(client, message.id, 'À demain 11h');
    expect(again.data!.editMessage.editedAt).toBe(editedAt);
    expect(await eventsAfter(client, clientCursor)).toHaveLength(1);
  });

  it('refuses the other participant, SYSTEM messages, deleted messages, strangers and bad text, and stores nothing', async () => {
    const mine = await send(t, client, conversationId, 'original');
    const deleted = await send(t, client, conversationId, 'gone');
    await t.gql('mutation($id: ID!) { deleteMessage(id: $id) }', { id: deleted.id }, client.token);
    const booked = await t.gql<{ createAppointment: { conversation: { id: string } } }>(
      'mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { conversation { id } } }',
      { input: { clientUserId: client.id, startsAt: '2027-03-01T10:00:00Z', service: 'Coupe' } },
      salon.token,
    );
    const [system] = await t.sql<{ id: string }>(`SELECT id::text FROM "Message" WHERE kind = 'SYSTEM' AND "conversationId" = $1`, [
      booked.data!.createAppointment.conversation.id,
    ]);

    expect(codes(await edit(salon, mine.id, 'not mine'))).toEqual(['FORBIDDEN']);
    expect(codes(await edit(salon, system!.id, 'rewritten'))).toEqual(['FORBIDDEN']);
    expect(codes(await edit(client, deleted.id, 'back'))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await edit(stranger, mine.id, 'hello'))).toEqual(['NOT_FOUND']);
    expect(codes(await edit(client, 'not-an-id', 'hello'))).toEqual(['BAD_USER_INPUT']);
    const blank = await edit(client, mine.id, '   ');
    expect(codes(blank)).toEqual(['BAD_USER_INPUT']);
    expect(blank.errors?.[0]?.extensions?.field).toBe('content');
    expect(codes(await edit(client, mine.id, 'x'.repeat(4001)))).toEqual(['BAD_USER_INPUT']);

    const rows = await t.sql<{ id: string; content: string; editedAt: Date | null }>(
      'SELECT id::text, content, "editedAt" FROM "Message" WHERE id = ANY($1::uuid[]) ORDER BY seq',
      [[mine.id, deleted.id]],
    );
    expect(rows).toEqual([
      { id: mine.id, content: 'original', editedAt: null },
      { id: deleted.id, content: '', editedAt: null },
    ]);
  });
});

describe('reactions', () => {
  it('groups reactions by emoji with counts and reactedByMe for each viewer; adding twice and removing what is not there change nothing', async () => {
    const message = await send(t, salon, conversationId, 'Votre couleur est prête');
    const cursor = await cursorOf(salon);
    expect((await react(client, message.id, '👍')).data?.addReaction.reactions).toEqual([{ emoji: '👍', count: 1, reactedByMe: true }]);
    expect((await react(salon, message.id, '👍')).data?.addReaction.reactions).toEqual([{ emoji: '👍', count: 2, reactedByMe: true }]);
    // A text-style heart or keycap (no emoji selector) is the same reaction as the emoji one.
    expect((await react(salon, message.id, '1\u20E3')).data?.addReaction.reactions.map((r) => r.emoji)).toContain('1\uFE0F\u20E3');
    await unreact(salon, message.id, '1\uFE0F\u20E3');
    await react(client, message.id, '❤');
    const twice = await react(client, message.id, '❤️');
    expect(twice.data!.addReaction.reactions).toEqual([
      { emoji: '👍', count: 2, reactedByMe: true },
      { emoji: '❤️', count: 1, reactedByMe: true },
    ]);
    const seenBySalon = await t.gql<{ message: { reactions: unknown[] } }>(
      'query($id: ID!) { messages(conversationId: $id, first: 1) { edges { node { reactions { emoji count reactedByMe } } } } }',
      { id: conversationId },
      salon.token,
    );
    expect(JSON.stringify(seenBySalon.data)).toContain('{"emoji":"❤️","count":1,"reactedByMe":false}');

    const removed = await unreact(client, message.id, '👍');
    expect(removed.data!.removeReaction).toEqual({
      id: message.id,
      reactions: [
        { emoji: '👍', count: 1, reactedByMe: false },
        { emoji: '❤️', count: 1, reactedByMe: true },
      ],
    });
    expect(codes(await unreact(client, message.id, '👍'))).toEqual([]);

    const events = await eventsAfter(salon, cursor);
    expect(events.map((event) => event.__typename === 'ReactionChangedEvent' && `${event.emoji} ${event.added ? '+' : '-'} ${event.user.id === client.id ? 'client' : 'salon'}`)).toEqual([
      '👍 + client',
      '👍 + salon',
      '1️⃣ + salon',
      '1️⃣ - salon',
      '❤️ + client',
      '👍 - client',
    ]);
  });

  it('refuses what is not one emoji, a deleted message, strangers and a 21st different emoji — also when 25 arrive at once', async () => {
    const message = await send(t, client, conversationId, 'Many reactions');
    for (const emoji of ['', 'a', '👍👍', '😀x', ':+1:', 'x'.repeat(40), '👍\u0000']) {
      const response = await react(salon, message.id, emoji);
      expect({ emoji, codes: codes(response), field: response.errors?.[0]?.extensions?.field }).toEqual({ emoji, codes: ['BAD_USER_INPUT'], field: 'emoji' });
    }
    expect(codes(await react(stranger, message.id, '👍'))).toEqual(['NOT_FOUND']);

    const emojis = [...'😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙😚🙂🤗🤩🤔🤨😐😑'.matchAll(/\p{Extended_Pictographic}/gu)].map((m) => m[0]);
    expect(emojis).toHaveLength(25);
    const results = await Promise.all(emojis.map((emoji, i) => react(i % 2 ? salon : client, message.id, emoji)));
    expect(results.filter((r) => codes(r).length === 0)).toHaveLength(20);
    expect(results.filter((r) => codes(r)[0] === 'BAD_USER_INPUT')).toHaveLength(5);
    const [stored] = await t.sql<{ n: number }>('SELECT count(DISTINCT emoji)::int AS n FROM "MessageReaction" WHERE "messageId" = $1', [message.id]);
    expect(stored?.n).toBe(20);
    // One more person on an emoji already there is fine.
    const existing = results.find((r) => codes(r).length === 0)!.data!.addReaction.reactions[0]!.emoji;
    expect(codes(await react(client, message.id, existing))).toEqual([]);

    await t.gql('mutation($id: ID!) { deleteMessage(id: $id) }', { id: message.id }, client.token);
    expect(codes(await react(salon, message.id, '👍'))).toEqual(['BAD_USER_INPUT']);
    const [left] = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM "MessageReaction" WHERE "messageId" = $1', [message.id]);
    expect(left?.n).toBe(0);
  });

  it('a page of 100 messages with reactions runs the same statements as a page of 10 (no N+1)', async () => {
    const busy = await openConversation(t, salon, client, 'Busy');
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push((await send(t, i % 2 ? salon : client, busy, `m${i}`)).id);
    await t.sql(
      `INSERT INTO "MessageReaction" ("messageId", "userId", "emoji") SELECT id, $2, '👍' FROM unnest($1::uuid[]) AS id`,
      [ids, salon.id],
    );
    const page = async (first: number) => {
      await t.gql('{ me { id } }', {}, client.token);
      const statements: string[] = [];
      const stop = onQuery((sql) => void (sql.startsWith('/* background:') || statements.push(sql.replace(/\$\d+/g, '$n').replace(/\s+/g, ' ').trim())));
      try {
        const response = await t.gql<{ messages: { edges: { node: { reactions: unknown[] } }[] } }>(
          'query($id: ID!, $first: Int) { messages(conversationId: $id, first: $first) { edges { node { id content reactions { emoji count reactedByMe } } } } }',
          { id: busy, first },
          client.token,
        );
        expect(response.errors).toBeUndefined();
        expect(response.data!.messages.edges.map((edge) => edge.node.reactions)).toEqual(
          Array.from({ length: first }, () => [{ emoji: '👍', count: 1, reactedByMe: false }]),
        );
      } finally {
        stop();
      }
      return statements;
    };
    const ten = await page(10);
    const hundred = await page(100);
    expect(hundred).toEqual(ten);
    // The conversation check, the page, the reactions of the whole page.
    expect(ten.map((sql) => [...sql.matchAll(/"(?:public"\.")?(\w+)"(?= |$|,|\))/g)].map((m) => m[1]).filter((name) => /^[A-Z]/.test(name!))[0])).toEqual([
      'Conversation',
      'Message',
      'MessageReaction',
    ]);
  });
});

describe('markConversationUnread', () => {
  it("turns the viewer's read messages from one on back to unread, with exact counts and events; again changes nothing", async () => {
    const thread = await openConversation(t, salon, client, 'Unread');
    const m = [];
    for (let i = 0; i < 4; i++) m.push(await send(t, salon, thread, `s${i}`));
    const own = await send(t, client, thread, 'from the client');
    await t.gql('mutation($id: ID!) { markConversationRead(id: $id) { id } }', { id: thread }, client.token);
    const [clientCursor, salonCursor] = [await cursorOf(client), await cursorOf(salon)];
    const run = (user: TestUser, id: string, fromMessageId: string) =>
      t.gql<MarkConversationUnreadMutation>(print(MarkConversationUnreadDocument), { id, fromMessageId }, user.token);

    const marked = await run(client, thread, m[2]!.id);
    expect(marked.data!.markConversationUnread).toEqual({ id: thread, unreadCount: 2 });
    const rows = await t.sql<{ content: string; unread: boolean }>(`SELECT content, "readAt" IS NULL AS unread FROM "Message" WHERE "conversationId" = $1 ORDER BY seq`, [thread]);
    expect(rows).toEqual([
      { content: 's0', unread: false },
      { content: 's1', unread: false },
      { content: 's2', unread: true },
      { content: 's3', unread: true },
      // The client's own message is not theirs to read.
      { content: 'from the client', unread: true },
    ]);
    const [{ total } = { total: -1 }] = await t.sql<{ total: number }>('SELECT sum("unreadCount")::int AS total FROM "MessageNotification" WHERE "userId" = $1', [client.id]);
    const events = await eventsAfter(client, clientCursor);
    expect(events).toEqual([
      { __typename: 'MessageUnreadEvent', conversationId: thread, messageIds: expect.arrayContaining([m[2]!.id, m[3]!.id]), reader: { id: client.id } },
      { __typename: 'UnreadCountEvent', conversationId: thread, conversationUnread: 2, totalUnread: total },
    ]);
    // The salon learns that its messages are unread again (their readAt changed), not the client's counts.
    expect((await eventsAfter(salon, salonCursor)).map((event) => event.__typename)).toEqual(['MessageUnreadEvent']);

    expect((await run(client, thread, m[2]!.id)).data!.markConversationUnread.unreadCount).toBe(2);
    expect(await eventsAfter(client, clientCursor)).toHaveLength(2);
    // From an earlier message: only the ones still read change.
    expect((await run(client, thread, m[0]!.id)).data!.markConversationUnread.unreadCount).toBe(4);
    expect(own.id).toBeTruthy();
  });

  it('refuses a message of another conversation, strangers and malformed ids, and changes nothing', async () => {
    const thread = await openConversation(t, salon, client, 'Unread refusals');
    const message = await send(t, salon, thread, 'hello');
    const elsewhere = await send(t, salon, conversationId, 'elsewhere');
    await t.gql('mutation($id: ID!) { markConversationRead(id: $id) { id } }', { id: thread }, client.token);
    const run = (user: TestUser, id: string, fromMessageId: string) =>
      t.gql(print(MarkConversationUnreadDocument), { id, fromMessageId }, user.token);
    const wrong = await run(client, thread, elsewhere.id);
    expect(codes(wrong)).toEqual(['BAD_USER_INPUT']);
    expect(wrong.errors?.[0]?.extensions?.field).toBe('fromMessageId');
    expect(codes(await run(stranger, thread, message.id))).toEqual(['NOT_FOUND']);
    expect(codes(await run(client, thread, 'nope'))).toEqual(['BAD_USER_INPUT']);
    const [row] = await t.sql<{ unreadCount: number }>(`SELECT "unreadCount" FROM "MessageNotification" WHERE "conversationId" = $1 AND "userId" = $2`, [
      thread,
      client.id,
    ]);
    expect(row?.unreadCount).toBe(0);
  });
});

describe('in an archived conversation', () => {
  it('edits, reactions and mark unread still work: archiving stops new messages only', async () => {
    const thread = await openConversation(t, salon, client, 'Archived');
    const message = await send(t, client, thread, 'before archiving');
    const fromSalon = await send(t, salon, thread, 'read me');
    await t.gql('mutation($id: ID!) { markConversationRead(id: $id) { id } }', { id: thread }, client.token);
    await t.gql('mutation($id: ID!) { archiveConversation(id: $id) { id } }', { id: thread }, salon.token);
    expect(codes(await t.gql('mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }', { input: { conversationId: thread, content: 'new' } }, client.token))).toEqual(['BAD_USER_INPUT']);
    expect((await edit(client, message.id, 'edited while archived')).data?.editMessage.content).toBe('edited while archived');
    expect((await react(salon, message.id, '👍')).data?.addReaction.reactions).toEqual([{ emoji: '👍', count: 1, reactedByMe: true }]);
    const unread = await t.gql<MarkConversationUnreadMutation>(print(MarkConversationUnreadDocument), { id: thread, fromMessageId: fromSalon.id }, client.token);
    expect(unread.data?.markConversationUnread.unreadCount).toBe(1);
  });
});

describe('the event stream', () => {
  it('a subscriber resuming from a cursor gets edits, reactions and unread marks in order', async () => {
    const thread = await openConversation(t, salon, client, 'Resume');
    const message = await send(t, salon, thread, 'Bonjour');
    await t.gql('mutation($id: ID!) { markConversationRead(id: $id) { id } }', { id: thread }, client.token);
    const cursor = await cursorOf(client);
    await edit(salon, message.id, 'Bonjour !');
    await react(client, message.id, '🙏');
    await t.gql(print(MarkConversationUnreadDocument), { id: thread, fromMessageId: message.id }, client.token);

    const socket = wsClient(t.app.wsUrl(), { authorization: `Bearer ${client.token}` });
    sockets.push(socket);
    const stream = subscribe<OnEventsSubscription>(socket, OnEventsDocument, { after: cursor });
    const received = await stream.waitFor(4);
    expect(received.map((event) => event.events.payload.__typename)).toEqual(['MessageEditedEvent', 'ReactionChangedEvent', 'MessageUnreadEvent', 'UnreadCountEvent']);
    expect(received[1]!.events.payload).toMatchObject({ emoji: '🙏', added: true, message: { id: message.id, reactions: [{ emoji: '🙏', count: 1, reactedByMe: true }] } });
  });
});
