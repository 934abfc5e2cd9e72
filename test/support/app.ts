import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll } from 'vitest';
import { buildApp, type App, type AppOptions } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createTestDatabase, sql } from './database.js';
import { requireRedis } from './redis.js';

export const TEST_SECRET = 'test-secret-that-is-at-least-32-characters-long';

export interface TestUser {
  id: string;
  email: string;
  role: 'SALON' | 'CLIENT';
  token: string;
}

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string; [key: string]: unknown } }[];
}

export async function signToken(
  claims: Record<string, unknown>,
  options: { secret?: string; expiresIn?: string | number | null; alg?: string } = {},
): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'HS256' }).setIssuedAt();
  if (options.expiresIn !== null) jwt.setExpirationTime(options.expiresIn ?? '1h');
  return jwt.sign(new TextEncoder().encode(options.secret ?? TEST_SECRET));
}

export interface TestContext {
  app: App;
  /** All instances (several when `instances` > 1), sharing one database and one Redis. */
  apps: App[];
  databaseUrl: string;
  config: Config;
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, token?: string, instance?: number): Promise<GraphQLResponse<T>>;
  /** A user as a real client would appear: a token for an unseen subject, created just-in-time. */
  user(role: 'SALON' | 'CLIENT', name?: string, lastName?: string): Promise<TestUser>;
  sql<T extends Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
}

/**
 * Registers hooks that start a real server on a free port against this file's own database.
 * The returned object is filled in by beforeAll.
 */
export function useTestApp(
  env: Record<string, string> = {},
  options: { instances?: number; app?: AppOptions } = {},
): TestContext {
  const ctx = {} as TestContext;
  let drop: (() => Promise<void>) | undefined;
  let uploadsDir: string | undefined;

  beforeAll(async () => {
    if (env.REDIS_URL) await requireRedis(env.REDIS_URL);
    const database = await createTestDatabase();
    drop = database.drop;
    // Files of the local upload store go to a folder of this file's own, removed with its database.
    uploadsDir = mkdtempSync(join(tmpdir(), 'salon-uploads-'));
    // Two delivery workers, not sixteen, for the apps of tests that do not exercise webhooks: each
    // idle worker polls the job queue, and a dozen apps run at once. Webhook tests set their own.
    const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_SECRET, DATABASE_URL: database.url, WEBHOOK_CONCURRENCY: '2', UPLOADS_DIR: uploadsDir, ...env });
    const apps: App[] = [];
    for (let i = 0; i < (options.instances ?? 1); i++) {
      const app = buildApp({ ...config, databaseUrl: database.url }, options.app);
      await app.start(0);
      apps.push(app);
    }
    const app = apps[0]!;
    Object.assign(ctx, {
      app,
      apps,
      config,
      databaseUrl: database.url,
      async gql(query: string, variables?: Record<string, unknown>, token?: string, instance = 0) {
        const response = await fetch(apps[instance]!.url(), {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/graphql-response+json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify({ query, variables }),
        });
        const body = (await response.json()) as GraphQLResponse;
        return { ...body, status: response.status };
      },
      async user(role: 'SALON' | 'CLIENT', name = role === 'SALON' ? 'Salon' : 'Client', lastName = 'Test') {
        const id = randomUUID();
        const email = `${name.toLowerCase().replace(/[^a-z]/g, '')}-${id.slice(0, 8)}@example.test`;
        // The app's own secret: TEST_SECRET, or the development secret when a file runs without it.
        const token = await signToken({ sub: id, email, role: role.toLowerCase(), firstName: name, lastName }, { secret: config.jwt.secret });
        const response = await ctx.gql<{ me: { id: string } }>('{ me { id } }', {}, token);
        if (response.data?.me.id !== id) throw new Error(`user creation failed: ${JSON.stringify(response)}`);
        return { id, email, role, token };
      },
      sql: (text: string, values?: unknown[]) => sql(database.url, text, values),
    });
  });

  afterAll(async () => {
    for (const app of ctx.apps ?? []) await app.stop();
    await drop?.();
    if (uploadsDir) rmSync(uploadsDir, { recursive: true, force: true });
  });

  return ctx;
}
