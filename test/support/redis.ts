import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { freePort } from '../../src/ports.js';

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

/** Starts redis-server with `args` and resolves once it accepts connections. A missing binary fails the file (CI too). */
export async function spawnRedisServer(args: string[], cwd?: string): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { cwd, stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    // Read to the end, so that redis-server never blocks on a full pipe.
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('Ready to accept connections')) resolve();
    });
    child.once('error', (error) => reject(new Error(`redis-server is required for this test and could not start: ${error.message}`)));
    child.once('exit', (code, signal) => reject(new Error(`redis-server exited (${code ?? signal}) before accepting connections`)));
  });
  return child;
}

/** SIGKILL: Redis goes away as a crashed or partitioned server does, without a goodbye. Resolves once it has exited. */
export async function killRedisServer(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** A redis-server of a test file's own, on a port of its own, that the file can kill and start again. */
export interface PrivateRedis {
  url: string;
  /** Starts redis-server and resolves once it accepts connections. A missing binary fails the file (CI too). */
  start(): Promise<void>;
  /** SIGKILL: Redis goes away as a crashed or partitioned server does, without a goodbye. */
  kill(): Promise<void>;
  isUp(): boolean;
}

export async function privateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let redis: ChildProcess | undefined;
  return {
    url,
    async start() {
      redis = await spawnRedisServer(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
      await requireRedis(url);
    },
    async kill() {
      const child = redis;
      redis = undefined;
      await killRedisServer(child);
    },
    isUp: () => redis !== undefined,
  };
}
