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

describe('edits, reactions and mark-unread refuse bad input with BAD_USER_INPUT on the field, and store nothing', () => {
  let message: string;
  let read: string;
  beforeAll(async () => {
    const sent = await t.gql<{ sendMessage: { id: string } }>(SEND, { input: { conversationId, content: 'to act on' } }, client.token);
    message = sent.data!.sendMessage.id;
    const fromSalon = await t.gql<{ sendMessage: { id: string } }>(SEND, { input: { conversationId, content: 'read' } }, salon.token);
    read = fromSalon.data!.sendMessage.id;
    await t.gql('mutation($id: ID!) { markConversationRead(id: $id) { id } }', { id: conversationId }, client.token);
  });

  /** What any of these could change: text, edit times, reactions, read state, counters. */
  async function state() {
    const [row] = await t.sql(
      `SELECT (SELECT string_agg(content || coalesce("editedAt"::text, '') || coalesce("readAt"::text, ''), '|' ORDER BY id) FROM "Message") AS messages,
              (SELECT count(*) FROM "MessageReaction")::int AS reactions,
              (SELECT string_agg("unreadCount"::text, ',' ORDER BY id) FROM "MessageNotification") AS counters`,
    );
    return row;
  }

  const EDIT = 'mutation($id: ID!, $content: String!) { editMessage(id: $id, content: $content) { id } }';
  const REACT = 'mutation($id: ID!, $emoji: String!) { addReaction(messageId: $id, emoji: $emoji) { id } }';
  const UNREACT = 'mutation($id: ID!, $emoji: String!) { removeReaction(messageId: $id, emoji: $emoji) { id } }';
  const UNREAD = 'mutation($id: ID!, $from: ID!) { markConversationUnread(id: $id, fromMessageId: $from) { id } }';
  const cases: [string, () => [string, Record<string, unknown>], string][] = [
    ['an empty edit', () => [EDIT, { id: message, content: '  ' }], 'content'],
    ['an edit over 4,000 characters', () => [EDIT, { id: message, content: 'x'.repeat(4001) }], 'content'],
    ['an edit with a NUL character', () => [EDIT, { id: message, content: 'a\u0000b' }], 'content'],
    ['an edit of a malformed id', () => [EDIT, { id: 'nope', content: 'x' }], 'id'],
    ['a reaction that is text', () => [REACT, { id: message, emoji: 'ok' }], 'emoji'],
    ['a reaction of two emojis', () => [REACT, { id: message, emoji: '👍👎' }], 'emoji'],
    ['a reaction over 32 code units', () => [REACT, { id: message, emoji: '👍'.repeat(17) }], 'emoji'],
    ['an empty reaction', () => [REACT, { id: message, emoji: '' }], 'emoji'],
    ['removing a reaction that is not an emoji', () => [UNREACT, { id: message, emoji: 'x' }], 'emoji'],
    ['a reaction to a malformed id', () => [REACT, { id: 'nope', emoji: '👍' }], 'messageId'],
    ['mark unread from a malformed message id', () => [UNREAD, { id: conversationId, from: 'nope' }], 'fromMessageId'],
    ['mark unread from an unknown message', () => [UNREAD, { id: conversationId, from: crypto.randomUUID() }], 'fromMessageId'],
  ];
  for (const [name, request, field] of cases) {
    it(name, async () => {
      const before = await state();
      const [document, variables] = request();
      const response = await t.gql(document, variables, client.token);
      expect(codes(response)).toEqual(['BAD_USER_INPUT']);
      expect(response.errors?.[0]?.extensions?.field).toBe(field);
      expect(await state()).toEqual(before);
    });
  }

  it('the same requests with good input do change things (the cases above are refused for their input alone)', async () => {
    const before = await state();
    expect(codes(await t.gql(EDIT, { id: message, content: 'edited' }, client.token))).toEqual([]);
    expect(codes(await t.gql(REACT, { id: message, emoji: '👍' }, client.token))).toEqual([]);
    expect(codes(await t.gql(UNREAD, { id: conversationId, from: read }, client.token))).toEqual([]);
    const after = await state();
    expect(after?.messages).not.toBe(before?.messages);
    expect(after?.reactions).toBe(Number(before?.reactions) + 1);
    expect(after?.counters).not.toBe(before?.counters);
  });
});

describe('search, uploads and profiles refuse bad input with BAD_USER_INPUT on the field, and store nothing', () => {
  const SEARCH = 'query($q: String!) { searchMessages(query: $q) { edges { snippet } } }';
  const UPLOAD = 'mutation($input: CreateAttachmentUploadInput!) { createAttachmentUpload(input: $input) { attachmentUrl } }';
  const PROFILE = 'mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { id } }';
  const file = (extra: Record<string, unknown>) => ({ conversationId, filename: 'photo.png', contentType: 'image/png', byteSize: 67, ...extra });
  const cases: [string, () => [string, Record<string, unknown>], string][] = [
    ['a blank search', () => [SEARCH, { q: '   ' }], 'query'],
    ['a search over 200 characters', () => [SEARCH, { q: 'x'.repeat(201) }], 'query'],
    ['an upload of 0 bytes', () => [UPLOAD, { input: file({ byteSize: 0 }) }], 'byteSize'],
    ['an upload over 10 MB', () => [UPLOAD, { input: file({ byteSize: 10 * 1024 * 1024 + 1 }) }], 'byteSize'],
    ['an upload of a type outside the allow-list', () => [UPLOAD, { input: file({ contentType: 'text/html' }) }], 'contentType'],
    ['an upload whose file name has a slash', () => [UPLOAD, { input: file({ filename: '../etc/passwd' }) }], 'filename'],
    ['an upload to a malformed conversation id', () => [UPLOAD, { input: file({ conversationId: 'nope' }) }], 'conversationId'],
    ['a blank display name', () => [PROFILE, { input: { displayName: ' ' } }], 'displayName'],
    ['an avatar URL the API did not issue', () => [PROFILE, { input: { avatarUrl: 'https://cdn.example/me.png' } }], 'avatarUrl'],
  ];
  const stored = async () =>
    (await t.sql(`SELECT (SELECT count(*) FROM "Upload")::int AS uploads, (SELECT string_agg(coalesce("displayName", '') || coalesce("avatarUploadId"::text, ''), ',' ORDER BY id) FROM "User") AS profiles`))[0];
  for (const [name, request, field] of cases) {
    it(name, async () => {
      const before = await stored();
      const [document, variables] = request();
      const response = await t.gql(document, variables, client.token);
      expect(codes(response)).toEqual(['BAD_USER_INPUT']);
      expect(response.errors?.[0]?.extensions?.field).toBe(field);
      expect(await stored()).toEqual(before);
    });
  }
});
