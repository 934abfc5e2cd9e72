import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { signToken, TEST_SECRET } from './support/app.js';
import { createTestDatabase } from './support/database.js';
import { wsClient } from './support/ws.js';

let drop: (() => Promise<void>) | undefined;
afterAll(async () => drop?.());

describe('graceful shutdown', () => {
  it('finishes in-flight mutations, closes sockets with 1001 and stops within a bounded time', async () => {
    const database = await createTestDatabase();
    drop = database.drop;
    const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_SECRET, DATABASE_URL: database.url });
    const app = buildApp({ ...config, databaseUrl: database.url });
    await app.start(0);

    const salonId = crypto.randomUUID();
    const clientId = crypto.randomUUID();
    const salon = await signToken({ sub: salonId, email: `${salonId}@example.test`, role: 'salon' });
    const client = await signToken({ sub: clientId, email: `${clientId}@example.test`, role: 'client' });
    const call = (query: string, variables: Record<string, unknown>, token: string) =>
      fetch(app.url(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      }).then((r) => r.json() as Promise<{ data?: Record<string, { id: string }>; errors?: unknown[] }>);
    await call('{ me { id } }', {}, client);
    const opened = await call('mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }', { input: { clientUserId: clientId, subject: 'bye' } }, salon);
    const conversationId = opened.data!.createConversation!.id;

    const closed = new Promise<number>((resolve) => {
      const ws = wsClient(app.wsUrl(), { token: client }, { retryAttempts: 0 });
      ws.on('closed', (event) => resolve((event as { code: number }).code));
      ws.subscribe({ query: 'subscription { messageAdded { id } }' }, { next() {}, error() {}, complete() {} });
    });
    await new Promise((resolve) => setTimeout(resolve, 200));

    // Settled at once: a request the closing server never accepted fails to connect, which is fine.
    const inFlight = Array.from({ length: 10 }, (_, i) =>
      call('mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }', { input: { conversationId, content: `last words ${i}` } }, salon).then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason: unknown) => ({ status: 'rejected' as const, reason }),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    const started = Date.now();
    await app.stop();
    expect(Date.now() - started).toBeLessThan(6000);
    expect(await closed).toBe(1001);
    const results = await Promise.all(inFlight);
    // Requests the server had accepted complete normally; none ends half-way with an error.
    for (const result of results) {
      if (result.status === 'fulfilled') expect(result.value.errors).toBeUndefined();
    }
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThan(0);
  });
});
