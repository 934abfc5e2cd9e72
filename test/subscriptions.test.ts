import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken, useTestApp, type TestUser } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';
import { closeOf, liveTopics, sleep, subscribe, untilLive, wsClient } from './support/ws.js';
import { uploadAttachment } from './support/uploads.js';

// In-process bus: a single instance without Redis must deliver every event too.
const t = useTestApp({ TYPING_TTL_S: '1', JWT_CLOCK_TOLERANCE_S: '0' }, { app: { presence: { graceMs: 200 } } });

let salon: TestUser;
let client: TestUser;
let stranger: TestUser;
let conversationId: string;
const clients: Client[] = [];

function connect(user: TestUser) {
  const ws = wsClient(t.app.wsUrl(), { authorization: `Bearer ${user.token}` });
  clients.push(ws);
  return ws;
}

beforeAll(async () => {
  salon = await t.user('SALON');
  client = await t.user('CLIENT', 'Camille');
  stranger = await t.user('CLIENT', 'Stranger');
  conversationId = await openConversation(t, salon, client);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
});

describe('subscriptions deliver to participants only', () => {
  it('messageAdded carries the message with author and attachments; a stranger gets NOT_FOUND or nothing', async () => {
    const salonWs = connect(salon);
    const strangerWs = connect(stranger);
    const before = await liveTopics(t.app);
    const one = subscribe<{ messageAdded: Record<string, unknown> }>(
      salonWs,
      'subscription($id: ID) { messageAdded(conversationId: $id) { seq content author { id firstName } attachments { url } conversation { id } } }',
      { id: conversationId },
    );
    const all = subscribe(salonWs, 'subscription { messageAdded { content } }');
    const denied = subscribe(strangerWs, 'subscription($id: ID) { messageAdded(conversationId: $id) { content } }', { id: conversationId });
    const strangerAll = subscribe(strangerWs, 'subscription { messageAdded { content } }');
    // one, all and strangerAll hold a topic; denied is refused before it subscribes any.
    await untilLive(t.app, before, 3);
    await send(t, client, conversationId, 'live!', { attachments: [await uploadAttachment(t, client, conversationId)] });
    const [event] = await one.waitFor(1);
    expect(event?.messageAdded).toMatchObject({
      content: 'live!',
      author: { id: client.id, firstName: 'Camille' },
      attachments: [{ url: expect.stringMatching(/\/uploads\/[0-9a-f-]{36}\?expires=\d+&signature=/) }],
      conversation: { id: conversationId },
    });
    await all.waitFor(1);
    await sleep(200);
    expect(denied.events).toEqual([]);
    expect(JSON.stringify(denied.errors)).toContain('not found');
    expect(strangerAll.events).toEqual([]);
    for (const s of [one, all, denied, strangerAll]) s.dispose();
  });

  it('messageRead, unreadCount, conversationUpdated and messageDeleted follow the mutations', async () => {
    const salonWs = connect(salon);
    const clientWs = connect(client);
    const topicsBefore = await liveTopics(t.app);
    const reads = subscribe<{ messageRead: Record<string, unknown> }>(salonWs, 'subscription { messageRead { conversationId messageIds readAt reader { id } } }');
    const counts = subscribe<{ unreadCount: Record<string, unknown> }>(clientWs, 'subscription { unreadCount { totalUnread conversationId conversationUnread } }');
    const updates = subscribe<{ conversationUpdated: Record<string, unknown> }>(clientWs, 'subscription { conversationUpdated { id lastMessage { content } } }');
    const deletions = subscribe<{ messageDeleted: Record<string, unknown> }>(clientWs, 'subscription { messageDeleted { conversationId messageId } }');
    await untilLive(t.app, topicsBefore, 4);
    const before = await t.gql<{ unreadCount: number }>('{ unreadCount }', {}, client.token);

    const sent = await send(t, salon, conversationId, 'please read');
    const [count] = await counts.waitFor(1);
    expect(count?.unreadCount).toEqual({ totalUnread: before.data!.unreadCount + 1, conversationId, conversationUnread: expect.any(Number) });
    const [update] = await updates.waitFor(1);
    expect(update?.conversationUpdated).toEqual({ id: conversationId, lastMessage: { content: 'please read' } });

    await t.gql('mutation($id: ID!) { markConversationRead(id: $id) { id } }', { id: conversationId }, client.token);
    const [read] = await reads.waitFor(1);
    expect(read?.messageRead).toMatchObject({ conversationId, reader: { id: client.id } });
    expect(read?.messageRead.messageIds).toContain(sent.id);
    const counted = await counts.waitFor(2);
    expect(counted[1]?.unreadCount).toMatchObject({ conversationId, conversationUnread: 0 });

    const mine = await send(t, salon, conversationId, 'oops');
    await t.gql('mutation($id: ID!) { deleteMessage(id: $id) }', { id: mine.id }, salon.token);
    const [deleted] = await deletions.waitFor(1);
    expect(deleted?.messageDeleted).toEqual({ conversationId, messageId: mine.id });
    for (const s of [reads, counts, updates, deletions]) s.dispose();
  });

  it('typing reaches the other participant and ends by itself after the TTL', async () => {
    const clientWs = connect(client);
    const before = await liveTopics(t.app);
    const typing = subscribe<{ typing: { user: { id: string }; isTyping: boolean } }>(
      clientWs,
      'subscription($id: ID!) { typing(conversationId: $id) { conversationId user { id } isTyping } }',
      { id: conversationId },
    );
    const denied = subscribe(connect(stranger), 'subscription($id: ID!) { typing(conversationId: $id) { isTyping } }', { id: conversationId });
    await untilLive(t.app, before, 1);
    const set = await t.gql('mutation($id: ID!) { setTyping(conversationId: $id, isTyping: true) }', { id: conversationId }, salon.token);
    expect(set.data).toEqual({ setTyping: true });
    // A refresh while typing publishes nothing new.
    await t.gql('mutation($id: ID!) { setTyping(conversationId: $id, isTyping: true) }', { id: conversationId }, salon.token);
    const events = await typing.waitFor(2, 4000);
    expect(events.map((e) => [e.typing.user.id, e.typing.isTyping])).toEqual([
      [salon.id, true],
      [salon.id, false],
    ]);
    expect(denied.events).toEqual([]);
    expect(JSON.stringify(denied.errors)).toContain('not found');
    typing.dispose();
  });

  it('presence: online on first socket, offline after the last closes (several tabs count once)', async () => {
    const other = await t.user('CLIENT', 'Presence');
    await openConversation(t, salon, other);
    const before = await liveTopics(t.app);
    const watch = subscribe<{ presence: { user: { id: string }; online: boolean; lastSeenAt: string | null } }>(
      connect(salon),
      'subscription { presence { user { id } online lastSeenAt } }',
    );
    await untilLive(t.app, before, 1);
    // The stream starts with the salon's contacts online now (other tests' users): follow `other` only.
    const ofOther = () => watch.events.map((event) => event.presence).filter((presence) => presence.user.id === other.id);
    const tab1 = wsClient(t.app.wsUrl(), { token: other.token });
    const tab2 = wsClient(t.app.wsUrl(), { token: other.token });
    await expect.poll(ofOther).toHaveLength(1);
    expect(ofOther()[0]).toMatchObject({ user: { id: other.id }, online: true });
    const seen = await t.gql<{ conversations: { edges: { node: { client: { id: string; online: boolean } } }[] } }>(
      '{ conversations { edges { node { client { id online } } } } }',
      {},
      salon.token,
    );
    expect(seen.data?.conversations.edges.find((e) => e.node.client.id === other.id)?.node.client.online).toBe(true);
    await tab1.dispose();
    await sleep(400);
    expect(ofOther()).toHaveLength(1);
    await tab2.dispose();
    await expect.poll(ofOther).toHaveLength(2);
    expect(ofOther()[1]).toMatchObject({ user: { id: other.id }, online: false, lastSeenAt: expect.any(String) });
    watch.dispose();
  });
});

describe('presence starts with the current state', () => {
  it('a new presence subscription first lists each contact online now, then changes; offline contacts are not listed', async () => {
    const online = await t.user('CLIENT', 'Already here');
    const offline = await t.user('CLIENT', 'Away');
    const stranger = await t.user('CLIENT', 'Stranger');
    await openConversation(t, salon, online);
    await openConversation(t, salon, offline);
    const tab = wsClient(t.app.wsUrl(), { token: online.token });
    const strangerTab = wsClient(t.app.wsUrl(), { token: stranger.token });
    // Connected and counted online before the salon subscribes.
    await expect.poll(async () => (await t.gql<{ conversations: { edges: { node: { client: { id: string; online: boolean } } }[] } }>(
      '{ conversations(first: 100) { edges { node { client { id online } } } } }', {}, salon.token,
    )).data?.conversations.edges.find((e) => e.node.client.id === online.id)?.node.client.online).toBe(true);
    // The stranger is online too, as another salon sees: not the salon's contact, so not listed.
    const otherSalon = await t.user('SALON', 'Elsewhere');
    await openConversation(t, otherSalon, stranger);
    await expect.poll(async () => (await t.gql<{ conversations: { edges: { node: { client: { id: string; online: boolean } } }[] } }>(
      '{ conversations { edges { node { client { id online } } } } }', {}, otherSalon.token,
    )).data?.conversations.edges[0]?.node.client.online).toBe(true);

    const watch = subscribe<{ presence: { user: { id: string }; online: boolean } }>(
      connect(salon),
      'subscription { presence { user { id } online } }',
    );
    await expect.poll(() => watch.events.map((event) => event.presence)).toContainEqual({ user: { id: online.id }, online: true });
    const ids = () => watch.events.map((event) => event.presence.user.id);
    expect(ids()).not.toContain(offline.id);
    expect(ids()).not.toContain(stranger.id);
    await tab.dispose();
    await expect.poll(() => watch.events.map((event) => event.presence)).toContainEqual({ user: { id: online.id }, online: false });
    watch.dispose();
    await strangerTab.dispose();
  });
});

describe('socket authentication', () => {
  it('a missing token closes the socket with 4401', async () => {
    expect(await closeOf(t.app.wsUrl(), {})).toMatchObject({ code: 4401 });
  });

  it('a bad token closes the socket with 4401', async () => {
    expect(await closeOf(t.app.wsUrl(), { authorization: 'Bearer not-a-token' })).toMatchObject({ code: 4401 });
    const forged = await signToken({ sub: salon.id, role: 'salon' }, { secret: 'x'.repeat(40) });
    expect(await closeOf(t.app.wsUrl(), { token: forged })).toMatchObject({ code: 4401 });
  });

  it('a token that expires while connected ends the socket', async () => {
    const shortLived = await signToken({ sub: salon.id, role: 'salon' }, { expiresIn: Math.floor(Date.now() / 1000) + 2 });
    const started = Date.now();
    const closed = await closeOf(t.app.wsUrl(), { token: shortLived });
    expect(closed.code).toBe(4401);
    expect(Date.now() - started).toBeGreaterThan(900);
  });

  it("the API's own GraphiQL page (same origin, no connectionParams) must authenticate each operation", async () => {
    const host = new URL(t.app.wsUrl()).host;
    const ws = wsClient(t.app.wsUrl(), {});
    const denied = subscribe(ws, 'subscription { unreadCount { totalUnread } }');
    await expect.poll(() => denied.errors.length, { timeout: 5000 }).toBeGreaterThan(0);
    await ws.dispose();
    // The same socket from the API's origin is accepted, and an operation without headers refused.
    const { default: WebSocket } = await import('ws');
    const socket = new WebSocket(t.app.wsUrl(), 'graphql-transport-ws', { origin: `http://${host}` });
    const frames: string[] = [];
    socket.on('message', (data) => frames.push(data.toString()));
    await new Promise((resolve) => socket.on('open', resolve));
    socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    await expect.poll(() => frames.join(), { timeout: 5000 }).toContain('connection_ack');
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { unreadCount { totalUnread } }' } }));
    await expect.poll(() => frames.join(), { timeout: 5000 }).toContain('UNAUTHENTICATED');
    socket.close();
  });

  it('a socket that never sends connection_init is closed (4408)', async () => {
    expect(await closeOf(t.app.wsUrl(), undefined, false)).toMatchObject({ code: 4408 });
  });
});
