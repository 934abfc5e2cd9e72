import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { useTestApp } from './support/app.js';
import { codes, openConversation, postJson, send } from './support/fixtures.js';

const t = useTestApp({ FRONTEND_URL: 'https://app.example.com', FRONTEND_URL_FR: 'https://fr.example.com,https://www.fr.example.com', INTROSPECTION: 'false' });

const base = () => t.app.url().replace(/\/graphql$/, '');

function upgrade(origin?: string): Promise<'open' | number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(t.app.wsUrl(), 'graphql-transport-ws', origin ? { origin } : {});
    socket.on('open', () => {
      socket.close();
      resolve('open');
    });
    socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.on('error', () => {});
  });
}

describe('operations endpoints', () => {
  it('/health answers while the process is up and /ready checks the database', async () => {
    expect((await fetch(`${base()}/health`)).status).toBe(200);
    // Polled, as an orchestrator's readiness probe does: each check has 2 s, and a process's first
    // query (pool connect, query compile) can take longer on a busy machine.
    await expect.poll(async () => (await fetch(`${base()}/ready`)).status).toBe(200);
    const ready = await fetch(`${base()}/ready`);
    expect(await ready.json()).toEqual({ ready: true, checks: { database: 'ok' } });
  });

  it('/metrics exposes durations, errors by code, sockets and messages sent in Prometheus text', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    await send(t, salon, await openConversation(t, salon, client), 'counted');
    await t.gql('{ me { id } }');
    const response = await fetch(`${base()}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toMatch(/^salon_messages_sent_total 1$/m);
    expect(text).toMatch(/^salon_graphql_errors_total\{code="UNAUTHENTICATED"\} 1$/m);
    expect(text).toMatch(/^salon_ws_open_sockets 0$/m);
    expect(text).toContain('graphql_yoga_http_duration');
    expect(text).toContain('graphql_envelop_phase_execute');
  });
});

describe('request bodies', () => {
  it('a body is read whole at any size up to MAX_REQUEST_BYTES (a Buffer up to 4 KB, a stream beyond)', async () => {
    const user = await t.user('CLIENT');
    for (const padding of [0, 4_000, 4_200, 60_000]) {
      const query = `{ me { id } } # ${'x'.repeat(padding)}`;
      const response = await postJson(t.app.url(), { query }, user.token);
      expect(response, `padding ${padding}`).toEqual({ data: { me: { id: user.id } } });
    }
  });
});

describe('request ids', () => {
  it('echoes the caller\'s x-request-id, or gives one, on every response', async () => {
    const given = await fetch(t.app.url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'trace-123' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(given.headers.get('x-request-id')).toBe('trace-123');
    const generated = await fetch(t.app.url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('origins (FRONTEND_URL*)', () => {
  const post = (origin?: string) =>
    fetch(t.app.url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}) },
      body: JSON.stringify({ query: '{ __typename }' }),
    });

  it('a listed origin is served with CORS headers; no Origin (servers, apps, curl) is served', async () => {
    const listed = await post('https://www.fr.example.com');
    expect(listed.status).toBe(200);
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://www.fr.example.com');
    expect((await post()).status).toBe(200);
  });

  it('an unlisted origin is refused with 403 on HTTP and on the WebSocket upgrade', async () => {
    const refused = await post('https://evil.example.com');
    expect(refused.status).toBe(403);
    expect(await upgrade('https://evil.example.com')).toBe(403);
    expect(await upgrade('https://app.example.com')).toBe('open');
    expect(await upgrade()).toBe('open');
  });
});

describe('query limits', () => {
  it('refuses an operation deeper than 10 levels, more than 15 aliases or introspection when switched off', async () => {
    const user = await t.user('CLIENT');
    const deep = await t.gql('{ conversations { edges { node { lastMessage { conversation { lastMessage { conversation { lastMessage { conversation { client { id } } } } } } } } } } }', {}, user.token);
    expect(deep.errors?.[0]?.message).toMatch(/depth/i);
    const aliases = Array.from({ length: 16 }, (_, i) => `a${i}: unreadCount`).join(' ');
    const many = await t.gql(`{ ${aliases} }`, {}, user.token);
    expect(many.errors?.[0]?.message).toMatch(/alias/i);
    const introspection = await t.gql('{ __schema { types { name } } }', {}, user.token);
    expect(introspection.data ?? null).toBeNull();
    expect(introspection.errors?.length).toBeGreaterThan(0);
  });

  it('lets the inbox query through', async () => {
    const user = await t.user('CLIENT');
    const inbox = await t.gql(
      '{ conversations(first: 20) { totalCount edges { cursor node { id unreadCount salon { id } client { id } appointment { id } lastMessage { id author { id } attachments { url } } } } pageInfo { hasNextPage endCursor } } }',
      {},
      user.token,
    );
    expect(codes(inbox)).toEqual([]);
  });

  it('variables the operation cannot take are a bad request: 400 with BAD_USER_INPUT, for a query, a mutation and an SSE subscription', async () => {
    const user = await t.user('CLIENT');
    const post = (body: Record<string, unknown>, accept: string) =>
      fetch(t.app.url(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${user.token}` },
        body: JSON.stringify(body),
      });
    const requests = [
      { query: 'query($id: ID!) { conversation(id: $id) { id } }', variables: { id: { not: 'an id' } } },
      { query: 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }', variables: {} },
    ];
    for (const accept of ['application/graphql-response+json', 'application/json']) {
      for (const body of requests) {
        const response = await post(body, accept);
        expect(response.status, `${accept}: ${body.query}`).toBe(400);
        const result = (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
        expect(result.data).toBeUndefined();
        expect(codes(result)).toEqual(['BAD_USER_INPUT']);
      }
    }
    // GraphQL over SSE: refused before any stream opens.
    const sse = await post({ query: 'subscription($after: String) { events(after: $after) { __typename } }', variables: { after: { not: 'a cursor' } } }, 'text/event-stream');
    expect(sse.status).toBe(400);
    await sse.body?.cancel();
  });
});
