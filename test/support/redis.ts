import { Redis } from 'ioredis';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Tests that need Redis fail (never skip) when it is missing: CI must not pass without it. */
export async function requireRedis(url = REDIS_URL): Promise<string> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return url;
  } catch (error) {
    throw new Error(`Redis is required for this test and is not reachable at ${url}: ${(error as Error).message}`);
  } finally {
    client.disconnect();
  }
}
