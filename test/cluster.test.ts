import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp, type TestUser } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';
import { Redis } from 'ioredis';
import { presenceKeys } from '../src/events/presence.js';
import { privateRedis } from './support/redis.js';
import { liveTopics, sleep, subscribe, untilLive, wsClient } from './support/ws.js';

// A redis-server of this file's own: these instances count another as dead after 1.5 s without a
// heartbeat, and on the shared Redis they reaped the live instances of the files running beside
// them (which beat every 10 s), whose users then looked offline (test/notifications failed so).
const { url: REDIS_URL, start: startRedis, kill: stopRedis } = await privateRedis();
beforeAll(startRedis);

// Two instances of the API sharing one PostgreSQL and one Redis, as behind a load balancer.
const t = useTestApp(
  { REDIS_URL, TYPING_TTL_S: '1' },
  { instances: 2, app: { presence: { graceMs: 200, heartbeatMs: 200, instanceTtlMs: 1500 } } },
);
afterAll(stopRedis);

let salon: TestUser;
let client: TestUser;
let conversationId: string;
const sockets: Client[] = [];

function connect(user: TestUser, instance: number) {
  const ws = wsClient(t.apps[instance]!.wsUrl(), { authorization: `Bearer ${user.token}` });
  sockets.push(ws);
  return ws;
}

beforeAll(async () => {
  salon = await t.user('SALON');
  client = await t.user('CLIENT');
  conversationId = await openConversation(t, salon, client);
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
});

describe('two instances sharing Redis', () => {
  it('every event caused on instance A reaches subscribers on instance B', async () => {
    const salonB = connect(salon, 1);
    const clientB = connect(client, 1);
    const before = await liveTopics(t.apps[1]!);
    const added = subscribe<{ messageAdded: { content: string } }>(salonB, 'subscription($id: ID) { messageAdded(conversationId: $id) { content } }', { id: conversationId });
    const reads = subscribe<{ messageRead: { messageIds: string[] } }>(salonB, 'subscription { messageRead { messageIds } }');
    const deletions = subscribe<{ messageDeleted: { messageId: string } }>(clientB, 'subscription { messageDeleted { messageId } }');
    const counts = subscribe<{ unreadCount: { conversationUnread: number } }>(clientB, 'subscription { unreadCount { conversationUnread } }');
    const updates = subscribe<{ conversationUpdated: { id: string } }>(clientB, 'subscription { conversationUpdated { id } }');
    const typing = subscribe<{ typing: { isTyping: boolean } }>(clientB, 'subscription($id: ID!) { typing(conversationId: $id) { isTyping } }', { id: conversationId });
    await untilLive(t.apps[1]!, before, 6);

    const fromClient = await t.gql<{ sendMessage: { id: string } }>(
      'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
      { input: { conversationId, content: 'across instances' } },
      client.token,
      0,
    );
    expect((await added.waitFor(1))[0]?.messageAdded.content).toBe('across instances');

    await t.gql('mutation($id: ID!) { markMessageRead(id: $id) { id } }', { id: fromClient.data!.sendMessage.id }, salon.token, 0);
    const fromSalon = await send(t, salon, conversationId, 'to be deleted');
    await t.gql('mutation($id: ID!) { deleteMessage(id: $id) }', { id: fromSalon.id }, salon.token, 0);
    await t.gql('mutation($id: ID!) { setTyping(conversationId: $id, isTyping: true) }', { id: conversationId }, salon.token, 0);

    expect((await reads.waitFor(1))[0]?.messageRead.messageIds).toEqual([fromClient.data!.sendMessage.id]);
    expect((await deletions.waitFor(1))[0]?.messageDeleted.messageId).toBe(fromSalon.id);
    expect((await counts.waitFor(2)).map((e) => e.unreadCount.conversationUnread)).toEqual([1, 0]);
    expect((await updates.waitFor(1))[0]?.conversationUpdated.id).toBe(conversationId);
    expect((await typing.waitFor(2, 4000)).map((e) => e.typing.isTyping)).toEqual([true, false]);
    for (const s of [added, reads, deletions, counts, updates, typing]) s.dispose();
  });

  it('presence spans instances: tabs on both count once, offline only after the last closes', async () => {
    const other = await t.user('CLIENT', 'Roaming');
    await openConversation(t, salon, other);
    const before = await liveTopics(t.apps[1]!);
    const watch = subscribe<{ presence: { user: { id: string }; online: boolean } }>(connect(salon, 1), 'subscription { presence { user { id } online } }');
    await untilLive(t.apps[1]!, before, 1);
    // The stream starts with the salon's contacts online now (other tests' users): follow `other` only.
    const ofOther = () => watch.events.map((event) => event.presence).filter((presence) => presence.user.id === other.id);
    const onA = wsClient(t.apps[0]!.wsUrl(), { token: other.token });
    const onB = wsClient(t.apps[1]!.wsUrl(), { token: other.token });
    await expect.poll(ofOther).toEqual([{ user: { id: other.id }, online: true }]);
    const read = await t.gql<{ me: { id: string } }>('{ me { id } }', {}, other.token, 1);
    expect(read.data?.me.id).toBe(other.id);
    const online = await t.gql<{ conversations: { edges: { node: { client: { id: string; online: boolean } } }[] } }>(
      '{ conversations { edges { node { client { id online } } } } }',
      {},
      salon.token,
      0,
    );
    expect(online.data?.conversations.edges.find((e) => e.node.client.id === other.id)?.node.client.online).toBe(true);
    await onA.dispose();
    await sleep(600);
    expect(ofOther()).toHaveLength(1);
    await onB.dispose();
    await expect.poll(ofOther).toEqual([
      { user: { id: other.id }, online: true },
      { user: { id: other.id }, online: false },
    ]);
    watch.dispose();
  });

  it('the users of an instance that died without cleanup go offline once its heartbeat is stale', async () => {
    const other = await t.user('CLIENT', 'Crashed');
    await openConversation(t, salon, other);
    const before = await liveTopics(t.apps[0]!);
    const watch = subscribe<{ presence: { user: { id: string }; online: boolean } }>(connect(salon, 0), 'subscription { presence { user { id } online } }');
    await untilLive(t.apps[0]!, before, 1);
    // What a crashed instance leaves behind: its users' entries and a heartbeat that stopped.
    const redis = new Redis(REDIS_URL);
    const dead = `crashed-${other.id}`;
    // Its last heartbeat recent at first: every instance counts its users online until the
    // heartbeat is stale. Listed before its users are, so that no instance starting meanwhile
    // adopts it as an unlisted one (stale at once).
    await redis.zadd(presenceKeys.instances, Date.now(), dead);
    await redis.hset(presenceKeys.user(other.id), dead, '1');
    await redis.sadd(presenceKeys.instanceUsers(dead), other.id);
    const online = await t.gql<{ conversations: { edges: { node: { client: { id: string; online: boolean } } }[] } }>(
      '{ conversations(first: 100) { edges { node { client { id online } } } } }',
      {},
      salon.token,
    );
    expect(online.data?.conversations.edges.find((e) => e.node.client.id === other.id)?.node.client.online).toBe(true);
    // Then it stops: 5 s without a beat, stale for this file's instances (instanceTtlMs 1,500).
    // Whichever instance reaps a dead one announces its users to their contacts in its own
    // database: on the shared Redis, another file's instance won the reap once and announced
    // `other` to nobody here; this file's own Redis keeps the reap among these instances.
    await redis.zadd(presenceKeys.instances, Date.now() - 5_000, dead);
    // Whether the stream's initial state saw the leftover entries depends on timing; the release is what counts.
    await expect.poll(() => watch.events.map((event) => event.presence)).toContainEqual({ user: { id: other.id }, online: false });
    // The reaper announces each user, then forgets the instance: the last step may still be running.
    await expect.poll(() => redis.hlen(presenceKeys.user(other.id))).toBe(0);
    await expect.poll(() => redis.zscore(presenceKeys.instances, dead)).toBeNull();
    redis.disconnect();
    watch.dispose();
  });

  it('resume with `after` is gapless and duplicate-free while sends race the resubscription (20 rounds)', async () => {
    let last = await send(t, client, conversationId, 'anchor');
    for (let round = 0; round < 20; round++) {
      const senders = Array.from({ length: 4 }, (_, i) => send(t, i % 2 ? salon : client, conversationId, `r${round}-${i}`));
      const ws = connect(salon, round % 2);
      const resumed = subscribe<{ messageAdded: { id: string; seq: number } }>(
        ws,
        'subscription($id: ID, $after: ID) { messageAdded(conversationId: $id, after: $after) { id seq } }',
        { id: conversationId, after: last.id },
      );
      const more = Array.from({ length: 3 }, (_, i) => send(t, client, conversationId, `r${round}-late-${i}`));
      const sent = await Promise.all([...senders, ...more]);
      const highest = Math.max(...sent.map((m) => m.seq));
      const expected = highest - last.seq;
      const events = await resumed.waitFor(expected);
      await sleep(50);
      const seqs = resumed.events.map((e) => e.messageAdded.seq);
      expect(seqs).toEqual(Array.from({ length: expected }, (_, i) => last.seq + 1 + i));
      resumed.dispose();
      await ws.dispose();
      const newest = events[events.length - 1]!.messageAdded;
      last = { id: newest.id, seq: newest.seq };
    }
  });
});
