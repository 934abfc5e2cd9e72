import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { db } from '../db.js';
import { logger } from '../logger.js';
import type { EventBus } from './bus.js';
import { topics } from './topics.js';

export interface Presence {
  /** A socket of this user opened on this instance. */
  connected(userId: string): Promise<void>;
  /** A socket of this user closed on this instance (offline follows after the grace period). */
  disconnected(userId: string): void;
  isOnline(userIds: readonly string[]): Promise<boolean[]>;
  close(): Promise<void>;
}

export interface PresenceOptions {
  /** A reload closes and reopens a socket within this time without an offline/online flap. */
  graceMs?: number;
  heartbeatMs?: number;
  /** An instance silent for this long is considered dead and its users are released. */
  instanceTtlMs?: number;
}

/** Tells everyone who shares a conversation with the user, and records lastSeenAt when leaving. */
async function announce(bus: EventBus, userId: string, online: boolean) {
  // One statement fetches the user's contacts (and stamps lastSeenAt when leaving).
  const select = {
    lastSeenAt: true,
    salonConversations: { select: { clientUserId: true } },
    clientConversations: { select: { salonId: true } },
  } as const;
  const user = online
    ? await db.user.findUnique({ where: { id: userId }, select })
    : await db.user.update({ where: { id: userId }, data: { lastSeenAt: new Date() }, select }).catch(() => null);
  if (!user) return;
  const contacts = new Set([
    ...user.salonConversations.map((c) => c.clientUserId),
    ...user.clientConversations.map((c) => c.salonId),
  ]);
  logger.info({ userId, online }, online ? 'user online' : 'user fully offline');
  const lastSeenAt = user.lastSeenAt;
  await Promise.all([...contacts].map((contactId) => bus.publish(topics.presence(contactId), { userId, online, lastSeenAt })));
}

function safely(work: Promise<unknown>) {
  work.catch((error: unknown) => logger.error({ err: error }, 'presence update failed'));
}

/** A socket reopened within the grace period: the pending offline is called off. */
function cancelPending(pending: Map<string, NodeJS.Timeout>, userId: string): boolean {
  const timer = pending.get(userId);
  if (!timer) return false;
  clearTimeout(timer);
  pending.delete(userId);
  return true;
}

/** Presence without Redis: this process is the only instance. */
export function createLocalPresence(bus: EventBus, options: PresenceOptions = {}): Presence {
  const graceMs = options.graceMs ?? 3000;
  const sockets = new Map<string, number>();
  const pending = new Map<string, NodeJS.Timeout>();
  return {
    async connected(userId) {
      const reconnected = cancelPending(pending, userId);
      const count = sockets.get(userId) ?? 0;
      sockets.set(userId, count + 1);
      if (count === 0 && !reconnected) safely(announce(bus, userId, true));
    },
    disconnected(userId) {
      const count = (sockets.get(userId) ?? 1) - 1;
      if (count > 0) return void sockets.set(userId, count);
      sockets.delete(userId);
      pending.set(
        userId,
        setTimeout(() => {
          pending.delete(userId);
          if (!sockets.has(userId)) safely(announce(bus, userId, false));
        }, graceMs),
      );
    },
    isOnline: async (userIds) => userIds.map((id) => sockets.has(id) || pending.has(id)),
    async close() {
      for (const timer of pending.values()) clearTimeout(timer);
      pending.clear();
    },
  };
}

// Atomic steps, so two instances changing one user at once agree on who announces.
const ATTACH = `local before = redis.call('HLEN', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return before`;
const DETACH = `redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return redis.call('HLEN', KEYS[1])`;

const userKey = (userId: string) => `presence:user:${userId}`;
const instanceUsersKey = (instanceId: string) => `presence:instance:${instanceId}:users`;
const INSTANCES = 'presence:instances';

/**
 * Presence across instances. Each user has a hash of instance → open sockets there; online means
 * the hash is not empty. Instances heartbeat into a sorted set; a live instance releases the users
 * of one that stopped heartbeating (crashed), so nobody stays online for ever.
 */
export function createRedisPresence(bus: EventBus, redis: Redis, options: PresenceOptions = {}): Presence {
  const graceMs = options.graceMs ?? 3000;
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  const instanceTtlMs = options.instanceTtlMs ?? 30_000;
  const instanceId = randomUUID();
  const sockets = new Map<string, number>();
  const pending = new Map<string, NodeJS.Timeout>();

  const detach = async (userId: string, fromInstance: string) => {
    const left = (await redis.eval(DETACH, 2, userKey(userId), instanceUsersKey(fromInstance), fromInstance, userId)) as number;
    if (left === 0) await announce(bus, userId, false);
  };

  const beat = async () => {
    const now = Date.now();
    // 1 means we were not in the set: reaped while Redis was unreachable, so re-register below.
    const wasMissing = (await redis.zadd(INSTANCES, now, instanceId)) === 1;
    const dead = await redis.zrangebyscore(INSTANCES, 0, now - instanceTtlMs);
    for (const deadId of dead) {
      // One live instance reaps each dead one.
      if ((await redis.set(`presence:reap:${deadId}`, instanceId, 'PX', instanceTtlMs, 'NX')) !== 'OK') continue;
      const users = await redis.smembers(instanceUsersKey(deadId));
      for (const userId of users) await detach(userId, deadId);
      await redis.del(instanceUsersKey(deadId));
      await redis.zrem(INSTANCES, deadId);
      logger.warn({ instance: deadId, users: users.length }, 'released the users of a silent instance');
    }
    if (wasMissing && sockets.size > 0) {
      const pipeline = redis.pipeline();
      for (const [userId, count] of sockets) {
        pipeline.eval(ATTACH, 2, userKey(userId), instanceUsersKey(instanceId), instanceId, String(count), userId);
      }
      await pipeline.exec();
    }
  };
  const heartbeat = setInterval(() => void beat().catch(() => undefined), heartbeatMs);
  void beat().catch(() => undefined);

  return {
    async connected(userId) {
      cancelPending(pending, userId);
      const count = (sockets.get(userId) ?? 0) + 1;
      sockets.set(userId, count);
      try {
        const before = (await redis.eval(
          ATTACH, 2, userKey(userId), instanceUsersKey(instanceId), instanceId, String(count), userId,
        )) as number;
        if (before === 0 && count === 1) safely(announce(bus, userId, true));
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'presence: redis unavailable on connect');
      }
    },
    disconnected(userId) {
      const count = (sockets.get(userId) ?? 1) - 1;
      if (count > 0) {
        sockets.set(userId, count);
        redis.hset(userKey(userId), instanceId, String(count)).catch(() => undefined);
        return;
      }
      sockets.delete(userId);
      pending.set(
        userId,
        setTimeout(() => {
          pending.delete(userId);
          if (!sockets.has(userId)) safely(detach(userId, instanceId));
        }, graceMs),
      );
    },
    async isOnline(userIds) {
      if (userIds.length === 0) return [];
      try {
        const pipeline = redis.pipeline();
        for (const id of userIds) pipeline.hlen(userKey(id));
        const results = (await pipeline.exec()) ?? [];
        return results.map(([, value]) => Number(value) > 0);
      } catch {
        return userIds.map((id) => sockets.has(id));
      }
    },
    async close() {
      clearInterval(heartbeat);
      for (const timer of pending.values()) clearTimeout(timer);
      pending.clear();
      // A clean stop releases its users now instead of waiting to be reaped.
      const users = [...sockets.keys()];
      sockets.clear();
      await Promise.all(users.map((userId) => detach(userId, instanceId).catch(() => undefined)));
      await redis.zrem(INSTANCES, instanceId).catch(() => undefined);
    },
  };
}
