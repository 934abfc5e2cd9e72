import { UnsecuredJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { signToken, useTestApp, type TestUser } from './support/app.js';
import { codes, openConversation } from './support/fixtures.js';
import { uploadAttachment } from './support/uploads.js';

const t = useTestApp();

let salon: TestUser;
let client: TestUser;
let conversationId: string;

beforeAll(async () => {
  salon = await t.user('SALON');
  client = await t.user('CLIENT');
  conversationId = await openConversation(t, salon, client);
});

async function counts() {
  const [row] = await t.sql(
    `SELECT (SELECT count(*) FROM "Message")::int AS messages, (SELECT count(*) FROM "MessageAttachment")::int AS attachments,
            (SELECT count(*) FROM "User")::int AS users, (SELECT count(*) FROM "Conversation")::int AS conversations,
            (SELECT count(*) FROM "Appointment")::int AS appointments`,
  );
  return row;
}

const SEND = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }';
const attachment = (url: string, type = 'image/png') => ({ url, type });

describe('bad input is refused with BAD_USER_INPUT and nothing is stored', () => {
  const cases: [string, () => Record<string, unknown>][] = [
    ['empty content', () => ({ conversationId, content: '' })],
    ['whitespace-only content', () => ({ conversationId, content: '   \n ' })],
    ['content over 4,000 characters', () => ({ conversationId, content: 'x'.repeat(4001) })],
    ['eleven attachments', () => ({ conversationId, content: 'hi', attachments: Array.from({ length: 11 }, () => attachment('https://a.example/x.png')) })],
    ['a URL this API did not issue', () => ({ conversationId, content: 'hi', attachments: [attachment('https://a.example/x.png')] })],
    ['a relative URL', () => ({ conversationId, content: 'hi', attachments: [attachment('/x.png')] })],
    ['a javascript: URL', () => ({ conversationId, content: 'hi', attachments: [attachment('javascript:alert(1)')] })],
    ['a URL over 2,048 characters', () => ({ conversationId, content: 'hi', attachments: [attachment(`https://a.example/${'x'.repeat(2048)}`)] })],
    ['a MIME type outside the allow-list', () => ({ conversationId, content: 'hi', attachments: [attachment('https://a.example/x.exe', 'application/x-msdownload')] })],
    ['a malformed conversation id', () => ({ conversationId: 'not-a-uuid', content: 'hi' })],
    ['an over-long clientMessageId', () => ({ conversationId, content: 'hi', clientMessageId: 'k'.repeat(129) })],
  ];
  for (const [name, input] of cases) {
    it(name, async () => {
      const before = await counts();
      const response = await t.gql(SEND, { input: input() }, client.token);
      expect(codes(response)).toEqual(['BAD_USER_INPUT']);
      expect(response.errors?.[0]?.message).toBeTruthy();
      expect(await counts()).toEqual(before);
    });
  }

  it('exactly 4,000 characters and 10 attachments are accepted', async () => {
    const response = await t.gql(
      SEND,
      { input: { conversationId, content: 'x'.repeat(4000), attachments: await Promise.all(Array.from({ length: 10 }, () => uploadAttachment(t, client, conversationId))) } },
      client.token,
    );
    expect(response.errors).toBeUndefined();
  });

  it('an empty subject, a non-client or a bad date is refused', async () => {
    const before = await counts();
    const create = 'mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }';
    expect(codes(await t.gql(create, { input: { clientUserId: client.id, subject: ' ' } }, salon.token))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await t.gql(create, { input: { clientUserId: salon.id, subject: 'x' } }, salon.token))).toEqual(['BAD_USER_INPUT']);
    const book = 'mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { id } }';
    expect(codes(await t.gql(book, { input: { clientUserId: client.id, startsAt: 'tomorrow', service: 'Cut' } }, salon.token))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await t.gql(book, { input: { startsAt: '2027-01-01T10:00:00Z', service: 'Cut' } }, salon.token))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await t.gql(book, { input: { clientUserId: client.id, startsAt: '2027-01-01T10:00:00Z', service: '' } }, salon.token))).toEqual(['BAD_USER_INPUT']);
    expect(await counts()).toEqual(before);
  });

  it('a negative page size and a garbage cursor are input errors, not server errors', async () => {
    expect(codes(await t.gql('{ conversations(first: -1) { totalCount } }', {}, client.token))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await t.gql('{ conversations(after: "garbage") { totalCount } }', {}, client.token))).toEqual(['BAD_USER_INPUT']);
  });
});

describe('bad tokens are UNAUTHENTICATED and create no user', () => {
  const base = () => ({ sub: crypto.randomUUID(), email: `${crypto.randomUUID()}@example.test`, role: 'client' });
  const cases: [string, () => Promise<string>][] = [
    ['expired', () => signToken(base(), { expiresIn: Math.floor(Date.now() / 1000) - 60 })],
    ['signed with another key', () => signToken(base(), { secret: 'another-secret-that-is-32-characters-long!!' })],
    ['alg: none', async () => new UnsecuredJWT(base()).setExpirationTime('1h').encode()],
    ['without exp', () => signToken(base(), { expiresIn: null })],
    ['garbage', async () => 'not.a.jwt'],
    ['HS512 instead of HS256', () => signToken(base(), { alg: 'HS512' })],
  ];
  for (const [name, token] of cases) {
    it(name, async () => {
      const before = await counts();
      const response = await t.gql('{ me { id } }', {}, await token());
      expect(codes(response)).toEqual(['UNAUTHENTICATED']);
      expect(response.status).toBe(401);
      expect(await counts()).toEqual(before);
    });
  }

  it('a non-Bearer Authorization header is refused', async () => {
    const response = await fetch(t.app.url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Basic abc' },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    const body = (await response.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]?.extensions.code).toBe('UNAUTHENTICATED');
  });

  it('a token within the clock tolerance is accepted; a non-UUID subject maps to a stable UUIDv5', async () => {
    const claims = { sub: 'auth0|abc123', iss: 'https://id.example/', email: 'jit@example.test', role: 'CLIENT', userId: undefined };
    const almostExpired = await signToken(claims, { expiresIn: Math.floor(Date.now() / 1000) - 2 });
    const first = await t.gql<{ me: { id: string; role: string } }>('{ me { id role } }', {}, almostExpired);
    expect(first.data?.me.role).toBe('CLIENT');
    const again = await t.gql<{ me: { id: string } }>('{ me { id } }', {}, await signToken(claims));
    expect(again.data?.me.id).toBe(first.data?.me.id);
    expect(first.data?.me.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('the earlier design\'s userId claim works in place of sub', async () => {
    const id = crypto.randomUUID();
    const response = await t.gql<{ me: { id: string } }>('{ me { id } }', {}, await signToken({ userId: id, email: `${id}@example.test`, role: 'Salon' }));
    expect(response.data?.me.id).toBe(id);
  });
});
