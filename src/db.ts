import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client.js';

let client: PrismaClient | undefined;
let clientUrl: string | undefined;
let users = 0;
const queryListeners = new Set<(sql: string) => void>();

/**
 * Sees every SQL statement the client sends: tests and benchmarks use it to prove a query
 * costs a fixed number of statements. Returns the unsubscribe function.
 */
export function onQuery(listener: (sql: string) => void): () => void {
  queryListeners.add(listener);
  return () => queryListeners.delete(listener);
}

/**
 * The one PrismaClient of the process. It is a module singleton rather than a context member
 * (Pothos Prisma docs: a client type in the context slows type checking), bound at start because
 * the URL may only be known once the embedded PostgreSQL is up. Apps of one process (tests run
 * two instances side by side) share it, so it is reference-counted.
 */
export function connectDb(databaseUrl: string, options: { poolSize?: number } = {}): PrismaClient {
  if (client && clientUrl !== databaseUrl) throw new Error('connectDb: already connected to another database');
  if (!client) {
    const adapter = new PrismaPg({ connectionString: databaseUrl, max: options.poolSize ?? 10 });
    const created = new PrismaClient({ adapter, log: [{ level: 'query', emit: 'event' }] });
    created.$on('query', (event) => {
      for (const listener of queryListeners) listener(event.query);
    });
    client = created;
    clientUrl = databaseUrl;
  }
  users++;
  return client;
}

export async function disconnectDb(): Promise<void> {
  if (!client || --users > 0) return;
  const current = client;
  client = undefined;
  clientUrl = undefined;
  await current.$disconnect();
}

/** The connected client; using it before connectDb is a programming error. */
export function getDb(): PrismaClient {
  if (!client) throw new Error('Database used before connectDb()');
  return client;
}

/** `getDb()` as a value, so modules can `import { db }` once at load time. */
export const db: PrismaClient = new Proxy({} as PrismaClient, {
  get(_target, property) {
    const current = getDb();
    const value = Reflect.get(current, property, current) as unknown;
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(current) : value;
  },
  has: (_target, property) => property in getDb(),
});
