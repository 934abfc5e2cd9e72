import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendMessageDocument, UpdateProfileDocument } from '../operations/generated/graphql.js';
import { pruneUploads } from '../src/services/uploads.js';
import { getStore } from '../src/uploads/store.js';
import { useTestApp, type TestUser } from './support/app.js';
import { codes, openConversation } from './support/fixtures.js';
import { ok, putFile, requestAttachmentUpload, run, TINY_PNG, uploadAvatar } from './support/uploads.js';

// An S3-protocol server on loopback, started here: s3rver speaks the S3 REST API (presigned URLs
// included) over a folder. It does not check SigV4 signatures, so what the signature covers is
// asserted on the URL itself; what S3 enforces from it is S3's part.
const BUCKET = 'salon-test-uploads';
const folder = mkdtempSync(join(tmpdir(), 's3rver-'));
const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: folder, configureBuckets: [{ name: BUCKET, configs: [] }] });
const { port } = await s3.run();
const endpoint = `http://127.0.0.1:${port}`;

const t = useTestApp({
  S3_BUCKET: BUCKET,
  S3_REGION: 'us-east-1',
  S3_ENDPOINT: endpoint,
  S3_ACCESS_KEY_ID: 'S3RVER',
  S3_SECRET_ACCESS_KEY: 'S3RVER',
  S3_FORCE_PATH_STYLE: 'true',
  UPLOAD_URL_TTL_S: '300',
});

afterAll(async () => {
  await s3.close();
  rmSync(folder, { recursive: true, force: true });
});

let salon: TestUser;
let client: TestUser;
let conversationId: string;

beforeAll(async () => {
  salon = await t.user('SALON');
  client = await t.user('CLIENT');
  conversationId = await openConversation(t, salon, client);
});

const SEND_FIELDS = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id attachments { url type } } }';

describe('uploads to S3-compatible storage', () => {
  it('a presigned PUT to the bucket, checked at send, downloaded through a redirect; refused once the message is deleted', async () => {
    const upload = await requestAttachmentUpload(t, client, conversationId, TINY_PNG, 'image/png', 'photo.png');
    const target = new URL(upload.uploadUrl);
    expect(target.origin).toBe(endpoint);
    expect(target.pathname).toMatch(new RegExp(`^/${BUCKET}/attachments/${conversationId}/[0-9a-f-]{36}$`));
    // The signature covers the declared type, the exact length and create-only, and lasts UPLOAD_URL_TTL_S.
    expect(target.searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host;if-none-match');
    expect(Number(target.searchParams.get('X-Amz-Expires'))).toBeGreaterThan(290);
    expect(Number(target.searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(300);
    expect(target.searchParams.has('x-amz-checksum-crc32')).toBe(false);
    expect(upload.headers).toEqual([
      { name: 'content-type', value: 'image/png' },
      { name: 'if-none-match', value: '*' },
    ]);
    // The stable URL is the API's, whatever the store.
    expect(upload.attachmentUrl).toMatch(/^http:\/\/localhost:\d+\/uploads\/[0-9a-f-]{36}$/);

    expect((await putFile(upload, TINY_PNG)).status).toBe(200);
    const sent = await t.gql<{ sendMessage: { id: string; attachments: { url: string; type: string }[] } }>(
      SEND_FIELDS,
      { input: { conversationId, content: 'photo', attachments: [{ url: upload.attachmentUrl, type: 'image/png' }] } },
      client.token,
    );
    expect(sent.errors).toBeUndefined();
    const link = sent.data!.sendMessage.attachments[0]!.url;

    const redirect = await fetch(link, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const location = new URL(redirect.headers.get('location')!);
    expect(location.origin).toBe(endpoint);
    expect(location.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(location.searchParams.get('response-content-type')).toBe('image/png');

    const download = await fetch(link);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await download.arrayBuffer())).toEqual(TINY_PNG);

    await t.gql('mutation($id: ID!) { deleteMessage(id: $id) }', { id: sent.data!.sendMessage.id }, client.token);
    expect((await fetch(link, { redirect: 'manual' })).status).toBe(404);
  });

  it('reads the stored object itself: wrong magic bytes, more bytes than declared and a missing object are refused', async () => {
    const refusedSend = async (url: string, message: string) => {
      const response = await run(t, SendMessageDocument, { input: { conversationId, content: 'x', attachments: [{ url, type: 'image/png' }] } }, salon.token);
      expect(codes(response)).toEqual(['BAD_USER_INPUT']);
      expect(response.errors?.[0]?.message).toContain(message);
    };
    const before = await t.sql('SELECT count(*)::int AS n FROM "Message"');

    const fake = Buffer.from('%!PS-Adobe-3.0 not a png at all, whatever the header says.....');
    const wrong = await requestAttachmentUpload(t, salon, conversationId, fake, 'image/png');
    expect((await putFile(wrong, fake)).status).toBe(200);
    await refusedSend(wrong.attachmentUrl, 'is not one of image/jpeg');

    // Real S3 refuses a body whose length is not the signed one; the API does not rely on it.
    const longer = await requestAttachmentUpload(t, salon, conversationId, TINY_PNG, 'image/png');
    expect((await putFile(longer, Buffer.concat([TINY_PNG, Buffer.alloc(100)]))).status).toBe(200);
    await refusedSend(longer.attachmentUrl, `has ${TINY_PNG.length + 100} bytes, more than the ${TINY_PNG.length} allowed`);

    const missing = await requestAttachmentUpload(t, salon, conversationId, TINY_PNG, 'image/png');
    await refusedSend(missing.attachmentUrl, 'not uploaded yet');

    expect(await t.sql('SELECT count(*)::int AS n FROM "Message"')).toEqual(before);
  });

  it('the API takes no file bodies itself when S3 is configured', async () => {
    const upload = await requestAttachmentUpload(t, salon, conversationId, TINY_PNG, 'image/png');
    const response = await fetch(upload.attachmentUrl, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: Uint8Array.from(TINY_PNG) });
    expect(response.status).toBe(405);
  });

  it('avatars go through the bucket too', async () => {
    const avatarUrl = await uploadAvatar(t, salon);
    const { updateProfile } = await ok(t, UpdateProfileDocument, { input: { avatarUrl } }, salon.token);
    const image = await fetch(updateProfile.avatarUrl!);
    expect(image.status).toBe(200);
    expect(Buffer.from(await image.arrayBuffer())).toEqual(TINY_PNG);
  });

  it('the prune deletes the objects of unused uploads from the bucket, and keeps those in use', async () => {
    const unused = await requestAttachmentUpload(t, salon, conversationId, TINY_PNG, 'image/png');
    const used = await requestAttachmentUpload(t, salon, conversationId, TINY_PNG, 'image/png');
    for (const upload of [unused, used]) expect((await putFile(upload, TINY_PNG)).status).toBe(200);
    await ok(t, SendMessageDocument, { input: { conversationId, content: 'kept', attachments: [{ url: used.attachmentUrl, type: 'image/png' }] } }, salon.token);
    const keys = await t.sql<{ url: string; key: string }>('SELECT "url", "key" FROM "Upload" WHERE "url" = ANY($1)', [[unused.attachmentUrl, used.attachmentUrl]]);
    await t.sql(`UPDATE "Upload" SET "createdAt" = now() - interval '25 hours' WHERE "url" = ANY($1)`, [[unused.attachmentUrl, used.attachmentUrl]]);
    expect(await pruneUploads()).toBeGreaterThanOrEqual(1);
    const keyOf = (url: string) => keys.find((row) => row.url === url)!.key;
    expect(await getStore().probe(keyOf(unused.attachmentUrl))).toBeNull();
    expect(await getStore().probe(keyOf(used.attachmentUrl))).toMatchObject({ size: TINY_PNG.length });
  });
});
