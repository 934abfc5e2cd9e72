/**
 * Two API instances on a Redis Cluster (REDIS_CLUSTER_NODES) that this file starts on loopback:
 * three redis-server processes in cluster mode, one master each, no replica. Wake-ups, typing and
 * presence travel through sharded pub/sub (SPUBLISH/SSUBSCRIBE); presence, typing deadlines, rate
 * limits and persisted queries are plain keys; presence's, which its scripts and pipelines touch
 * together, share one hash tag.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  OnEventsDocument,
  OnMessageAddedDocument,
  OnPresenceDocument,
  OnTypingDocument,
  SendMessageDocument,
  SetTypingDocument,
  type SendMessageMutation,
} from '../operations/generated/graphql.js';
import { presenceKeys } from '../src/events/presence.js';
import { topics } from '../src/events/topics.js';
import { freePort } from '../src/ports.js';
import { useTestApp, type TestUser } from './support/app.js';
import { codes, openConversation, postJson } from './support/fixtures.js';
import { killRedisServer, spawnRedisServer } from './support/redis.js';
import { liveTopics, subscribe, untilLive, wsClient } from './support/ws.js';

// ---------------------------------------------------------------------------------------------
// The cluster: three masters on free ports, their files in a temporary folder.

interface Node {
  port: number;
  args: string[];
  process?: ChildProcess;
  /** A plain connection to this node alone (no redirection): what lives on this node. */
  client?: Redis;
}

async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

const dir = mkdtempSync(join(tmpdir(), 'salon-redis-cluster-'));
// Every node asks for it: the API must pass the seeds' credentials on to the nodes it discovers.
const PASSWORD = 'cluster-test-password';
// Each node's client port, and its cluster bus port (by default the client port + 10000, which
// nothing guarantees free).
const ports = await freePorts(6);
const nodes: Node[] = [0, 1, 2].map((i) => ({
  port: ports[i]!,
  args: [
    ...['--port', String(ports[i]), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', PASSWORD, '--masterauth', PASSWORD],
    ...['--cluster-enabled', 'yes', '--cluster-port', String(ports[i + 3]), '--cluster-config-file', `nodes-${ports[i]}.conf`],
    // The other shards keep serving while one is down (the failure test below).
    ...['--cluster-node-timeout', '2000', '--cluster-require-full-coverage', 'no'],
  ],
}));

/** Starts one node and resolves once it accepts connections. A missing binary fails the file (CI too). */
async function startNode(node: Node): Promise<void> {
  node.process = await spawnRedisServer(node.args, dir);
}

/** SIGKILL: the shard goes away as a crashed server does. */
async function killNode(node: Node): Promise<void> {
  const child = node.process;
  node.process = undefined;
  await killRedisServer(child);
}

const clusterInfo = async (node: Node) => String(await node.client!.call('CLUSTER', 'INFO'));

async function startCluster(): Promise<void> {
  await Promise.all(nodes.map(startNode));
  for (const node of nodes) {
    node.client = new Redis(node.port, '127.0.0.1', { password: PASSWORD });
    // It reconnects by itself after the failure test restarts its node.
    node.client.on('error', () => {});
  }
  await promisify(execFile)('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '0', '--cluster-yes', '-a', PASSWORD, '--no-auth-warning']);
  // A hook, not a test: expect.poll is not available here.
  for (const node of nodes) await vi.waitFor(async () => expect(await clusterInfo(node)).toContain('cluster_state:ok'), { timeout: 10_000, interval: 50 });
}

async function stopCluster(): Promise<void> {
  for (const node of nodes) node.client?.disconnect();
  await Promise.all(nodes.map(killNode));
  rmSync(dir, { recursive: true, force: true });
}

/** The node that owns a key's (or a sharded channel's) slot. */
async function ownerOf(key: string): Promise<Node> {
  const slot = Number(await nodes[0]!.client!.call('CLUSTER', 'KEYSLOT', key));
  const ranges = (await nodes[0]!.client!.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
  const port = ranges.find(([start, end]) => slot >= start && slot <= end)?.[2][1];
  const owner = nodes.find((node) => node.port === port);
  if (!owner) throw new Error(`no node owns slot ${slot} of ${key}`);
  return owner;
}

/** Subscribers of a sharded channel on one node (PUBSUB SHARDNUMSUB is per node). */
const shardSubscribers = async (node: Node, channel: string) => Number(((await node.client!.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number])[1]);

// Registered before the app's hooks, so the cluster starts before the instances and stops after them.
beforeAll(startCluster);
afterAll(stopCluster);

// Two seeds of three: the third node is discovered (and needs the password too). EVENT_POLL_MS is long, so what arrives after
// a shard came back was read because of the reconnection, not by the periodic check.
const t = useTestApp(
  {
    REDIS_CLUSTER_NODES: `redis://:${PASSWORD}@127.0.0.1:${nodes[0]!.port},redis://:${PASSWORD}@127.0.0.1:${nodes[1]!.port}`,
    TYPING_TTL_S: '1',
    EVENT_POLL_MS: '60000',
    RATE_LIMIT_SENDS_PER_MIN: '3',
  },
  { instances: 2, app: { presence: { graceMs: 200 } } },
);

// ---------------------------------------------------------------------------------------------

const sockets: Client[] = [];
function connect(user: TestUser, instance: number) {
  const ws = wsClient(t.apps[instance]!.wsUrl(), { authorization: `Bearer ${user.token}` });
  sockets.push(ws);
  return ws;
}
afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.dispose()));
});

const sendOn = (instance: number, user: TestUser, conversationId: string, content: string) =>
  t.gql<SendMessageMutation>(print(SendMessageDocument), { input: { conversationId, content } }, user.token, instance);

describe('on a Redis Cluster with sharded pub/sub', () => {
  it('a message sent on one instance reaches `events` and `messageAdded` subscribers on the other; typing too', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const onB = connect(client, 1);
    const before = await liveTopics(t.apps[1]!);
    const events = subscribe(onB, OnEventsDocument);
    const added = subscribe(onB, OnMessageAddedDocument, { conversationId });
    const typing = subscribe(onB, OnTypingDocument, { conversationId });
    await untilLive(t.apps[1]!, before, 3);

    const sent = await sendOn(0, salon, conversationId, 'through a shard');
    expect(codes(sent)).toEqual([]);
    expect((await added.waitFor(1))[0]?.messageAdded.content).toBe('through a shard');
    await expect.poll(() => events.events.map((e) => e.events.payload.__typename)).toContain('MessageAddedEvent');

    await t.gql(print(SetTypingDocument), { conversationId, isTyping: true }, salon.token, 0);
    expect((await typing.waitFor(2)).map((e) => [e.typing.user.id, e.typing.isTyping])).toEqual([
      [salon.id, true],
      [salon.id, false],
    ]);
    for (const s of [events, added, typing]) s.dispose();
  });

  it('presence crosses instances, its keys together on the node that owns `{presence}`', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    await openConversation(t, salon, client);
    const before = await liveTopics(t.apps[0]!);
    const watch = subscribe(connect(salon, 0), OnPresenceDocument);
    await untilLive(t.apps[0]!, before, 1);
    const ofClient = () => watch.events.filter((e) => e.presence.user.id === client.id).map((e) => e.presence.online);

    const tab = wsClient(t.apps[1]!.wsUrl(), { token: client.token });
    await expect.poll(ofClient).toEqual([true]);
    const home = await ownerOf(presenceKeys.instances);
    for (const key of [presenceKeys.user(client.id), presenceKeys.instances]) expect(await ownerOf(key)).toBe(home);
    // Read on that node alone: a key elsewhere would be MOVED, not read.
    expect(await home.client!.hlen(presenceKeys.user(client.id))).toBe(1);
    expect(await home.client!.zcard(presenceKeys.instances)).toBe(2);

    await tab.dispose();
    await expect.poll(ofClient).toEqual([true, false]);
    expect(await home.client!.exists(presenceKeys.user(client.id))).toBe(0);
    watch.dispose();
  });

  it('a rate limit counts across instances', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    // Windows are calendar minutes: start well inside one so the sends cannot straddle two.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 57_000) await new Promise((resolve) => setTimeout(resolve, 60_100 - intoMinute));
    const results = [];
    for (let i = 0; i < 4; i++) results.push(codes(await sendOn(i % 2, client, conversationId, `n${i}`)));
    expect(results).toEqual([[], [], [], ['RATE_LIMITED']]);
  });

  it('a persisted query registered on one instance runs by its hash on the other', async () => {
    const client = await t.user('CLIENT');
    const query = `query OnTheCluster${Date.now()} { me { id } }`;
    const sha256Hash = createHash('sha256').update(query).digest('hex');
    const extensions = { persistedQuery: { version: 1, sha256Hash } };
    expect((await postJson(t.apps[0]!.url(), { query, extensions }, client.token)).data).toEqual({ me: { id: client.id } });
    expect((await postJson(t.apps[1]!.url(), { extensions }, client.token)).data).toEqual({ me: { id: client.id } });
  });

  it('the sharded channels spread over the shards, each subscribed on the node that owns it only', async () => {
    // Clients until their event channels fall on two different shards (each lands on one of three).
    const clients: TestUser[] = [];
    const owners = new Set<Node>();
    while (owners.size < 2 && clients.length < 40) {
      const client = await t.user('CLIENT');
      clients.push(client);
      owners.add(await ownerOf(topics.userEvents(client.id)));
    }
    expect(owners.size).toBe(2);

    const streams = [];
    for (const instance of [0, 1]) {
      const before = await liveTopics(t.apps[instance]!);
      for (const client of clients) streams.push({ client, stream: subscribe(connect(client, instance), OnEventsDocument) });
      await untilLive(t.apps[instance]!, before, clients.length);
    }
    for (const client of clients) {
      const channel = topics.userEvents(client.id);
      const owner = await ownerOf(channel);
      // One SSUBSCRIBE per instance, on the owner; none anywhere else.
      for (const node of nodes) expect(await shardSubscribers(node, channel)).toBe(node === owner ? 2 : 0);
    }

    // A salon for each, so no sender reaches the rate limit of 3 sends a minute.
    for (const client of clients) {
      const salon = await t.user('SALON');
      expect(codes(await sendOn(0, salon, await openConversation(t, salon, client), `to ${client.id}`))).toEqual([]);
    }
    for (const { client, stream } of streams) {
      await expect.poll(() => stream.events.map((e) => e.events.payload)).toContainEqual(
        expect.objectContaining({ __typename: 'MessageAddedEvent', message: expect.objectContaining({ content: `to ${client.id}` }) }),
      );
      stream.dispose();
    }
  });

  it('a shard that crashes and comes back: its channels are subscribed again and what it missed is read from the log', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const channel = topics.userEvents(client.id);
    const shard = await ownerOf(channel);
    const before = await liveTopics(t.apps[1]!);
    const events = subscribe(connect(client, 1), OnEventsDocument);
    await untilLive(t.apps[1]!, before, 1);
    const contents = () => events.events.flatMap((e) => (e.events.payload.__typename === 'MessageAddedEvent' ? [e.events.payload.message.content] : []));

    await killNode(shard);
    // Committed in PostgreSQL; its wake-up to the dead shard is lost.
    expect(codes(await sendOn(0, salon, conversationId, 'while the shard was down'))).toEqual([]);
    await startNode(shard);
    await expect.poll(() => shardSubscribers(shard, channel)).toBe(1);
    await expect.poll(contents).toEqual(['while the shard was down']);

    expect(codes(await sendOn(0, salon, conversationId, 'after'))).toEqual([]);
    await expect.poll(contents).toEqual(['while the shard was down', 'after']);
    events.dispose();
  });
});
