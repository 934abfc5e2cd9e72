/**
 * Inputs an attacker sends on purpose (NUL bytes, dates PostgreSQL cannot hold, forged cursors),
 * APQ registration by strangers, and a statement that runs too long: each answers with its
 * catalogue code, or is masked and logged, and nothing is stored.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sqlState } from '../src/db/errors.js';
import { getDb } from '../src/db.js';
import { logger } from '../src/logger.js';
import { signToken, useTestApp, type TestUser } from './support/app.js';
import { codes, openConversation, postJson, send } from './support/fixtures.js';
import { REDIS_URL } from './support/redis.js';
import { wsClient } from './support/ws.js';

const APQ_MAX_BYTES = 2048;
const STATEMENT_TIMEOUT_MS = 1000;
const t = useTestApp({
  REDIS_URL,
  APQ_MAX_BYTES: String(APQ_MAX_BYTES),
  DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
});

let salon: TestUser;
let client: TestUser;
let conversationId: string;
let messageId: string;

beforeAll(async () => {
  salon = await t.user('SALON');
  client = await t.user('CLIENT');
  conversationId = await openConversation(t, salon, client);
  messageId = (await send(t, client, conversationId, 'first')).id;
  await send(t, salon, conversationId, 'second');
});

async function rowCounts() {
  const [row] = await t.sql(
    `SELECT (SELECT count(*) FROM "Message")::int AS messages, (SELECT count(*) FROM "MessageAttachment")::int AS attachments,
            (SELECT count(*) FROM "User")::int AS users, (SELECT count(*) FROM "Conversation")::int AS conversations,
            (SELECT count(*) FROM "Appointment")::int AS appointments,
            (SELECT string_agg(subject, '|' ORDER BY id) FROM "Conversation") AS subjects`,
  );
  return row;
}

const SEND = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }';
const CREATE = 'mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }';
const UPDATE = 'mutation($id: ID!, $input: UpdateConversationInput!) { updateConversation(id: $id, input: $input) { id } }';
const BOOK = 'mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { id startsAt } }';

describe('NUL bytes in text are BAD_USER_INPUT and store nothing', () => {
  const cases: [string, () => [string, Record<string, unknown>, string]][] = [
    ['message content', () => [SEND, { input: { conversationId, content: 'bon\u0000jour' } }, client.token]],
    ['a lone NUL as content', () => [SEND, { input: { conversationId, content: '\u0000' } }, client.token]],
    ['clientMessageId', () => [SEND, { input: { conversationId, content: 'hi', clientMessageId: 'k\u0000' } }, client.token]],
    ['attachment URL', () => [SEND, { input: { conversationId, content: 'hi', attachments: [{ url: 'https://a.example/x\u0000.png', type: 'image/png' }] } }, client.token]],
    ['attachment type', () => [SEND, { input: { conversationId, content: 'hi', attachments: [{ url: 'https://a.example/x.png', type: 'image/png\u0000' }] } }, client.token]],
    ['a new conversation subject', () => [CREATE, { input: { clientUserId: client.id, subject: 'Cou\u0000leur' } }, salon.token]],
    ['a first message', () => [CREATE, { input: { clientUserId: client.id, subject: 'Ok', firstMessage: 'a\u0000' } }, salon.token]],
    ['a renamed subject', () => [UPDATE, { id: conversationId, input: { subject: 'x\u0000y' } }, salon.token]],
    ['an appointment service', () => [BOOK, { input: { clientUserId: client.id, startsAt: '2027-04-01T10:00:00Z', service: 'Cut\u0000' } }, salon.token]],
  ];
  for (const [name, request] of cases) {
    it(name, async () => {
      const before = await rowCounts();
      const response = await t.gql(...request());
      expect(codes(response)).toEqual(['BAD_USER_INPUT']);
      expect(await rowCounts()).toEqual(before);
    });
  }

  it('in a string literal of the document too', async () => {
    const before = await rowCounts();
    const response = await t.gql(`mutation { sendMessage(input: { conversationId: "${conversationId}", content: "a\\u0000b" }) { id } }`, {}, client.token);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
    expect(await rowCounts()).toEqual(before);
  });

  for (const claim of ['firstName', 'lastName', 'email'] as const) {
    it(`in the ${claim} claim of a token for a new (just-in-time) user`, async () => {
      const before = await rowCounts();
      const id = randomUUID();
      const claims = { sub: id, email: `new-${id.slice(0, 8)}@example.test`, role: 'client', firstName: 'Zoé', lastName: 'Martin' };
      const token = await signToken({ ...claims, [claim]: claim === 'email' ? `a\u0000${claims.email}` : 'Zo\u0000é' });
      const response = await t.gql('{ me { id } }', {}, token);
      expect(codes(response)).toEqual(['BAD_USER_INPUT']);
      expect(response.status).toBeLessThan(500);
      expect(await rowCounts()).toEqual(before);
    });
  }
});

describe('DateTime inputs outside years 0001–9999 are BAD_USER_INPUT', () => {
  const refused = [
    '0000-01-01T00:00:00Z',
    '+275760-09-13T00:00:00.001Z',
    '+010000-01-01T00:00:00Z',
    '-000001-01-01T00:00:00Z',
    '2027-02-30T10:00:00Z',
    '2027-01-01T10:00:00',
    '1700000000000',
  ];
  for (const startsAt of refused) {
    it(`"${startsAt}" as a variable and as a literal`, async () => {
      const before = await rowCounts();
      expect(codes(await t.gql(BOOK, { input: { clientUserId: client.id, startsAt, service: 'Cut' } }, salon.token))).toEqual(['BAD_USER_INPUT']);
      const literal = `mutation { createAppointment(input: { clientUserId: "${client.id}", startsAt: "${startsAt}", service: "Cut" }) { id } }`;
      expect(codes(await t.gql(literal, {}, salon.token))).toEqual(['BAD_USER_INPUT']);
      expect(codes(await t.gql(BOOK, { input: { clientUserId: client.id, startsAt: 1_700_000_000_000, service: 'Cut' } }, salon.token))).toEqual(['BAD_USER_INPUT']);
      expect(await rowCounts()).toEqual(before);
    });
  }

  it('the first and last instants of the range are stored and read back; offsets are converted to UTC', async () => {
    const booked = async (startsAt: string) =>
      (await t.gql<{ createAppointment: { startsAt: string } }>(BOOK, { input: { clientUserId: client.id, startsAt, service: 'Cut' } }, salon.token)).data
        ?.createAppointment.startsAt;
    expect(await booked('0001-01-01T00:00:00Z')).toBe('0001-01-01T00:00:00.000Z');
    expect(await booked('9999-12-31T23:59:59.999Z')).toBe('9999-12-31T23:59:59.999Z');
    expect(await booked('2027-03-14T16:30:00+01:00')).toBe('2027-03-14T15:30:00.000Z');
  });
});

describe('forged cursors are BAD_USER_INPUT on every connection', () => {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const forged = [
    'garbage',
    b64('GPC:'),
    b64('GPC:S:not-a-uuid'),
    b64('GPC:S:\u0000'),
    b64('GPC:N:5'),
    b64('GPC:D:1700000000000'),
    b64('GPC:J:{"id":1}'),
    b64('GPC:O:{"a":1}'),
    b64('GPC:Z:'),
    b64(`GPC:T:["S:${randomUUID()}"]`),
    b64('GPC:I:12345678901234567890'),
    b64(`GPC:S:${randomUUID()}x`),
  ];
  const connections: [string, (cursor: string) => [string, Record<string, unknown>]][] = [
    ['conversations(after:)', (cursor) => ['query($c: String) { conversations(after: $c) { totalCount edges { node { id } } } }', { c: cursor }]],
    ['conversations(before:)', (cursor) => ['query($c: String) { conversations(before: $c, last: 2) { edges { node { id } } } }', { c: cursor }]],
    ['messages(after:)', (cursor) => ['query($c: String, $id: ID!) { messages(conversationId: $id, after: $c) { edges { node { id } } } }', { c: cursor, id: conversationId }]],
    ['messages(before:)', (cursor) => ['query($c: String, $id: ID!) { messages(conversationId: $id, before: $c, last: 2) { edges { node { id } } } }', { c: cursor, id: conversationId }]],
    ['appointments(after:)', (cursor) => ['query($c: String) { appointments(after: $c) { edges { node { id } } } }', { c: cursor }]],
    ['Conversation.messages(after:) in a list', (cursor) => ['query($c: String) { conversations { edges { node { messages(after: $c) { edges { node { id } } } } } } }', { c: cursor }]],
    ['Conversation.messages(before:) in one conversation', (cursor) => ['query($c: String, $id: ID!) { conversation(id: $id) { messages(before: $c, last: 1) { edges { node { id } } } } }', { c: cursor, id: conversationId }]],
  ];
  for (const [name, request] of connections) {
    it(name, async () => {
      const answers = await Promise.all(forged.map((cursor) => t.gql(...request(cursor), client.token)));
      expect(answers.map((answer) => codes(answer))).toEqual(forged.map(() => ['BAD_USER_INPUT']));
    });
  }

  it('a cursor the API returned still pages, forwards and backwards', async () => {
    const first = await t.gql<{ messages: { edges: { cursor: string; node: { id: string } }[] } }>(
      'query($id: ID!) { messages(conversationId: $id, first: 1) { edges { cursor node { id } } } }',
      { id: conversationId },
      client.token,
    );
    const cursor = first.data!.messages.edges[0]!.cursor;
    const next = await t.gql<{ messages: { edges: { node: { id: string } }[] } }>(
      'query($id: ID!, $c: String) { messages(conversationId: $id, first: 1, after: $c) { edges { node { id } } } }',
      { id: conversationId, c: cursor },
      client.token,
    );
    expect(next.data!.messages.edges.map((edge) => edge.node.id)).toEqual([messageId]);
  });
});

describe('APQ registration: authenticated viewers only, documents up to APQ_MAX_BYTES', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(() => redis.disconnect());

  const apq = (query: string) => {
    const sha256Hash = createHash('sha256').update(query).digest('hex');
    return { sha256Hash, extensions: { persistedQuery: { version: 1, sha256Hash } } };
  };

  it('an anonymous document with its hash runs but is not registered', async () => {
    const query = `query Anonymous${Date.now()} { __typename }`;
    const { sha256Hash, extensions } = apq(query);
    expect((await postJson(t.app.url(), { query, extensions })).data).toEqual({ __typename: 'Query' });
    expect(await redis.exists(`apq:${sha256Hash}`)).toBe(0);
    for (const token of [undefined, client.token]) {
      const later = await postJson(t.app.url(), { extensions }, token);
      expect(codes(later)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    }
  });

  it("an authenticated viewer's document is registered", async () => {
    const query = `query Known${Date.now()} { me { id } }`;
    const { sha256Hash, extensions } = apq(query);
    expect((await postJson(t.app.url(), { query, extensions }, client.token)).data).toEqual({ me: { id: client.id } });
    expect(await redis.exists(`apq:${sha256Hash}`)).toBe(1);
    expect((await postJson(t.app.url(), { extensions }, salon.token)).data).toEqual({ me: { id: salon.id } });
  });

  it('registration works the same over WebSocket, where every operation has a viewer', async () => {
    const query = `query OverSocket${Date.now()} { me { id } }`;
    const { sha256Hash, extensions } = apq(query);
    const socket = wsClient(t.app.wsUrl(), { authorization: `Bearer ${client.token}` });
    try {
      const results = [];
      for await (const result of socket.iterate({ query, extensions })) results.push(result);
      expect(results).toEqual([{ data: { me: { id: client.id } } }]);
    } finally {
      await socket.dispose();
    }
    expect(await redis.exists(`apq:${sha256Hash}`)).toBe(1);
    expect((await postJson(t.app.url(), { extensions }, salon.token)).data).toEqual({ me: { id: salon.id } });
  });

  it(`a document over ${APQ_MAX_BYTES} bytes runs but is not registered`, async () => {
    const name = `Long${Date.now()}${'x'.repeat(APQ_MAX_BYTES)}`;
    const query = `query ${name} { me { id } }`;
    const { sha256Hash, extensions } = apq(query);
    expect((await postJson(t.app.url(), { query, extensions }, client.token)).data).toEqual({ me: { id: client.id } });
    expect(await redis.exists(`apq:${sha256Hash}`)).toBe(0);
    expect(codes(await postJson(t.app.url(), { extensions }, client.token))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });
});

describe(`the database pool's statement timeout (DATABASE_STATEMENT_TIMEOUT_MS=${STATEMENT_TIMEOUT_MS})`, () => {
  it('cuts a statement that runs longer, and the pool keeps working', async () => {
    const started = Date.now();
    const error = await getDb().$queryRaw`SELECT 1 AS one FROM pg_sleep(5)`.then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(sqlState(error)).toBe('57014');
    expect(Date.now() - started).toBeLessThan(4000);
    expect(await getDb().$queryRaw`SELECT 1 AS one`).toEqual([{ one: 1 }]);
  });

  it('a mutation held up past it is masked for the client and logged; later ones succeed', async () => {
    const logged = vi.spyOn(logger, 'error');
    // Another session holds the conversation row, so the send's UPDATE waits for its lock.
    const blocker = new pg.Client({ connectionString: t.databaseUrl });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM "Conversation" WHERE id = $1 FOR UPDATE', [conversationId]);
      const before = await rowCounts();
      const response = await t.gql(SEND, { input: { conversationId, content: 'stuck' } }, client.token);
      expect(codes(response)).toEqual(['INTERNAL_SERVER_ERROR']);
      expect(response.errors?.[0]?.message).toBe('Unexpected error.');
      expect(JSON.stringify(response)).not.toMatch(/statement timeout|canceling|SQL/i);
      expect(logged.mock.calls.some(([entry]) => sqlState((entry as { err?: unknown }).err) === '57014')).toBe(true);
      expect(await rowCounts()).toEqual(before);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
      logged.mockRestore();
    }
    expect((await t.gql(SEND, { input: { conversationId, content: 'unstuck' } }, client.token)).errors).toBeUndefined();
  });
});
