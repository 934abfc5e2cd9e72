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
