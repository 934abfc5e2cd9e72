import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CreateAttachmentUploadDocument,
  SendMessageDocument,
} from '../operations/generated/graphql.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { QUEUES } from '../src/jobs/queue.js';
import { sniffType } from '../src/uploads/sniff.js';
import { createUrlSigner } from '../src/uploads/signing.js';
import { TEST_SECRET, useTestApp, type TestUser } from './support/app.js';
import { codes, openConversation } from './support/fixtures.js';
import { ok, putFile, requestAttachmentUpload, run, TINY_JPEG, TINY_PDF, TINY_PNG, uploadAttachment } from './support/uploads.js';

const t = useTestApp();

const signer = createUrlSigner(TEST_SECRET);
const MAX = 10 * 1024 * 1024;

let salon: TestUser;
let client: TestUser;
let conversationId: string;

beforeAll(async () => {
  salon = await t.user('SALON');
  client = await t.user('CLIENT');
  conversationId = await openConversation(t, salon, client);
});

const SEND_FIELDS = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id attachments { url type } } }';
const DELETE = 'mutation($id: ID!) { deleteMessage(id: $id) }';

async function counts() {
  const [row] = await t.sql(
    `SELECT (SELECT count(*) FROM "Message")::int AS messages, (SELECT count(*) FROM "MessageAttachment")::int AS attachments,
            (SELECT count(*) FROM "Upload")::int AS uploads`,
  );
  return row;
}

const idOf = (attachmentUrl: string) => new URL(attachmentUrl).pathname.split('/').pop()!;
const origin = () => new URL(t.app.url()).origin;

describe('sniffing the bytes', () => {
  const ftyp = (major: string, ...compatible: string[]) => {
    const brands = [major, '\0\0\0\0', ...compatible].join('');
    const box = Buffer.alloc(8 + brands.length);
    box.writeUInt32BE(box.length, 0);
    box.write('ftyp', 4, 'latin1');
    box.write(brands, 8, 'latin1');
    return box;
  };
  it.each([
    ['image/png', TINY_PNG],
    ['image/jpeg', TINY_JPEG],
    ['image/gif', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1')],
    ['image/gif', Buffer.from('GIF87a\x01\x00\x01\x00', 'latin1')],
    ['image/webp', Buffer.from('RIFF\x24\x00\x00\x00WEBPVP8 ', 'latin1')],
    ['application/pdf', TINY_PDF],
    ['image/heic', ftyp('heic', 'mif1', 'heic')],
    ['image/heic', ftyp('heix', 'mif1')],
    ['image/heic', ftyp('mif1', 'mif1', 'heic')],
  ])('recognises %s', (type, bytes) => {
    expect(sniffType(bytes)).toBe(type);
  });
  it.each([
    ['HTML', Buffer.from('<!doctype html><script>alert(1)</script>')],
    ['an AVIF (mif1 without a HEVC brand)', ftyp('mif1', 'avif', 'miaf')],
    ['an MP4', ftyp('isom', 'mp41')],
    ['a RIFF WAV', Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1')],
    ['a truncated PNG signature', TINY_PNG.subarray(0, 7)],
    ['nothing', Buffer.alloc(0)],
  ])('refuses %s', (_name, bytes) => {
    expect(sniffType(bytes)).toBeNull();
  });
});

describe('the local store, end to end over HTTP', () => {
  it('create → PUT → send → both participants download it → delete the message → the link is refused', async () => {
    const upload = await requestAttachmentUpload(t, client, conversationId, TINY_PNG, 'image/png', 'photo été.png');
    expect(upload.method).toBe('PUT');
    expect(upload.headers).toEqual([{ name: 'content-type', value: 'image/png' }]);
    expect(upload.attachmentUrl).toBe(`http://localhost:${new URL(t.app.url()).port}/uploads/${idOf(upload.attachmentUrl)}`);
    expect(new Date(upload.expiresAt as string).getTime()).toBeGreaterThan(Date.now() + 800_000);
    expect((await putFile(upload, TINY_PNG)).status).toBe(200);

    const sent = await ok(t, SendMessageDocument, { input: { conversationId, content: 'my photo', attachments: [{ url: upload.attachmentUrl, type: 'image/png' }] } }, client.token);
    const messageId = sent.sendMessage.id;
    const [stored] = await t.sql<{ url: string; type: string }>('SELECT "url", "type" FROM "MessageAttachment" WHERE "messageId" = $1', [messageId]);
    expect(stored).toEqual({ url: upload.attachmentUrl, type: 'image/png' });

    // The recipient reads the message and gets a signed link, not the stored URL.
    const view = await t.gql<{ messages: { edges: { node: { attachments: { url: string; type: string }[] } }[] } }>(
      'query($id: ID!) { messages(conversationId: $id, first: 1) { edges { node { attachments { url type } } } } }',
      { id: conversationId },
      salon.token,
    );
    const link = view.data!.messages.edges[0]!.node.attachments[0]!;
    expect(link.type).toBe('image/png');
    expect(link.url).toMatch(/\/uploads\/[0-9a-f-]{36}\?expires=\d+&signature=[\w-]+$/);
    const expires = Number(new URL(link.url).searchParams.get('expires'));
    expect(expires - Date.now() / 1000).toBeGreaterThan(3590);
    expect(expires - Date.now() / 1000).toBeLessThan(3600 + 900 + 5);

    const download = await fetch(link.url);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('image/png');
    expect(download.headers.get('x-content-type-options')).toBe('nosniff');
    expect(download.headers.get('content-disposition')).toBe(`inline; filename="photo _t_.png"; filename*=UTF-8''photo%20%C3%A9t%C3%A9.png`);
    expect(download.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
    expect(Buffer.from(await download.arrayBuffer())).toEqual(TINY_PNG);
    expect((await fetch(link.url, { method: 'HEAD' })).status).toBe(200);

    expect((await t.gql(DELETE, { id: messageId }, client.token)).errors).toBeUndefined();
    const gone = await fetch(link.url);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual({ error: expect.stringContaining('deleted') });
  });

  it('a file is sent once: again in another message, twice in one, after its message was deleted, or by two sends at once, it is refused and nothing is stored', async () => {
    const messagesNow = async () => (await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM "Message" WHERE "conversationId" = $1', [conversationId]))[0]!.n;
    const send = (content: string, attachments: { url: string; type: string }[], clientMessageId?: string) =>
      run(t, SendMessageDocument, { input: { conversationId, content, attachments, ...(clientMessageId ? { clientMessageId } : {}) } }, client.token);

    const photo = await uploadAttachment(t, client, conversationId);
    const first = await send('first', [photo]);
    expect(first.errors).toBeUndefined();
    const before = await messagesNow();
    const again = await send('again', [photo]);
    expect({ codes: codes(again), field: again.errors?.[0]?.extensions?.field }).toEqual({ codes: ['BAD_USER_INPUT'], field: 'attachments.0.url' });
    const other = await uploadAttachment(t, client, conversationId);
    const twice = await send('twice', [other, other]);
    expect({ codes: codes(twice), field: twice.errors?.[0]?.extensions?.field }).toEqual({ codes: ['BAD_USER_INPUT'], field: 'attachments.1.url' });
    // Deleting the message does not free its file for another: its links stay dead.
    await t.gql(DELETE, { id: first.data!.sendMessage.id }, client.token);
    expect(codes(await send('after delete', [photo]))).toEqual(['BAD_USER_INPUT']);
    expect(await messagesNow()).toBe(before);

    // Two sends with one fresh file at the same moment: one message has it, the other is refused.
    // The upload's row is held locked until both have checked the file and wait to take it, so
    // the race is the worst case every time, not a matter of timing.
    const raced = await uploadAttachment(t, client, conversationId);
    const locker = new pg.Client({ connectionString: t.databaseUrl });
    await locker.connect();
    let racing: Awaited<ReturnType<typeof send>>[];
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM "Upload" WHERE "url" = $1 FOR UPDATE', [raced.url]);
      const pending = Promise.all([send('race a', [raced]), send('race b', [raced])]);
      // Not on the locker's connection: inside a transaction, pg_stat_activity is read once and kept.
      const waiting = async () =>
        (await t.sql<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))[0]!.n;
      await expect.poll(waiting).toBe(2);
      await locker.query('COMMIT');
      racing = await pending;
    } finally {
      await locker.end();
    }
    expect(racing.map((r) => codes(r)).sort()).toEqual([[], ['BAD_USER_INPUT']]);
    expect(await messagesNow()).toBe(before + 1);
    // …unless they are one retry (same clientMessageId): both get the one message.
    const retried = await uploadAttachment(t, client, conversationId);
    const retries = await Promise.all([send('retry', [retried], 'retry-1'), send('retry', [retried], 'retry-1'), send('retry', [retried], 'retry-1')]);
    expect(retries.map((r) => codes(r))).toEqual([[], [], []]);
    expect(new Set(retries.map((r) => r.data!.sendMessage.id)).size).toBe(1);
    expect(await messagesNow()).toBe(before + 2);
  });

  it('an attachment stored before uploads existed keeps the URL it was sent with', async () => {
    const legacy = await t.user('CLIENT');
    const legacyConversation = await openConversation(t, salon, legacy);
    const { id } = (await ok(t, SendMessageDocument, { input: { conversationId: legacyConversation, content: 'old' } }, legacy.token)).sendMessage;
    await t.sql(`INSERT INTO "MessageAttachment" ("id", "messageId", "url", "type", "updatedAt") VALUES (gen_random_uuid(), $1, 'https://cdn.example/old.png', 'image/png', now())`, [id]);
    const view = await t.gql<{ messages: { edges: { node: { attachments: { url: string }[] } }[] } }>(
      'query($id: ID!) { messages(conversationId: $id, first: 1) { edges { node { attachments { url } } } } }',
      { id: legacyConversation },
      salon.token,
    );
    expect(view.data?.messages.edges[0]?.node.attachments).toEqual([{ url: 'https://cdn.example/old.png' }]);
  });

  it('a PDF goes through too, with its type from the bytes', async () => {
    const pdf = await uploadAttachment(t, salon, conversationId, TINY_PDF, 'application/pdf');
    const sent = await t.gql<{ sendMessage: { attachments: { url: string; type: string }[] } }>(SEND_FIELDS, { input: { conversationId, content: 'devis', attachments: [pdf] } }, salon.token);
    const link = sent.data!.sendMessage.attachments[0]!;
    const download = await fetch(link.url);
    expect(download.headers.get('content-type')).toBe('application/pdf');
    expect(Buffer.from(await download.arrayBuffer())).toEqual(TINY_PDF);
  });

  it('an upload never sent cannot be downloaded, even with a valid signature', async () => {
    const upload = await requestAttachmentUpload(t, salon, conversationId, TINY_PNG, 'image/png');
    expect((await putFile(upload, TINY_PNG)).status).toBe(200);
    const id = idOf(upload.attachmentUrl);
    const response = await fetch(`${origin()}/uploads/${id}?${signer.sign('GET', id, Math.floor(Date.now() / 1000) + 60)}`);
    expect(response.status).toBe(404);
    // The stable URL alone is no download link.
    expect((await fetch(upload.attachmentUrl)).status).toBe(403);
  });

  it('expired and tampered URLs are refused, for downloads and uploads alike', async () => {
    const attachment = await uploadAttachment(t, salon, conversationId);
    const sent = await t.gql<{ sendMessage: { attachments: { url: string }[] } }>(SEND_FIELDS, { input: { conversationId, content: 'x', attachments: [attachment] } }, salon.token);
    const link = new URL(sent.data!.sendMessage.attachments[0]!.url);
    const id = link.pathname.split('/').pop()!;
    expect((await fetch(link)).status).toBe(200);

    const past = Math.floor(Date.now() / 1000) - 1;
    const expired = await fetch(`${origin()}/uploads/${id}?${signer.sign('GET', id, past)}`);
    expect(expired.status).toBe(403);
    expect(await expired.json()).toEqual({ error: expect.stringContaining('expired') });

    const later = new URL(link);
    later.searchParams.set('expires', String(Number(link.searchParams.get('expires')) + 3600));
    const signature = link.searchParams.get('signature')!;
    const flipped = new URL(link);
    flipped.searchParams.set('signature', (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1));
    const otherFile = await uploadAttachment(t, salon, conversationId);
    const elsewhere = new URL(link);
    elsewhere.pathname = `/uploads/${idOf(otherFile.url)}`;
    for (const forged of [later, flipped, elsewhere]) {
      const response = await fetch(forged);
      expect(response.status).toBe(403);
      expect(await response.json()).toEqual({ error: 'Invalid download URL signature' });
    }

    // A download signature does not let anyone write, nor does an expired upload URL.
    const upload = await requestAttachmentUpload(t, salon, conversationId, TINY_PNG, 'image/png');
    const putWith = (query: string) =>
      fetch(`${origin()}/uploads/${idOf(upload.attachmentUrl)}?${query}`, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: TINY_PNG });
    expect((await putWith(signer.sign('GET', idOf(upload.attachmentUrl), past + 3600))).status).toBe(403);
    expect((await putWith(signer.sign('PUT', idOf(upload.attachmentUrl), past))).status).toBe(403);
    const send = await run(t, SendMessageDocument, { input: { conversationId, content: 'x', attachments: [{ url: upload.attachmentUrl, type: 'image/png' }] } }, salon.token);
    expect(codes(send)).toEqual(['BAD_USER_INPUT']);
    expect(send.errors?.[0]?.message).toContain('not uploaded yet');
  });

  it('an upload is written once, with the declared type and length', async () => {
    const upload = await requestAttachmentUpload(t, salon, conversationId, TINY_PNG, 'image/png');
    const wrongType = await putFile(upload, TINY_PNG, { headers: { 'content-type': 'text/html' } });
    expect(wrongType.status).toBe(400);
    const shorter = await putFile(upload, TINY_PNG.subarray(0, 10));
    expect(shorter.status).toBe(400);
    expect((await putFile(upload, TINY_PNG)).status).toBe(200);
    const again = await putFile(upload, TINY_PNG);
    expect(again.status).toBe(409);
  });
});

describe('over the size limit', () => {
  it('a declared size over 10 MB is refused before any upload URL exists', async () => {
    const before = await counts();
    const response = await run(t, CreateAttachmentUploadDocument, { input: { conversationId, filename: 'big.png', contentType: 'image/png', byteSize: MAX + 1 } }, salon.token);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.errors?.[0]?.message).toContain('10 MB');
    expect(await counts()).toEqual(before);
  });

  it('a body larger than declared gets 413 at once (Content-Length) or as soon as it passes (chunked), and nothing is kept', async () => {
    const upload = await requestAttachmentUpload(t, salon, conversationId, TINY_PNG, 'image/png');
    const declared = await putFile(upload, Buffer.concat([TINY_PNG, Buffer.alloc(1)]));
    expect(declared.status).toBe(413);

    // 11 MB sent chunked, without a length: refused once the declared 67 bytes are passed.
    const target = new URL(upload.uploadUrl);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(target, { method: 'PUT', headers: { 'content-type': 'image/png', 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = Buffer.concat([TINY_PNG, Buffer.alloc(1024 * 1024 - TINY_PNG.length)]);
      let sent = 0;
      const pump = () => {
        while (sent < 11) {
          sent++;
          if (!req.write(chunk)) return req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(413);
    const send = await run(t, SendMessageDocument, { input: { conversationId, content: 'x', attachments: [{ url: upload.attachmentUrl, type: 'image/png' }] } }, salon.token);
    expect(send.errors?.[0]?.message).toContain('not uploaded yet');
  });
});

describe('what sendMessage accepts', () => {
  async function refused(user: TestUser, attachments: { url: string; type: string }[], message: string, conversation = conversationId) {
    const before = await counts();
    const response = await run(t, SendMessageDocument, { input: { conversationId: conversation, content: 'hi', attachments } }, user.token);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.errors?.[0]?.message).toContain(message);
    expect(await counts()).toEqual(before);
  }

  it('bytes that are not an allowed type are refused, whatever was declared', async () => {
    const html = Buffer.from('<!doctype html><script>alert(document.domain)</script>');
    const upload = await requestAttachmentUpload(t, salon, conversationId, html, 'image/png');
    expect((await putFile(upload, html)).status).toBe(200);
    await refused(salon, [{ url: upload.attachmentUrl, type: 'image/png' }], 'is not one of image/jpeg');
  });

  it('a type that is not what the bytes are is refused; the right one is accepted', async () => {
    const jpeg = await uploadAttachment(t, salon, conversationId, TINY_JPEG, 'image/jpeg');
    await refused(salon, [{ url: jpeg.url, type: 'image/png' }], 'attachments.0.type is image/png but the file is image/jpeg');
    expect((await run(t, SendMessageDocument, { input: { conversationId, content: 'ok', attachments: [jpeg] } }, salon.token)).errors).toBeUndefined();
  });

  it('a URL issued for another conversation, to the other participant, or not by this API is refused', async () => {
    const other = await t.user('CLIENT');
    const otherConversation = await openConversation(t, salon, other);
    const elsewhere = await uploadAttachment(t, salon, otherConversation);
    await refused(salon, [elsewhere], 'not a file you uploaded to this conversation');
    const theirs = await uploadAttachment(t, client, conversationId);
    await refused(salon, [theirs], 'not a file you uploaded to this conversation');
    await refused(salon, [{ url: 'https://cdn.example/photo.png', type: 'image/png' }], 'use the attachmentUrl of createAttachmentUpload');
    // The same file named in its own conversation is fine.
    expect((await run(t, SendMessageDocument, { input: { conversationId: otherConversation, content: 'ok', attachments: [elsewhere] } }, salon.token)).errors).toBeUndefined();
  });
});

describe('createAttachmentUpload refuses bad input and stores nothing', () => {
  const input = (override: Record<string, unknown>) => ({ conversationId, filename: 'a.png', contentType: 'image/png', byteSize: 67, ...override });
  const cases: [string, () => Record<string, unknown>, string][] = [
    ['an empty filename', () => input({ filename: '  ' }), 'BAD_USER_INPUT'],
    ['a filename with a slash', () => input({ filename: '../etc/passwd' }), 'BAD_USER_INPUT'],
    ['a filename with a control character', () => input({ filename: 'a\u0007.png' }), 'BAD_USER_INPUT'],
    ['a filename over 255 characters', () => input({ filename: `${'a'.repeat(252)}.png` }), 'BAD_USER_INPUT'],
    ['a type outside the allow-list', () => input({ contentType: 'text/html' }), 'BAD_USER_INPUT'],
    ['a zero size', () => input({ byteSize: 0 }), 'BAD_USER_INPUT'],
    ['a negative size', () => input({ byteSize: -5 }), 'BAD_USER_INPUT'],
    ['a malformed conversation id', () => input({ conversationId: 'nope' }), 'BAD_USER_INPUT'],
    ['a conversation of others', () => input({ conversationId: '00000000-0000-4000-8000-000000000000' }), 'NOT_FOUND'],
  ];
  for (const [name, make, code] of cases) {
    it(name, async () => {
      const before = await counts();
      const response = await run(t, CreateAttachmentUploadDocument, { input: make() as never }, salon.token);
      expect(codes(response)).toEqual([code]);
      expect(response.errors?.[0]?.message).toBeTruthy();
      expect(await counts()).toEqual(before);
    });
  }

  it('without a token: UNAUTHENTICATED', async () => {
    expect(codes(await run(t, CreateAttachmentUploadDocument, { input: input({}) as never }))).toEqual(['UNAUTHENTICATED']);
  });

  it('an archived conversation takes no new files', async () => {
    const other = await t.user('CLIENT');
    const archived = await openConversation(t, salon, other);
    await t.gql('mutation($id: ID!) { archiveConversation(id: $id) { id } }', { id: archived }, salon.token);
    const response = await run(t, CreateAttachmentUploadDocument, { input: input({ conversationId: archived }) as never }, salon.token);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
  });
});

describe('unused uploads are deleted with their files', () => {
  it('hourly, a day after they were issued: never sent, or every message showing them deleted; files in use stay', async () => {
    const [schedule] = await t.sql<{ cron: string }>('SELECT cron FROM pgboss.schedule WHERE name = $1', [QUEUES.uploadPrune]);
    expect(schedule).toEqual({ cron: '47 * * * *' });

    const unsent = await uploadAttachment(t, salon, conversationId);
    const kept = await uploadAttachment(t, salon, conversationId);
    const deletedOne = await uploadAttachment(t, salon, conversationId);
    const recent = await uploadAttachment(t, salon, conversationId);
    await ok(t, SendMessageDocument, { input: { conversationId, content: 'kept', attachments: [kept] } }, salon.token);
    const doomed = await ok(t, SendMessageDocument, { input: { conversationId, content: 'doomed', attachments: [deletedOne] } }, salon.token);
    await t.gql(DELETE, { id: doomed.sendMessage.id }, salon.token);
    const ids = [unsent, kept, deletedOne].map((a) => idOf(a.url));
    await t.sql(`UPDATE "Upload" SET "createdAt" = now() - interval '25 hours' WHERE "id" = ANY($1::uuid[])`, [ids]);
    const fileOf = async (url: string) => {
      const [row] = await t.sql<{ key: string }>('SELECT "key" FROM "Upload" WHERE "url" = $1', [url]);
      return join(t.config.uploads.localDir, row!.key);
    };
    const files = { unsent: await fileOf(unsent.url), kept: await fileOf(kept.url), deletedOne: await fileOf(deletedOne.url), recent: await fileOf(recent.url) };
    expect(Object.values(files).every((file) => existsSync(file))).toBe(true);

    // What the cron tick does: one job on the queue, taken by an instance's worker.
    const boss = new PgBoss({ connectionString: t.databaseUrl, max: 1, supervise: false, schedule: false });
    await boss.start();
    try {
      await boss.send(QUEUES.uploadPrune, {});
    } finally {
      await boss.stop({ graceful: false });
    }
    await expect
      .poll(() => Object.fromEntries(Object.entries(files).map(([name, file]) => [name, existsSync(file)])), { timeout: 10_000 })
      .toEqual({ unsent: false, kept: true, deletedOne: false, recent: true });
    const left = await t.sql<{ url: string }>('SELECT "url" FROM "Upload" WHERE "url" = ANY($1)', [[unsent.url, kept.url, deletedOne.url, recent.url]]);
    expect(left.map((row) => row.url).sort()).toEqual([kept.url, recent.url].sort());
  });
});

describe('browsers', () => {
  it('answer the CORS preflight of the PUT', async () => {
    const upload = await requestAttachmentUpload(t, salon, conversationId, TINY_PNG, 'image/png');
    const preflight = await fetch(upload.uploadUrl, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.example', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://app.example');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('PUT');
  });
});

describe('configuration', () => {
  const base = { NODE_ENV: 'test', JWT_SECRET: TEST_SECRET };
  it('nothing set: the local store in .data/uploads, URLs on http://localhost:<port>', () => {
    const { uploads } = loadConfig(base);
    expect(uploads).toEqual({ s3: undefined, localDir: '.data/uploads', publicUrl: undefined, uploadUrlTtlS: 900, downloadUrlTtlS: 3600 });
  });
  it('S3_BUCKET turns S3 on; the other S3_* variables tune it', () => {
    const { uploads } = loadConfig({ ...base, S3_BUCKET: 'b1', S3_ENDPOINT: 'https://acc.r2.cloudflarestorage.com', S3_REGION: 'auto', S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's', S3_FORCE_PATH_STYLE: 'true', PUBLIC_URL: 'https://api.example.com/' });
    expect(uploads.s3).toEqual({ bucket: 'b1', region: 'auto', endpoint: 'https://acc.r2.cloudflarestorage.com', credentials: { accessKeyId: 'k', secretAccessKey: 's' }, forcePathStyle: true });
    expect(uploads.publicUrl).toBe('https://api.example.com');
    expect(loadConfig({ ...base, S3_BUCKET: 'b1' }).uploads.s3).toEqual({ bucket: 'b1', region: 'us-east-1', endpoint: undefined, credentials: undefined, forcePathStyle: false });
  });
  it.each([
    [{ S3_ENDPOINT: 'http://127.0.0.1:9000' }, 'S3_ENDPOINT set without S3_BUCKET'],
    [{ S3_BUCKET: 'b1', S3_ACCESS_KEY_ID: 'k' }, 'must be set together'],
    [{ S3_BUCKET: 'b1', S3_ENDPOINT: 'minio:9000' }, 'S3_ENDPOINT'],
    [{ PUBLIC_URL: 'https://api.example.com/v1' }, 'PUBLIC_URL must be an origin'],
    [{ UPLOAD_URL_TTL_S: '0' }, 'UPLOAD_URL_TTL_S'],
  ])('refuses %o at start', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });
});
