import { logger } from '../logger.js';
import type { EventBus, RedisClient } from './bus.js';
import { topics } from './topics.js';

export interface Typing {
  /** Returns whether an event was published (a refresh of an ongoing state publishes nothing). */
  set(conversationId: string, userId: string, isTyping: boolean): Promise<boolean>;
  close(): void;
}

// Sets the deadline and tells whether the user was already typing (then no event is needed).
const START = `local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return previous`;
// Ends the state only if nobody refreshed it since this deadline was set, on any instance.
const EXPIRE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end return 0`;

/**
 * Typing states expire by themselves: each start or refresh sets a deadline; when it passes with
 * no refresh, isTyping false is published. Only changes are published, which throttles the
 * events a typist causes to two per burst whatever the refresh rate.
 */
export function createTyping(bus: EventBus, redis: RedisClient | undefined, ttlMs: number): Typing {
  const local = new Map<string, string>();
  const timers = new Set<NodeJS.Timeout>();
  const key = (conversationId: string, userId: string) => `typing:${conversationId}:${userId}`;

  const store = {
    async start(k: string, deadline: string): Promise<boolean> {
      if (!redis) {
        const was = local.has(k);
        local.set(k, deadline);
        return was;
      }
      // The key outlives the deadline a little so the expiry check below can still read it.
      return (await redis.eval(START, 1, k, deadline, String(ttlMs + 5000))) !== null;
    },
    async expire(k: string, deadline: string): Promise<boolean> {
      if (!redis) {
        if (local.get(k) !== deadline) return false;
        local.delete(k);
        return true;
      }
      return (await redis.eval(EXPIRE, 1, k, deadline)) === 1;
    },
    async stop(k: string): Promise<boolean> {
      if (!redis) return local.delete(k);
      return (await redis.del(k)) === 1;
    },
  };

  const publish = (conversationId: string, userId: string, isTyping: boolean) =>
    bus.publish(topics.typing(conversationId), { conversationId, userId, isTyping });

  return {
    async set(conversationId, userId, isTyping) {
      const k = key(conversationId, userId);
      if (!isTyping) {
        const was = await store.stop(k);
        if (was) await publish(conversationId, userId, false);
        return was;
      }
      const deadline = `${Date.now() + ttlMs}:${Math.random()}`;
      const wasTyping = await store.start(k, deadline);
      const timer = setTimeout(() => {
        timers.delete(timer);
        store
          .expire(k, deadline)
          .then((expired) => (expired ? publish(conversationId, userId, false) : undefined))
          .catch((error: unknown) => logger.warn({ err: (error as Error).message }, 'typing expiry failed'));
      }, ttlMs);
      timers.add(timer);
      if (!wasTyping) await publish(conversationId, userId, true);
      return !wasTyping;
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
