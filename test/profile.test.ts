import { describe, expect, it } from 'vitest';
import { print } from 'graphql';
import {
  CreateAttachmentUploadDocument,
  CreateAvatarUploadDocument,
  EventCursorDocument,
  EventsDocument,
  ProfileDocument,
  UpdateProfileDocument,
  type EventCursorQuery,
  type EventsQuery,
} from '../operations/generated/graphql.js';
import { useTestApp, type TestUser } from './support/app.js';
import { codes, openConversation } from './support/fixtures.js';
import { ok, putFile, run, TINY_JPEG, TINY_PDF, TINY_PNG, uploadAttachment, uploadAvatar } from './support/uploads.js';

const t = useTestApp({ RATE_LIMIT_UPLOADS_PER_MIN: '3' });

const profile = async (user: TestUser) => (await ok(t, ProfileDocument, {}, user.token)).me;

async function stored(user: TestUser) {
  const [row] = await t.sql<{ displayName: string | null; avatarUploadId: string | null }>(
    'SELECT "displayName", "avatarUploadId"::text FROM "User" WHERE "id" = $1',
    [user.id],
  );
  return row;
}

describe('displayName', () => {
  it('is "firstName lastName" from the token until the user sets one, trimmed', async () => {
    const salon = await t.user('SALON', 'Salon');
    expect(await profile(salon)).toEqual({ id: salon.id, role: 'SALON', displayName: 'Salon Test', avatarUrl: null });
    const updated = await ok(t, UpdateProfileDocument, { input: { displayName: '  Atelier Coiffure Élise  ' } }, salon.token);
    expect(updated.updateProfile.displayName).toBe('Atelier Coiffure Élise');
    expect((await profile(salon)).displayName).toBe('Atelier Coiffure Élise');
    // Omitted or null: left as it is.
    expect((await ok(t, UpdateProfileDocument, { input: { displayName: null } }, salon.token)).updateProfile.displayName).toBe('Atelier Coiffure Élise');
  });

  it("is what the other participant sees of the user", async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    await ok(t, UpdateProfileDocument, { input: { displayName: 'Camille Durand' } }, client.token);
    const view = await t.gql<{ conversation: { client: { displayName: string } } }>(
      'query($id: ID!) { conversation(id: $id) { client { displayName } } }',
      { id: conversationId },
      salon.token,
    );
    expect(view.data?.conversation.client.displayName).toBe('Camille Durand');
  });

  it('reaches the user and everyone they talk with as a UserUpdatedEvent; the same name again sends nothing', async () => {
    const salon = await t.user('SALON');
    const [client, other, stranger] = [await t.user('CLIENT'), await t.user('CLIENT'), await t.user('CLIENT')];
    await openConversation(t, salon, client);
    await openConversation(t, salon, other);
    const cursorOf = async (user: TestUser) => (await t.gql<EventCursorQuery>(print(EventCursorDocument), {}, user.token)).data!.eventCursor;
    const eventsOf = async (user: TestUser, after: string) =>
      (await t.gql<EventsQuery>(print(EventsDocument), { after }, user.token)).data!.events.edges.map((edge) => edge.node.payload);
    const cursors = new Map<TestUser, string>();
    for (const user of [salon, client, other, stranger]) cursors.set(user, await cursorOf(user));

    await ok(t, UpdateProfileDocument, { input: { displayName: 'Atelier Élise' } }, salon.token);
    await ok(t, UpdateProfileDocument, { input: { displayName: 'Atelier Élise' } }, salon.token);
    const told = { __typename: 'UserUpdatedEvent', user: { id: salon.id, displayName: 'Atelier Élise', avatarUrl: null } };
    for (const user of [salon, client, other]) expect(await eventsOf(user, cursors.get(user)!)).toEqual([told]);
    expect(await eventsOf(stranger, cursors.get(stranger)!)).toEqual([]);
  });

  const bad: [string, string][] = [
    ['empty', ''],
    ['whitespace only', '   '],
    ['over 100 characters', 'x'.repeat(101)],
    ['with a NUL', 'Ana\u0000is'],
  ];
  for (const [name, displayName] of bad) {
    it(`refuses a name ${name} with BAD_USER_INPUT and changes nothing`, async () => {
      const user = await t.user('CLIENT');
      const before = await stored(user);
      const response = await run(t, UpdateProfileDocument, { input: { displayName } }, user.token);
      expect(codes(response)).toEqual(['BAD_USER_INPUT']);
      expect(response.errors?.[0]?.extensions?.field).toBe('displayName');
      expect(await stored(user)).toEqual(before);
    });
  }

  it('takes exactly 100 characters', async () => {
    const user = await t.user('CLIENT');
    expect((await ok(t, UpdateProfileDocument, { input: { displayName: 'é'.repeat(100) } }, user.token)).updateProfile.displayName).toHaveLength(100);
  });

  it('needs a token', async () => {
    expect(codes(await run(t, UpdateProfileDocument, { input: { displayName: 'x' } }))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('avatarUrl, through the upload path', () => {
  it('an uploaded image becomes the avatar; a replaced or removed avatar stops being served', async () => {
    const user = await t.user('SALON');
    const first = await uploadAvatar(t, user);
    const updated = await ok(t, UpdateProfileDocument, { input: { avatarUrl: first, displayName: 'Studio Nord' } }, user.token);
    expect(updated.updateProfile.displayName).toBe('Studio Nord');
    const firstLink = updated.updateProfile.avatarUrl!;
    expect(firstLink).toMatch(/\/uploads\/[0-9a-f-]{36}\?expires=\d+&signature=/);
    const image = await fetch(firstLink);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await image.arrayBuffer())).toEqual(TINY_PNG);

    const second = await uploadAvatar(t, user, TINY_JPEG, 'image/jpeg');
    const replaced = (await ok(t, UpdateProfileDocument, { input: { avatarUrl: second } }, user.token)).updateProfile;
    expect(replaced.displayName).toBe('Studio Nord');
    expect((await fetch(replaced.avatarUrl!)).headers.get('content-type')).toBe('image/jpeg');
    expect((await fetch(firstLink)).status).toBe(404);

    const removed = (await ok(t, UpdateProfileDocument, { input: { avatarUrl: null } }, user.token)).updateProfile;
    expect(removed.avatarUrl).toBeNull();
    expect((await fetch(replaced.avatarUrl!)).status).toBe(404);
  });

  async function refusedAvatar(user: TestUser, avatarUrl: string, message: string) {
    const before = await stored(user);
    const response = await run(t, UpdateProfileDocument, { input: { avatarUrl, displayName: 'Should not be kept' } }, user.token);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.errors?.[0]?.extensions?.field).toBe('avatarUrl');
    expect(response.errors?.[0]?.message).toContain(message);
    expect(await stored(user)).toEqual(before);
  }

  it("refuses another user's avatar, an attachment upload, and any other URL", async () => {
    const user = await t.user('CLIENT');
    const other = await t.user('CLIENT');
    await refusedAvatar(user, await uploadAvatar(t, other), 'not an avatar you uploaded');
    const salon = await t.user('SALON');
    const conversationId = await openConversation(t, salon, user);
    await refusedAvatar(user, (await uploadAttachment(t, user, conversationId)).url, 'not an avatar you uploaded');
    await refusedAvatar(user, 'https://cdn.example/me.png', 'not an avatar you uploaded');
    await refusedAvatar(user, 'https://cdn.example/me\u0000.png', 'must not contain NUL');
  });

  it('refuses an avatar not uploaded yet, or whose bytes are not an image', async () => {
    const user = await t.user('CLIENT');
    const pending = await ok(t, CreateAvatarUploadDocument, { input: { filename: 'me.png', contentType: 'image/png', byteSize: 67 } }, user.token);
    await refusedAvatar(user, pending.createAvatarUpload.attachmentUrl, 'not uploaded yet');
    // Declared an image, but a PDF.
    const pdf = await ok(t, CreateAvatarUploadDocument, { input: { filename: 'me.png', contentType: 'image/png', byteSize: TINY_PDF.length } }, user.token);
    expect((await putFile(pdf.createAvatarUpload, TINY_PDF)).status).toBe(200);
    await refusedAvatar(user, pdf.createAvatarUpload.attachmentUrl, 'is not one of image/jpeg');
  });

  it('createAvatarUpload takes images only, 10 MB at most, and stores nothing otherwise', async () => {
    const user = await t.user('CLIENT');
    const uploads = async () => (await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM "Upload" WHERE "ownerId" = $1', [user.id]))[0]!.n;
    for (const input of [
      { filename: 'cv.pdf', contentType: 'application/pdf', byteSize: 100 },
      { filename: 'big.png', contentType: 'image/png', byteSize: 10 * 1024 * 1024 + 1 },
      { filename: '', contentType: 'image/png', byteSize: 100 },
    ]) {
      const response = await run(t, CreateAvatarUploadDocument, { input }, user.token);
      expect(codes(response)).toEqual(['BAD_USER_INPUT']);
    }
    expect(await uploads()).toBe(0);
  });

  it('shares one per-user limit with attachment uploads (RATE_LIMIT_UPLOADS_PER_MIN)', async () => {
    const input = { filename: 'me.png', contentType: 'image/png', byteSize: 67 };
    // Windows are calendar minutes: a run that straddles two is tried again with a fresh user.
    for (let attempt = 0; attempt < 2; attempt++) {
      const user = await t.user('CLIENT');
      const conversationId = await openConversation(t, await t.user('SALON'), user);
      const minute = Math.floor(Date.now() / 60_000);
      const results = [];
      for (let i = 0; i < 4; i++) {
        results.push(
          codes(
            i % 2 === 0
              ? await run(t, CreateAvatarUploadDocument, { input }, user.token)
              : await run(t, CreateAttachmentUploadDocument, { input: { ...input, conversationId } }, user.token),
          ),
        );
      }
      if (Math.floor(Date.now() / 60_000) !== minute) continue;
      expect(results).toEqual([[], [], [], ['RATE_LIMITED']]);
      return;
    }
    throw new Error('two minute boundaries in a row');
  });
});
