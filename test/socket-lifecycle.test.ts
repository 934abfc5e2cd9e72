import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OnMessageAddedDocument, OnPresenceDocument, OnUnreadCountDocument } from '../operations/generated/graphql.js';
import { presenceKeys } from '../src/events/presence.js';
import { signToken, useTestApp, type TestUser } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';
import { REDIS_URL } from './support/redis.js';
import { connectTab, metric, rawSocket, subscribe, wsClient, type Subscription } from './support/ws.js';

const PING_MS = 1000;
const t = useTestApp({ REDIS_URL, WS_PING_INTERVAL_MS: String(PING_MS) }, { app: { presence: { graceMs: 200 } } });
let redis: Redis;
let salon: TestUser;
let salonPresence: Subscription<{ presence: { online: boolean; user: { id: string } } }>;
let baseline: { sockets: number; subscriptions: number };

const gauges = async () => ({
  sockets: await metric(t.app.url(), 'salon_ws_open_sockets'),
  subscriptions: await metric(t.app.url(), 'salon_active_subscriptions'),
});
/** Subscriptions that have reached their topic (src/events/bus.ts `liveSubscriptions`). */
const liveTopics = () => metric(t.app.url(), 'salon_live_topic_subscriptions');
/** Redis channels still subscribed for a user's topics (`user:<id>:…`). */
const channelsOf = (userId: string) => redis.pubsub('CHANNELS', `user:${userId}:*`) as Promise<string[]>;
const isOnline = async (user: TestUser) => {
  const response = await t.gql<{ conversations: { edges: { node: { client: { id: string; online: boolean } } }[] } }>(
    '{ conversations(first: 100) { edges { node { client { id online } } } } }',
    {},
    salon.token,
  );
  return response.data?.conversations.edges.find((edge) => edge.node.client.id === user.id)?.node.client.online;
};
const presenceOf = (user: TestUser) => salonPresence.events.filter((event) => event.presence.user.id === user.id).map((event) => event.presence.online);

/** A client who shares a conversation with the salon. */
async function newClient(name = 'Client') {
  const client = await t.user('CLIENT', name);
  const conversationId = await openConversation(t, salon, client);
  return { client, conversationId };
}

/** A tab of the client app: messageAdded and unreadCount running, each having delivered an event. */
async function openTab(client: TestUser, conversationId: string) {
  const before = await gauges();
  const topicsBefore = await liveTopics();
  const tab = await connectTab(t.app.wsUrl(), { authorization: `Bearer ${client.token}` });
  const messages = subscribe(tab.client, OnMessageAddedDocument, {});
  const unread = subscribe(tab.client, OnUnreadCountDocument);
  await expect.poll(gauges).toEqual({ sockets: before.sockets + 1, subscriptions: before.subscriptions + 2 });
  // Both follow the user's event log: one Redis channel, whatever the number of subscriptions.
  await expect.poll(() => channelsOf(client.id)).toEqual([`user:${client.id}:events`]);
  // Counted is not started: a subscription with no cursor starts at the log's position when it
  // reaches its topic, and a message committed before that is, rightly, not its to deliver. The
  // channel above proves it only for the user's first tab (a second finds it subscribed already).
  await expect.poll(liveTopics).toBe(topicsBefore + 2);
  await send(t, salon, conversationId, `hello ${randomUUID()}`);
  await Promise.all([messages.waitFor(1), unread.waitFor(1)]);
  return { ...tab, messages, unread };
}

beforeAll(async () => {
  redis = new Redis(REDIS_URL);
  salon = await t.user('SALON', 'Atelier');
  salonPresence = subscribe(wsClient(t.app.wsUrl(), { authorization: `Bearer ${salon.token}` }), OnPresenceDocument);
  // Not vi.waitFor's default 1 s: on a loaded machine the subscription took longer to start (seen failing here).
  baseline = await vi.waitFor(async () => {
    const now = await gauges();
    if (now.subscriptions !== 1) throw new Error('the salon\'s presence subscription is not running yet');
    return now;
  }, { timeout: 15_000, interval: 50 });
});

afterAll(() => redis?.disconnect());

describe('a socket that ends for any reason ends its subscriptions and presence at once', () => {
  it('two tabs cut mid-stream at TCP level (reset, terminate): offline announced, gauges and Redis channels back', async () => {
    const { client, conversationId } = await newClient('Nina');
    const first = await openTab(client, conversationId);
    const second = await openTab(client, conversationId);
    await expect.poll(() => presenceOf(client)).toEqual([true]);
    expect(await gauges()).toEqual({ sockets: baseline.sockets + 2, subscriptions: baseline.subscriptions + 4 });
    expect(await isOnline(client)).toBe(true);

    // No close frame, no `complete`: the kernel answers with a reset, as when a laptop sleeps.
    first.socket.tcp!.resetAndDestroy();
    await expect.poll(gauges).toEqual({ sockets: baseline.sockets + 1, subscriptions: baseline.subscriptions + 2 });
    expect(presenceOf(client)).toEqual([true]);
    second.socket.terminate();

    await expect.poll(() => presenceOf(client), { timeout: 10_000 }).toEqual([true, false]);
    expect(await isOnline(client)).toBe(false);
    expect(await gauges()).toEqual(baseline);
    expect(await channelsOf(client.id)).toEqual([]);
  });

  it('a close frame with no `complete` (a closed tab): the same', async () => {
    const { client, conversationId } = await newClient('Lina');
    const tab = await openTab(client, conversationId);
    await expect.poll(() => presenceOf(client)).toEqual([true]);
    tab.socket.close(1001, 'tab closed');

    await expect.poll(() => presenceOf(client), { timeout: 10_000 }).toEqual([true, false]);
    expect(await isOnline(client)).toBe(false);
    expect(await gauges()).toEqual(baseline);
    expect(await channelsOf(client.id)).toEqual([]);
  });

  it('a client completing one subscription ends it at once while the other keeps running', async () => {
    const { client, conversationId } = await newClient('Emma');
    const tab = await openTab(client, conversationId);
    tab.unread.dispose();
    await expect.poll(gauges).toEqual({ sockets: baseline.sockets + 1, subscriptions: baseline.subscriptions + 1 });
    await expect.poll(gauges).toEqual({ sockets: baseline.sockets + 1, subscriptions: baseline.subscriptions + 1 });
    expect(await channelsOf(client.id)).toEqual([`user:${client.id}:events`]);
    await send(t, salon, conversationId, 'still there?');
    await tab.messages.waitFor(2);
    tab.client.dispose();
    await expect.poll(gauges).toEqual(baseline);
  });

  it('600 sockets opened and dropped in three rounds leave nothing counted', async () => {
    const users = await Promise.all(Array.from({ length: 10 }, (_, i) => newClient(`Round${i}`)));
    for (let round = 0; round < 3; round++) {
      const sockets = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const { client } = users[i % users.length]!;
          const raw = await rawSocket(t.app.wsUrl(), { authorization: `Bearer ${client.token}` });
          raw.subscribe('1', 'subscription { messageAdded { id } }');
          raw.subscribe('2', 'subscription { unreadCount { totalUnread } }');
          return raw;
        }),
      );
      await expect.poll(gauges, { timeout: 15_000 }).toEqual({ sockets: baseline.sockets + 200, subscriptions: baseline.subscriptions + 400 });
      // Half leave with a close frame, half vanish; none says `complete`.
      sockets.forEach((raw, i) => (i % 2 === 0 ? raw.socket.close(1000) : raw.socket.terminate()));
      await expect.poll(gauges, { timeout: 15_000 }).toEqual(baseline);
    }
    for (const { client } of users) {
      await expect.poll(() => isOnline(client), { timeout: 10_000 }).toBe(false);
      expect(await channelsOf(client.id)).toEqual([]);
    }
  });

  it('a socket closed while its connection_init is processed leaves no one online or counted', async () => {
    // A user the server has never seen: connection_init waits on the just-in-time user insert,
    // held here behind a lock on the table until the socket is gone.
    const id = randomUUID();
    const token = await signToken({ sub: id, email: `late-${id.slice(0, 8)}@example.test`, role: 'client' });
    const locker = new pg.Client({ connectionString: t.databaseUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE "User" IN ACCESS EXCLUSIVE MODE');
      const socket = new WebSocket(t.app.wsUrl(), 'graphql-transport-ws');
      await new Promise((resolve) => (socket.onopen = resolve));
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
      const blocked = async () =>
        (await locker.query<{ count: number }>(`SELECT count(*)::int AS count FROM pg_locks WHERE relation = '"User"'::regclass AND NOT granted`)).rows[0]!.count;
      await expect.poll(blocked).toBeGreaterThan(0);
      socket.close(1000);
      await new Promise((resolve) => (socket.onclose = resolve));
      await locker.query('COMMIT');
    } finally {
      await locker.end();
    }
    await expect.poll(async () => (await t.sql('SELECT id FROM "User" WHERE id = $1', [id])).length).toBe(1);
    expect(await gauges()).toEqual(baseline);
    expect(await redis.hlen(presenceKeys.user(id))).toBe(0);
    await expect.poll(gauges).toEqual(baseline);
  });
});

describe('pings', () => {
  it('a socket that stops answering pings is dropped, a live one is kept', async () => {
    const { client, conversationId } = await newClient('Mute');
    const live = await openTab(client, conversationId);
    let pings = 0;
    live.socket.on('ping', () => pings++);

    const mute = await rawSocket(t.app.wsUrl(), { authorization: `Bearer ${client.token}` }, { autoPong: false });
    mute.subscribe('1', 'subscription { messageAdded { id } }');
    await expect.poll(gauges).toEqual({ sockets: baseline.sockets + 2, subscriptions: baseline.subscriptions + 3 });

    // Dropped without a close frame (1006), within two intervals.
    expect(await mute.closed).toBe(1006);
    await expect.poll(gauges).toEqual({ sockets: baseline.sockets + 1, subscriptions: baseline.subscriptions + 2 });
    await expect.poll(() => pings, { timeout: 3 * PING_MS }).toBeGreaterThanOrEqual(2);
    expect(live.socket.readyState).toBe(WebSocket.OPEN);
    live.client.dispose();
    await expect.poll(gauges).toEqual(baseline);
  });
});
