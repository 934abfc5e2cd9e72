import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { db } from '../db.js';
import { Prisma } from '../generated/prisma/client.js';
import { logger } from '../logger.js';
import type { EventBus, RedisClient } from './bus.js';
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

/** Whose presence a user sees, and who sees theirs: everyone who shares a conversation with them. */
export async function contactsOf(userId: string): Promise<{ id: string; lastSeenAt: Date | null }[]> {
  return db.user.findMany({
    where: { OR: [{ salonConversations: { some: { clientUserId: userId } } }, { clientConversations: { some: { salonId: userId } } }] },
    select: { id: true, lastSeenAt: true },
  });
}

/** The ids of everyone who shares a conversation with `u` (as contactsOf counts them). */
const contactIds = Prisma.sql`ARRAY(
    SELECT c."clientUserId" FROM "Conversation" c WHERE c."salonId" = u.id
     UNION
    SELECT c."salonId" FROM "Conversation" c WHERE c."clientUserId" = u.id)::text[]`;

/** Users stamped and announced offline per statement when many leave at once. */
const OFFLINE_BATCH = 500;

async function tellContacts(bus: EventBus, userId: string, online: boolean, user: Announced): Promise<void> {
  logger.info({ userId, online }, online ? 'user online' : 'user fully offline');
  const published = await bus.publishAll(user.contacts.map((contact) => [topics.presence(contact), { userId, online, lastSeenAt: user.lastSeenAt }] as const));
  const failed = published.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Tells every contact that the user is online. One statement reads the user and their contacts:
 * a burst of connections after a deploy announces thousands of users at once (bench:fanout).
 */
async function announceOnline(bus: EventBus, userId: string) {
  const [user] = await db.$queryRaw<Announced[]>`SELECT u."lastSeenAt", ${contactIds} AS "contacts" FROM "User" u WHERE u.id = ${userId}::uuid`;
  if (user) await tellContacts(bus, userId, true, user);
}

/**
 * Records lastSeenAt and tells every contact, for users fully offline: after a grace period, for
 * a dead instance's users, and for all the users of an instance that stops — thousands at once,
 * so one statement per OFFLINE_BATCH users (one each, an instance holding 5,000 users overran its
 * 10 s shutdown budget in bench:fanout). Never part of a request's statements.
 */
async function announceOffline(bus: EventBus, userIds: readonly string[]) {
  for (let i = 0; i < userIds.length; i += OFFLINE_BATCH) {
    const batch = userIds.slice(i, i + OFFLINE_BATCH);
    const users = await db.$queryRaw<(Announced & { id: string })[]>`/* background: presence offline */
      UPDATE "User" u SET "lastSeenAt" = ${new Date()} WHERE u.id = ANY(${batch}::uuid[])
      RETURNING u.id::text AS "id", u."lastSeenAt", ${contactIds} AS "contacts"`;
    await Promise.allSettled(users.map((user) => tellContacts(bus, user.id, false, user)));
  }
}

interface Announced {
  lastSeenAt: Date | null;
  contacts: string[];
}

/**
 * Work started on behalf of presence (announcements, Redis updates) that `close()` waits for, so
 * nothing lands in Redis or on the bus after the instance released its users.
 */
function createTracker() {
  const inFlight = new Set<Promise<unknown>>();
  return {
    track(work: Promise<unknown>) {
      inFlight.add(work);
      work
        .catch((error: unknown) => logger.error({ err: error }, 'presence update failed'))
        .finally(() => inFlight.delete(work));
    },
    async settle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

/** A socket reopened within the grace period: the pending offline is called off. */
function cancelPending(pending: Map<string, NodeJS.Timeout>, userId: string): boolean {
  const timer = pending.get(userId);
  if (!timer) return false;
  clearTimeout(timer);
  pending.delete(userId);
  return true;
}

/**
 * Everyone this instance still holds, with an open socket or within the grace period of their
 * last one. A stopping instance releases them all at once: no timer would be left to do it.
 */
function takeHeld(sockets: Map<string, number>, pending: Map<string, NodeJS.Timeout>): string[] {
  for (const timer of pending.values()) clearTimeout(timer);
  const users = [...new Set([...sockets.keys(), ...pending.keys()])];
  sockets.clear();
  pending.clear();
  return users;
}

/** Presence without Redis: this process is the only instance. */
export function createLocalPresence(bus: EventBus, options: PresenceOptions = {}): Presence {
  const graceMs = options.graceMs ?? 3000;
  const sockets = new Map<string, number>();
  const pending = new Map<string, NodeJS.Timeout>();
  const { track, settle } = createTracker();
  let closing = false;
  return {
    async connected(userId) {
      if (closing) return;
      const reconnected = cancelPending(pending, userId);
      const count = sockets.get(userId) ?? 0;
      sockets.set(userId, count + 1);
      if (count === 0 && !reconnected) track(announceOnline(bus, userId));
    },
    disconnected(userId) {
      // A close event after close(): its user was released there already.
      if (closing) return;
      const count = (sockets.get(userId) ?? 1) - 1;
      if (count > 0) return void sockets.set(userId, count);
      sockets.delete(userId);
      pending.set(
        userId,
        setTimeout(() => {
          pending.delete(userId);
          if (!sockets.has(userId)) track(announceOffline(bus, [userId]));
        }, graceMs),
      );
    },
    isOnline: async (userIds) => userIds.map((id) => sockets.has(id) || pending.has(id)),
    async close() {
      closing = true;
      const users = takeHeld(sockets, pending);
      // An `online` still on its way goes out before the `offline` that follows it.
      await settle();
      await announceOffline(bus, users).catch((error: unknown) => logger.error({ err: error }, 'presence: offline announcements failed'));
    },
  };
}

// Atomic steps, so two instances changing one user at once agree on who announces. ATTACH also
// lists the instance: a user is never held by an instance the crash clean-up cannot see.
const ATTACH = `local before = redis.call('HLEN', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return before`;
const DETACH = `redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return redis.call('HLEN', KEYS[1])`;

/**
 * Every presence key carries the hash tag `{presence}`: on a Redis Cluster they then share one
 * slot, which the scripts above need (they touch a user's hash, an instance's set and the
 * heartbeat list at once) and so do the pipelines below. Presence changes with sockets opening
 * and closing, not with messages, so one shard carries it.
 */
export const presenceKeys = {
  user: (userId: string) => `{presence}:user:${userId}`,
  instanceUsers: (instanceId: string) => `{presence}:instance:${instanceId}:users`,
  instances: '{presence}:instances',
  reap: (instanceId: string) => `{presence}:reap:${instanceId}`,
};
const userKey = presenceKeys.user;
const instanceUsersKey = presenceKeys.instanceUsers;
const INSTANCES = presenceKeys.instances;
const INSTANCE_USERS = /^\{presence\}:instance:(.+):users$/;

/** SCAN on one Redis, or on every master of a cluster (a cluster's SCAN covers one node). */
async function* scanKeys(redis: RedisClient, pattern: string): AsyncGenerator<string[]> {
  for (const node of redis instanceof Cluster ? redis.nodes('master') : [redis]) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      yield keys;
    } while (cursor !== '0');
  }
}

/**
 * Presence across instances. Each user has a hash of instance → open sockets there; online means
 * the hash is not empty. Instances heartbeat into a sorted set; a live instance releases the users
 * of one that stopped heartbeating (crashed), so nobody stays online for ever. A stopping instance
 * releases its own users and leaves nothing of itself behind.
 */
export function createRedisPresence(bus: EventBus, redis: RedisClient, options: PresenceOptions = {}): Presence & { instanceId: string } {
  const graceMs = options.graceMs ?? 3000;
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  const instanceTtlMs = options.instanceTtlMs ?? 30_000;
  const instanceId = randomUUID();
  const sockets = new Map<string, number>();
  const pending = new Map<string, NodeJS.Timeout>();
  const { track, settle } = createTracker();
  let closing = false;

  const attach = (userId: string, count: number) =>
    redis.eval(ATTACH, 3, userKey(userId), instanceUsersKey(instanceId), INSTANCES, instanceId, String(count), userId, String(Date.now())) as Promise<number>;

  /** Resolves to the number of instances still holding the user. */
  const unlink = (userId: string, fromInstance: string) =>
    redis.eval(DETACH, 2, userKey(userId), instanceUsersKey(fromInstance), fromInstance, userId) as Promise<number>;
  const detach = async (userId: string, fromInstance: string) => {
    if ((await unlink(userId, fromInstance)) === 0) await announceOffline(bus, [userId]);
  };

  /**
   * Users held by instances missing from the list (left by versions that unlisted themselves on
   * stop without releasing everyone): listed as long silent, so the reaping below releases them.
   */
  const adoptOrphans = async () => {
    for await (const keys of scanKeys(redis, instanceUsersKey('*'))) {
      for (const key of keys) {
        const id = INSTANCE_USERS.exec(key)?.[1];
        if (id && id !== instanceId) await redis.zadd(INSTANCES, 'NX', 0, id);
      }
    }
  };

  let adopted = false;
  const beat = async () => {
    const now = Date.now();
    // 1 means we were not in the set: reaped while Redis was unreachable, so re-register below.
    const wasMissing = (await redis.zadd(INSTANCES, now, instanceId)) === 1;
    if (!adopted) {
      await adoptOrphans();
      adopted = true;
    }
    const dead = await redis.zrangebyscore(INSTANCES, 0, now - instanceTtlMs);
    for (const deadId of dead) {
      if (closing) return;
      // One live instance reaps each dead one.
      if ((await redis.set(presenceKeys.reap(deadId), instanceId, 'PX', instanceTtlMs, 'NX')) !== 'OK') continue;
      const users = await redis.smembers(instanceUsersKey(deadId));
      // Thousands of users at once for a dead instance that held them: all unlinked together, not
      // one after the other, and few statements.
      const remaining = await Promise.all(users.map((userId) => unlink(userId, deadId)));
      await announceOffline(
        bus,
        users.filter((_, i) => remaining[i] === 0),
      );
      await redis.del(instanceUsersKey(deadId));
      await redis.zrem(INSTANCES, deadId);
      logger.warn({ instance: deadId, users: users.length }, 'released the users of a silent instance');
    }
    if (wasMissing && sockets.size > 0) {
      const pipeline = redis.pipeline();
      for (const [userId, count] of sockets) {
        pipeline.eval(ATTACH, 3, userKey(userId), instanceUsersKey(instanceId), INSTANCES, instanceId, String(count), userId, String(now));
      }
      await pipeline.exec();
    }
  };

  // One beat at a time. The connection refuses commands until it is ready (no offline queue), so
  // the first beat waits for `ready`, and each reconnection beats at once instead of a period later.
  let beating: Promise<void> = Promise.resolve();
  const kick = () => {
    if (closing || redis.status !== 'ready') return;
    beating = beating.then(beat).catch((error: unknown) => logger.warn({ err: (error as Error).message }, 'presence heartbeat failed'));
  };
  const heartbeat = setInterval(kick, heartbeatMs);
  redis.on('ready', kick);
  kick();

  return {
    /** This instance's name in Redis (its field in each user's hash, its heartbeat entry). */
    instanceId,
    async connected(userId) {
      if (closing) return;
      cancelPending(pending, userId);
      const count = (sockets.get(userId) ?? 0) + 1;
      sockets.set(userId, count);
      const work = attach(userId, count);
      track(work.catch(() => undefined));
      try {
        if ((await work) === 0 && count === 1) track(announceOnline(bus, userId));
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'presence: redis unavailable on connect');
      }
    },
    disconnected(userId) {
      // A close event after close(): its user was released there already.
      if (closing) return;
      const count = (sockets.get(userId) ?? 1) - 1;
      if (count > 0) {
        sockets.set(userId, count);
        track(attach(userId, count).catch(() => undefined));
        return;
      }
      sockets.delete(userId);
      pending.set(
        userId,
        setTimeout(() => {
          pending.delete(userId);
          if (!sockets.has(userId)) track(detach(userId, instanceId));
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
        return userIds.map((id) => sockets.has(id) || pending.has(id));
      }
    },
    async close() {
      closing = true;
      clearInterval(heartbeat);
      redis.off('ready', kick);
      const users = takeHeld(sockets, pending);
      // Nothing of ours may land in Redis after the release below (a beat re-listing us, an attach).
      await beating;
      await settle();
      // A clean stop releases its users now, grace period or not: no timer would be left to do it.
      const released = await Promise.allSettled(users.map((userId) => unlink(userId, instanceId)));
      await announceOffline(
        bus,
        users.filter((_, i) => released[i]?.status === 'fulfilled' && released[i].value === 0),
      ).catch((error: unknown) => logger.error({ err: error }, 'presence: offline announcements failed'));
      const failed = released.filter((result) => result.status === 'rejected').length;
      if (failed > 0) {
        // Still listed with its last heartbeat: a live instance reaps what could not be released.
        logger.warn({ instance: instanceId, users: failed }, 'presence: users left for the crash clean-up');
        return;
      }
      await redis.multi().del(instanceUsersKey(instanceId)).zrem(INSTANCES, instanceId).exec().catch(() => undefined);
    },
  };
}
