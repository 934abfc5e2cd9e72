import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { signToken, TEST_SECRET } from './support/app.js';
import { createTestDatabase } from './support/database.js';
import { metric, wsClient } from './support/ws.js';
import { freePort } from '../src/ports.js';
import { watchLoopStalls, type LoopStall } from '../src/observability.js';


const NO_FRONTEND_URLS = { FRONTEND_URL: '', FRONTEND_URL_BIS: '', FRONTEND_URL_FR: '', FRONTEND_URL_FR_BIS: '' };

let cleanup: (() => Promise<void>) | undefined;
afterAll(async () => cleanup?.());

describe('structured logs of the running server', () => {
  it('record connect, join, message created, leave, disconnect and fully offline as JSON, without content or tokens', async () => {
    const database = await createTestDatabase();
    const port = await freePort();
    const server = spawn(process.execPath, ['dist/server.js'], {
      // No browser origin configured, whatever a developer's .env says (an empty value wins over it).
      env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'info', PORT: String(port), DATABASE_URL: database.url, JWT_SECRET: TEST_SECRET, ...NO_FRONTEND_URLS },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    cleanup = async () => {
      if (server.exitCode === null) server.kill('SIGKILL');
      await database.drop();
    };
    await expect.poll(() => output.includes('GraphQL API ready'), { timeout: 30_000 }).toBe(true);

    const salonId = crypto.randomUUID();
    const clientId = crypto.randomUUID();
    const salon = await signToken({ sub: salonId, email: `${salonId}@example.test`, role: 'salon' });
    const client = await signToken({ sub: clientId, email: `${clientId}@example.test`, role: 'client' });
    const url = `http://127.0.0.1:${port}/graphql`;
    const call = (query: string, variables: Record<string, unknown>, token: string) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) }).then(
        (r) => r.json() as Promise<{ data: Record<string, { id: string }> }>,
      );
    await call('{ me { id } }', {}, client);
    const opened = await call('mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }', { input: { clientUserId: clientId, subject: 'Logs' } }, salon);
    const ws = wsClient(`ws://127.0.0.1:${port}/graphql`, { token: client });
    const dispose = ws.subscribe({ query: 'subscription OnMessage { messageAdded { id } }' }, { next() {}, error() {}, complete() {} });
    await expect.poll(() => metric(url, 'salon_live_topic_subscriptions')).toBe(1);
    const secret = 'TOP-SECRET-CONTENT-4711';
    await call('mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }', { input: { conversationId: opened.data.createConversation!.id, content: secret } }, salon);
    await expect.poll(() => output.includes('"msg":"message created"')).toBe(true);
    dispose();
    await ws.dispose();
    // Offline is announced after the 3 s grace period.
    await expect.poll(() => output.includes('"msg":"user fully offline"'), { timeout: 10_000 }).toBe(true);
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));

    const lines = output.trim().split('\n').map((line) => JSON.parse(line) as { msg: string; userId?: string });
    const messages = lines.map((line) => line.msg);
    for (const expected of ['socket connected', 'subscription joined', 'message created', 'subscription left', 'socket disconnected', 'user fully offline', 'operation']) {
      expect(messages).toContain(expected);
    }
    expect(lines.find((line) => line.msg === 'socket connected')?.userId).toBe(clientId);
    // No FRONTEND_URL* in this environment: an operator is told once a start, not once a transport.
    expect(messages.filter((msg) => msg.startsWith('No FRONTEND_URL* set'))).toHaveLength(1);
    expect(output).not.toContain(secret);
    expect(output).not.toContain(client);
    expect(output).not.toContain(salon);
  });

  it('LOG_LOOP_STALLS_MS: the running server logs each event-loop turn later than it, with when it ended', async () => {
    const database = await createTestDatabase();
    const port = await freePort();
    // 1 ms: a server starting up (loading, compiling, connecting) has turns that long of its own.
    const server = spawn(process.execPath, ['dist/server.js'], {
      env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', LOG_LOOP_STALLS_MS: '1', PORT: String(port), DATABASE_URL: database.url, JWT_SECRET: TEST_SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const started = Date.now();
    try {
      await expect.poll(() => output.includes('"msg":"event loop stall"'), { timeout: 30_000 }).toBe(true);
      const stall = output
        .split('\n')
        .filter((line) => line.includes('"msg":"event loop stall"'))
        .map((line) => JSON.parse(line) as { level: number; stallMs: number; at: number; monotonicUs: number })[0]!;
      expect(stall.level).toBe(40);
      expect(stall.stallMs).toBeGreaterThan(1);
      expect(stall.at).toBeGreaterThanOrEqual(started);
      expect(stall.monotonicUs).toBeGreaterThan(0);
    } finally {
      server.kill('SIGKILL');
      await database.drop();
    }
  });
});

describe('watchLoopStalls', () => {
  it('reports a turn blocked past the threshold with its length, and nothing once stopped', async () => {
    const stalls: LoopStall[] = [];
    const stop = watchLoopStalls(40, (stall) => stalls.push(stall));
    const blockedFrom = Date.now();
    const until = performance.now() + 120;
    while (performance.now() < until) {
      // The event loop is blocked, as by a long synchronous task.
    }
    await expect.poll(() => stalls.some((stall) => stall.ms >= 120 && stall.at >= blockedFrom + 120)).toBe(true);
    stop();
    const reported = stalls.length;
    const again = performance.now() + 120;
    while (performance.now() < again) {
      // Blocked again, with the watch stopped.
    }
    // A turn for a stopped watch's timer to have fired, had it still been armed.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(stalls.length).toBe(reported);
  });
});

