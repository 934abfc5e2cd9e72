import type { Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { onQuery } from '../src/db.js';
import { createRedisBus } from '../src/events/bus.js';
import { createRedisPresence, presenceKeys } from '../src/events/presence.js';
import { openConversation } from './support/fixtures.js';
import { useTestApp, type TestUser } from './support/app.js';
import { REDIS_URL } from './support/redis.js';
import { liveTopics, metric, subscribe, untilLive, wsClient } from './support/ws.js';

// A grace period far longer than any wait below: whatever a stop releases, it releases at once.
// The crash clean-up keeps its 30 s default, so it cannot be what releases a stopped instance's users.
const presence = { graceMs: 60_000 };
const t = useTestApp({ REDIS_URL }, { app: { presence } });

let salon: TestUser;
const redis = new Redis(REDIS_URL);
const sockets: Client[] = [];
const extraApps: App[] = [];
const stopped = new Set<App>();

/** Another instance of the API on the same database (and Redis, when the config has it). */
async function startInstance(overrides: { redisUrl?: undefined } = {}): Promise<App> {
  const app = buildApp({ ...t.config, ...overrides, databaseUrl: t.databaseUrl }, { presence });
  extraApps.push(app);
  await app.start(0);
  return app;
}

async function stop(app: App) {
  stopped.add(app);
  await app.stop();
}

function connect(user: TestUser, app: App) {
  const ws = wsClient(app.wsUrl(), { token: user.token });
  sockets.push(ws);
  return ws;
}

async function contact(name: string) {
  const user = await t.user('CLIENT', name);
  await openConversation(t, salon, user);
  return user;
}

/** `User.online` of the viewer's contacts, read on the first instance. */
async function onlineAsSeenBy(viewer: TestUser): Promise<Map<string, boolean>> {
  const response = await t.gql<{ conversations: { edges: { node: { client: { id: string; online: boolean } } }[] } }>(
    '{ conversations(first: 100) { edges { node { client { id online } } } } }',
    {},
    viewer.token,
  );
  return new Map(response.data!.conversations.edges.map((e) => [e.node.client.id, e.node.client.online]));
}

const openSockets = (app: App) => metric(app.url(), 'salon_ws_open_sockets');

/** Every key that names the instance, and every user hash that still has a field for it. */
async function tracesOf(instanceId: string, userIds: string[]): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `*${instanceId}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  for (const id of userIds) if ((await redis.hexists(presenceKeys.user(id), instanceId)) === 1) keys.push(`presence:user:${id} → ${instanceId}`);
  if ((await redis.zscore(presenceKeys.instances, instanceId)) !== null) keys.push(`presence:instances → ${instanceId}`);
  return keys;
}

beforeAll(async () => {
  salon = await t.user('SALON');
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  for (const app of extraApps) if (!stopped.has(app)) await app.stop();
  redis.disconnect();
});

describe('an instance that stops', () => {
  it('releases at once every user it holds, connected or within the grace period, and leaves nothing in Redis', async () => {
    const a = t.app;
    const b = await startInstance();
    const connected = await contact('Connected');
    const leaving = await contact('Leaving');
    const roaming = await contact('Roaming');

    const before = await liveTopics(a);
    const watch = subscribe<{ presence: { user: { id: string }; online: boolean } }>(connect(salon, a), 'subscription { presence { user { id } online } }');
    await untilLive(a, before, 1);
    connect(connected, b);
    const leavingTab = connect(leaving, b);
    connect(roaming, b);
    connect(roaming, a);
    await watch.waitFor(3);
    expect(watch.events.map((e) => e.presence)).toEqual(
      expect.arrayContaining([
        { user: { id: connected.id }, online: true },
        { user: { id: leaving.id }, online: true },
        { user: { id: roaming.id }, online: true },
      ]),
    );
    const bId = Object.keys(await redis.hgetall(presenceKeys.user(connected.id)))[0]!;
    await expect.poll(async () => Object.keys(await redis.hgetall(presenceKeys.user(roaming.id))).length).toBe(2);

    // `leaving` closes its tab: B now holds it only for the grace period.
    const socketsOnB = await openSockets(b);
    await leavingTab.dispose();
    await expect.poll(() => openSockets(b)).toBe(socketsOnB - 1);
    expect((await onlineAsSeenBy(salon)).get(leaving.id)).toBe(true);

    const offlineStatements: string[] = [];
    const stopCounting = onQuery((sql) => void (sql.startsWith('/* background: presence offline */') && offlineStatements.push(sql)));
    await stop(b);
    stopCounting();
    // Both in one statement: an instance holding 5,000 users overran its 10 s shutdown budget
    // with one statement each (bench:fanout).
    expect(offlineStatements).toHaveLength(1);

    const offline = (await watch.waitFor(5)).slice(3).map((e) => e.presence);
    expect(offline).toEqual(
      expect.arrayContaining([
        { user: { id: connected.id }, online: false },
        { user: { id: leaving.id }, online: false },
      ]),
    );
    const online = await onlineAsSeenBy(salon);
    expect(online.get(connected.id)).toBe(false);
    expect(online.get(leaving.id)).toBe(false);
    // Still connected to A: no offline, still online.
    expect(online.get(roaming.id)).toBe(true);
    expect(watch.events.filter((e) => e.presence.user.id === roaming.id).map((e) => e.presence.online)).toEqual([true]);

    expect(await redis.exists(presenceKeys.user(connected.id), presenceKeys.user(leaving.id))).toBe(0);
    expect(await tracesOf(bId, [connected.id, leaving.id, roaming.id])).toEqual([]);
    watch.dispose();
  });

  it('is listed for the crash clean-up from its start, and unlisted by its stop', async () => {
    // The default heartbeat period (10 s) is far beyond the poll: only the first beat can list it.
    const bus = createRedisBus(REDIS_URL);
    const instance = createRedisPresence(bus, bus.redis!);
    try {
      await expect.poll(() => redis.zscore(presenceKeys.instances, instance.instanceId), { timeout: 3000 }).not.toBeNull();
    } finally {
      await instance.close();
      await bus.close();
    }
    expect(await tracesOf(instance.instanceId, [])).toEqual([]);
  });

  it('without Redis, records the last seen time of the users it held when it stops', async () => {
    const local = await startInstance({ redisUrl: undefined });
    const user = await contact('Local');
    const seen = () => t.sql<{ lastSeenAt: Date | null }>('SELECT "lastSeenAt" FROM "User" WHERE id = $1', [user.id]);
    connect(user, local);
    await expect.poll(() => openSockets(local)).toBe(1);
    const stoppedAt = Date.now();
    await stop(local);
    // Stamped by the stop itself: the 60 s grace period would otherwise never have ended.
    const [after] = await seen();
    expect(after?.lastSeenAt?.getTime()).toBeGreaterThanOrEqual(stoppedAt);
  });
});
