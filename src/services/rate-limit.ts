import { appError, ErrorCode } from '../errors.js';
import type { RedisClient } from '../events/bus.js';
import { logger } from '../logger.js';

const WINDOW_MS = 60_000;

export interface RateLimiter {
  /** Counts one action; over `perMinute` in the current minute → RATE_LIMITED. 0 disables. */
  hit(kind: string, userId: string, perMinute: number): Promise<void>;
}

function limited(windowEnd: number) {
  const retryAfter = Math.max(1, Math.ceil((windowEnd - Date.now()) / 1000));
  return appError(ErrorCode.RATE_LIMITED, `Too many requests; retry in ${retryAfter} s`, { retryAfter });
}

/** Fixed one-minute windows. In Redis, so a user's limit holds across instances. */
export function createRateLimiter(redis: RedisClient | undefined): RateLimiter {
  const local = new Map<string, number>();
  let localWindow = 0;
  return {
    async hit(kind, userId, perMinute) {
      if (perMinute <= 0) return;
      const window = Math.floor(Date.now() / WINDOW_MS);
      const windowEnd = (window + 1) * WINDOW_MS;
      const key = `ratelimit:${kind}:${userId}:${window}`;
      let count: number;
      if (redis) {
        try {
          const results = await redis.multi().incr(key).pexpire(key, WINDOW_MS).exec();
          count = Number(results?.[0]?.[1] ?? 0);
        } catch (error) {
          // Failing open: a Redis outage must not stop people from messaging.
          logger.warn({ err: (error as Error).message }, 'rate limit unavailable');
          return;
        }
      } else {
        if (window !== localWindow) {
          local.clear();
          localWindow = window;
        }
        count = (local.get(key) ?? 0) + 1;
        local.set(key, count);
      }
      if (count > perMinute) throw limited(windowEnd);
    },
  };
}
