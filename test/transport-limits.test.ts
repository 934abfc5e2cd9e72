import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import pg from 'pg';
import { createClient } from 'graphql-ws';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { OnMessageAddedDocument } from '../operations/generated/graphql.js';
import { signToken, useTestApp, type TestUser } from './support/app.js';
import { withDatabase } from './support/database.js';
import { openConversation, postJson, send } from './support/fixtures.js';
import { closeOf, liveTopics, metric, rawSocket, subscribe, wsClient } from './support/ws.js';

const MAX_BYTES = 65_536;
const t = useTestApp({ MAX_REQUEST_BYTES: String(MAX_BYTES), JWT_CLOCK_TOLERANCE_S: '0' });
let salon: TestUser;
let client: TestUser;
let conversationId: string;

beforeAll(async () => {
  salon = await t.user('SALON', 'Atelier');
  client = await t.user('CLIENT', 'Nina');
  conversationId = await openConversation(t, salon, client);
});

const messageCount = async () => Number((await t.sql<{ count: string }>('SELECT count(*) FROM "Message"'))[0]!.count);

describe('a refused operation over WebSocket errors that operation only', () => {
  it('limits, validation, page sizes and unknown hashes: an error with the code HTTP gives, the other subscription runs on', async () => {
    const ws = wsClient(t.app.wsUrl(), { authorization: `Bearer ${client.token}` });
    const running = subscribe(ws, OnMessageAddedDocument, {});
    await expect.poll(() => liveTopics(t.app)).toBe(1);

    const refused: Record<string, Record<string, unknown>> = {
      depth: { query: `subscription { messageAdded { ${'conversation { messages(first: 1) { edges { node { '.repeat(4)}id${' } } } }'.repeat(4)} } }` },
      tokens: { query: `subscription { messageAdded { id ${'id '.repeat(2100)} } }` },
      validation: { query: 'subscription { messageAdded { nope } }' },
      syntax: { query: 'subscription { messageAdded { id }' },
      pageSize: { query: 'subscription { messageAdded { conversation { messages(first: 1000) { edges { node { id } } } } } }' },
      unknownHash: { query: '', extensions: { persistedQuery: { version: 1, sha256Hash: 'ab'.repeat(32) } } },
    };
    for (const [name, payload] of Object.entries(refused)) {
      const overHttp = await postJson(t.app.url(), payload, client.token);
      const expected = overHttp.errors?.map((error) => error.extensions?.code);
      expect(expected, name).toBeDefined();
      expect(expected, name).not.toContain(undefined);
      expect(expected, name).not.toContain('INTERNAL_SERVER_ERROR');
      const errors = await new Promise<unknown>((resolve) => {
        ws.subscribe(payload as { query: string }, { next: () => resolve('next'), error: resolve, complete: () => resolve('complete') });
      });
      expect(Array.isArray(errors), name).toBe(true);
      expect((errors as { extensions?: { code?: string } }[]).map((error) => error.extensions?.code), name).toEqual(expected);
    }

    await send(t, salon, conversationId, 'still subscribed');
    const [event] = await running.waitFor(1);
    expect(event?.messageAdded.content).toBe('still subscribed');
    expect(await metric(t.app.url(), 'salon_ws_open_sockets')).toBe(1);
    ws.dispose();
    await expect.poll(() => metric(t.app.url(), 'salon_active_subscriptions')).toBe(0);
  });

  it("a bad token on the API's own GraphiQL socket refuses that operation, not the socket", async () => {
    const host = new URL(t.app.url()).host;
    const raw = await rawSocket(t.app.wsUrl(), {}, { origin: `http://${host}` });
    raw.socket.send(JSON.stringify({ id: 'bad', type: 'subscribe', payload: { query: 'subscription { unreadCount { totalUnread } }', extensions: { headers: { authorization: 'Bearer nope' } } } }));
    await expect.poll(() => raw.messages.find((message) => message.id === 'bad')).toMatchObject({
      type: 'error',
      payload: [{ extensions: { code: 'UNAUTHENTICATED' } }],
    });
    raw.socket.send(JSON.stringify({ id: 'good', type: 'subscribe', payload: { query: 'subscription { unreadCount { totalUnread } }', extensions: { headers: { authorization: `Bearer ${client.token}` } } } }));
    await expect.poll(() => liveTopics(t.app)).toBe(1);
    await send(t, salon, conversationId, 'to the GraphiQL tab');
    await expect.poll(() => raw.messages.find((message) => message.id === 'good')).toMatchObject({ type: 'next' });
    raw.socket.close();
    await expect.poll(() => metric(t.app.url(), 'salon_active_subscriptions')).toBe(0);
  });
});

describe('bounded input', () => {
  it('a WebSocket frame over MAX_REQUEST_BYTES is refused from its header (1009), before any authentication', async () => {
    const socket = new WebSocket(t.app.wsUrl(), 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('open', resolve));
    const started = Date.now();
    socket.send(Buffer.alloc(20 * 1024 * 1024, 0x20));
    expect(await closed).toBe(1009);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  /** Sends a sendMessage mutation padded to `totalBytes`, writing only while the server has not answered. */
  function oversizedPost(totalBytes: number, chunked: boolean): Promise<{ status: number; body: string; written: number }> {
    const head = Buffer.from(JSON.stringify({
      query: 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
      variables: { input: { conversationId, content: 'too big' } },
    }).slice(0, -1) + ',"padding":"');
    return new Promise((resolve, reject) => {
      let answered = false;
      let written = 0;
      const req = request(t.app.url(), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${salon.token}`,
          ...(chunked ? {} : { 'content-length': String(totalBytes) }),
        },
      });
      req.on('response', (response) => {
        answered = true;
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body, written }));
      });
      req.on('error', (error) => (answered ? undefined : reject(error)));
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        if (answered || written >= totalBytes) return;
        const piece = written === 0 ? Buffer.concat([head, chunk.subarray(head.length)]) : chunk.subarray(0, Math.min(chunk.length, totalBytes - written));
        written += piece.length;
        req.write(piece, () => setImmediate(pump));
      };
      pump();
    });
  }

  it('an HTTP body declared over the limit is refused with 413 before it is sent; nothing is stored', async () => {
    const before = await messageCount();
    const started = Date.now();
    const response = await oversizedPost(20 * 1024 * 1024, false);
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(response.written).toBeLessThan(20 * 1024 * 1024);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await messageCount()).toBe(before);
  });

  it('a chunked HTTP body is refused with 413 once it passes the limit; nothing is stored', async () => {
    const before = await messageCount();
    const response = await oversizedPost(20 * 1024 * 1024, true);
    expect(response.status).toBe(413);
    expect(response.written).toBeLessThan(20 * 1024 * 1024);
    expect(await messageCount()).toBe(before);
  });

  it('a body under the limit, chunked or not, still runs', async () => {
    const padding = 'x'.repeat(MAX_BYTES / 2);
    for (const chunked of [false, true]) {
      const body = JSON.stringify({ query: '{ me { id } }', extensions: { padding } });
      const response = await fetch(t.app.url(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${client.token}` },
        body: chunked ? new Blob([body]).stream() : body,
        ...(chunked ? { duplex: 'half' } : {}),
      } as RequestInit);
      expect(response.status).toBe(200);
      expect(((await response.json()) as { data: { me: { id: string } } }).data.me.id).toBe(client.id);
    }
  });
});

describe('token expiry on every subscription transport', () => {
  it('an SSE subscription delivers, then ends with UNAUTHENTICATED when its token expires', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 3;
    const token = await signToken({ sub: client.id, email: client.email, role: 'client' }, { expiresIn: expiresAt });
    const response = await fetch(t.app.url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'subscription { unreadCount { totalUnread } }' }),
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    let text = '';
    const ended = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return Date.now();
        text += new TextDecoder().decode(value);
      }
    })();
    // Sent until one arrives: the stream is open before the subscription is live.
    await expect.poll(async () => (await send(t, salon, conversationId, 'over SSE'), text)).toContain('totalUnread');
    const endedAt = await ended;
    expect(endedAt).toBeGreaterThanOrEqual(expiresAt * 1000);
    expect(endedAt).toBeLessThan(expiresAt * 1000 + 2000);
    expect(text).toContain('"code":"UNAUTHENTICATED"');
  });
});

describe('a server-side failure at connect', () => {
  it('closes with 1013 (graphql-ws clients retry it), never 4401, and the retry gets in once the database is back', async () => {
    const name = new URL(t.databaseUrl).pathname.slice(1);
    const admin = new pg.Client({ connectionString: withDatabase(t.databaseUrl, 'postgres') });
    await admin.connect();
    const id = randomUUID();
    const token = await signToken({ sub: id, email: `new-${id.slice(0, 8)}@example.test`, role: 'client' });
    try {
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      // A new user: connection_init needs the database for the just-in-time insert.
      expect((await closeOf(t.app.wsUrl(), { authorization: `Bearer ${token}` })).code).toBe(1013);

      const closes: number[] = [];
      let connected = false;
      const retrying = createClient({
        url: t.app.wsUrl(),
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${token}` },
        lazy: false,
        retryAttempts: 50,
        retryWait: async () => new Promise((resolve) => setTimeout(resolve, 100)),
        on: { closed: (event) => closes.push((event as { code: number }).code), connected: () => (connected = true) },
        onNonLazyError: () => {},
      });
      await expect.poll(() => closes.length).toBeGreaterThan(0);
      expect(closes).not.toContain(4401);
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      await expect.poll(() => connected, { timeout: 10_000 }).toBe(true);
      expect(new Set(closes)).toEqual(new Set([1013]));
      await retrying.dispose();
    } finally {
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      await admin.end();
    }
  });
});

describe('a burst of connections', () => {
  it('waits in an accept queue of 4096 (somaxconn permitting) rather than the 511 of Node by default, which overflowed and reset sockets in bench:fanout', async () => {
    const port = new URL(t.app.url()).port;
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    // For a listening socket, ss shows the queue's length in Send-Q.
    const listening = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim().split(/\s+/);
    expect(Number(listening[2])).toBe(Math.min(4096, somaxconn));
  });
});
