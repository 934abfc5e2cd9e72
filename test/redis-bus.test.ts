import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBus } from '../src/events/bus.js';
import { topics } from '../src/events/topics.js';
import { privateRedis } from './support/redis.js';

/**
 * A server shutting down while Redis is unreachable: the subscriber commands still waiting then
 * fail with "Connection is closed." Unhandled, such a rejection ends a Node process (and failed a
 * run of the suite, from test/redis-outage.test.ts). Redis here goes silent rather than away: a
 * peer that accepts connections on its port and never answers, as a partitioned or frozen
 * server, so that the commands are on the wire, waiting, when the bus closes.
 */

const redis = await privateRedis();
beforeAll(redis.start);
afterAll(redis.kill);

const unhandled: unknown[] = [];
const noteUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => process.on('unhandledRejection', noteUnhandled));
afterAll(() => process.off('unhandledRejection', noteUnhandled));

describe('publishing several wake-ups at once (publishAll: one write)', () => {
  it('delivers each payload to its own topic only, dates as Dates, and settles each entry', async () => {
    const bus = createRedisBus(redis.url);
    try {
      const [salon, client, bystander] = [randomUUID(), randomUUID(), randomUUID()];
      const topicsOf = [topics.presence(salon), topics.presence(client), topics.presence(bystander)];
      const [toSalon, toClient, toBystander] = await Promise.all(topicsOf.map((topic) => bus.subscribe(topic)));
      const lastSeenAt = new Date('2026-12-05T10:00:00.000Z');
      const settled = await bus.publishAll([
        [topicsOf[0]!, { userId: client, online: true, lastSeenAt }],
        [topicsOf[1]!, { userId: salon, online: false, lastSeenAt: null }],
      ]);
      expect(settled).toEqual([
        { status: 'fulfilled', value: undefined },
        { status: 'fulfilled', value: undefined },
      ]);
      expect((await toSalon!.next()).value).toEqual({ userId: client, online: true, lastSeenAt });
      expect((await toClient!.next()).value).toEqual({ userId: salon, online: false, lastSeenAt: null });
      // Nothing went to the third topic: a publish on it now is the first thing it receives.
      await bus.publish(topicsOf[2]!, { userId: salon, online: true, lastSeenAt: null });
      expect((await toBystander!.next()).value).toEqual({ userId: salon, online: true, lastSeenAt: null });
      await Promise.all([toSalon, toClient, toBystander].map((iterator) => iterator!.return?.()));
    } finally {
      await bus.close();
    }
  });
});

describe('a publication reaching the subscribers of its own instance and of the others', () => {
  it('each gets it once, alike (through JSON, dates revived); its own instance without Redis in between', async () => {
    const [here, there] = [createRedisBus(redis.url), createRedisBus(redis.url)];
    try {
      const topic = topics.presence(randomUUID());
      const [local, remote] = await Promise.all([here.subscribe(topic), there.subscribe(topic)]);
      const lastSeenAt = new Date('2026-12-05T10:00:00.000Z');
      await here.publish(topic, { userId: 'u1', online: false, lastSeenAt });
      // Alike, and without the key that names the publishing instance on the wire.
      expect((await local.next()).value).toEqual({ userId: 'u1', online: false, lastSeenAt });
      expect((await remote.next()).value).toEqual({ userId: 'u1', online: false, lastSeenAt });
      // Redis relays in order on each subscriber connection: had an instance's own copy come back
      // to it undropped, it would be received before the next publication of the other.
      await there.publish(topic, { userId: 'u2', online: true, lastSeenAt: null });
      expect((await local.next()).value).toMatchObject({ userId: 'u2' });
      expect((await remote.next()).value).toMatchObject({ userId: 'u2' });
      await here.publish(topic, { userId: 'u2b', online: true, lastSeenAt: null });
      expect((await local.next()).value).toMatchObject({ userId: 'u2b' });
      expect((await remote.next()).value).toMatchObject({ userId: 'u2b' });
      // Redis away: the instance's own subscribers still get what it publishes (the other
      // instances' do not: on event topics they catch up from the log), and the publish still
      // reports its failure.
      await redis.kill();
      let third: unknown;
      void local.next().then((result) => (third = result.value));
      await expect(here.publish(topic, { userId: 'u3', online: true, lastSeenAt: null })).rejects.toThrow();
      await expect.poll(() => third).toMatchObject({ userId: 'u3' });
      await Promise.all([local.return?.(), remote.return?.()]);
    } finally {
      await Promise.all([here.close(), there.close()]);
      await redis.start();
    }
  });
});

describe('the Redis bus closing while Redis does not answer', () => {
  it('ends its subscriptions and closes without an unhandled rejection', async () => {
    const bus = createRedisBus(redis.url);
    const first = await bus.subscribe(topics.userEvents(randomUUID()));
    const second = await bus.subscribe(topics.userEvents(randomUUID()));

    await redis.kill();
    const connections: Socket[] = [];
    const silent = createServer((socket) => connections.push(socket.resume()));
    await new Promise<void>((resolve) => silent.listen(Number(new URL(redis.url).port), '127.0.0.1', resolve));
    try {
      // Both connections back, to a Redis that reads and never answers: the subscriber's
      // SUBSCRIBEs of its channels again (ioredis) wait for an answer, sent or queued.
      await expect.poll(() => connections.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      // The topics' last subscriptions end: an UNSUBSCRIBE each, also waiting.
      await first.return?.();
      await second.return?.();
      await bus.close();
      await expect.poll(() => connections.every((socket) => socket.readableEnded || socket.destroyed)).toBe(true);
      // A rejection is reported as unhandled once the turn it happened in is over.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      for (const socket of connections) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

// Last: the test above has killed this file's Redis, so nothing listens on its port.
describe('publishAll while Redis is away', () => {
  it('fails every entry, without throwing, while Redis is away', async () => {
    const bus = createRedisBus(redis.url);
    try {
      const entries = [randomUUID(), randomUUID()].map((userId) => [topics.presence(userId), { userId, online: true, lastSeenAt: null }] as const);
      // The publisher fails fast while disconnected (no offline queue): each entry is rejected.
      await expect.poll(async () => (await bus.publishAll(entries)).map((result) => result.status)).toEqual(['rejected', 'rejected']);
    } finally {
      await bus.close();
    }
  });
});
