import { randomUUID } from 'node:crypto';
import type { Viewer } from '../auth/viewer.js';
import { db } from '../db.js';
import { badInput } from '../errors.js';
import type { Upload, UploadPurpose } from '../generated/prisma/client.js';
import type { Uploads } from '../uploads/index.js';
import { sniffType } from '../uploads/sniff.js';
import { getStore, type UploadTarget } from '../uploads/store.js';
import { conversationForViewer } from './access.js';
import { ATTACHMENT_TYPES, rejectNul, requireId, requireText, type AttachmentInput } from './validation.js';

/** SPEC §5: no file over 10 MB (10,485,760 bytes), declared or stored. */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
export const MAX_FILENAME_LENGTH = 255;
export const AVATAR_TYPES = ATTACHMENT_TYPES.filter((type) => type.startsWith('image/'));

export interface UploadFileInput {
  filename: string;
  contentType: string;
  byteSize: number;
}

export interface AttachmentUploadInput extends UploadFileInput {
  conversationId: string;
}

/** What createAttachmentUpload and createAvatarUpload answer. */
export interface AttachmentUploadShape {
  uploadUrl: string;
  method: 'PUT';
  headers: { name: string; value: string }[];
  attachmentUrl: string;
  expiresAt: Date;
}

function requireFile(input: UploadFileInput, allowed: readonly string[]) {
  const filename = requireText(input.filename, 'filename', MAX_FILENAME_LENGTH);
  // It comes back in Content-Disposition: no control characters, no path.
  if (/[\u0000-\u001f\u007f/\\]/.test(filename)) throw badInput('filename must not contain control characters or slashes', 'filename');
  const contentType = rejectNul(input.contentType, 'contentType').trim().toLowerCase();
  if (!allowed.includes(contentType)) throw badInput(`contentType must be one of ${allowed.join(', ')}`, 'contentType');
  if (!Number.isInteger(input.byteSize) || input.byteSize < 1 || input.byteSize > MAX_UPLOAD_BYTES) {
    throw badInput(`byteSize must be the file's size in bytes, 1 to ${MAX_UPLOAD_BYTES} (10 MB)`, 'byteSize');
  }
  return { filename, contentType, byteSize: input.byteSize };
}

async function issue(
  uploads: Uploads,
  viewer: Viewer,
  file: ReturnType<typeof requireFile>,
  purpose: UploadPurpose,
  conversationId: string | null,
): Promise<AttachmentUploadShape> {
  const id = randomUUID();
  const key = purpose === 'ATTACHMENT' ? `attachments/${conversationId}/${id}` : `avatars/${viewer.id}/${id}`;
  const expiresAt = new Date(Date.now() + uploads.config.uploadUrlTtlS * 1000);
  const spec = { id, key, declaredType: file.contentType, byteSize: file.byteSize, expiresAt };
  // Signed before the row is written: a store that cannot sign leaves nothing behind.
  const target: UploadTarget =
    uploads.store.kind === 's3'
      ? await uploads.store.uploadTarget(spec)
      : {
          url: `${uploads.stableUrl(id)}?${uploads.signer.sign('PUT', id, Math.floor(expiresAt.getTime() / 1000))}`,
          headers: { 'content-type': file.contentType },
        };
  const url = uploads.stableUrl(id);
  await db.upload.create({
    data: { id, ownerId: viewer.id, conversationId, purpose, key, url, filename: file.filename, declaredType: file.contentType, byteSize: file.byteSize, expiresAt },
  });
  return {
    uploadUrl: target.url,
    method: 'PUT',
    headers: Object.entries(target.headers).map(([name, value]) => ({ name, value })),
    attachmentUrl: url,
    expiresAt,
  };
}

/** An upload URL for a file to attach in a conversation the viewer takes part in. */
export async function createAttachmentUpload(uploads: Uploads, viewer: Viewer, input: AttachmentUploadInput) {
  const conversationId = requireId(input.conversationId, 'conversationId');
  const file = requireFile(input, ATTACHMENT_TYPES);
  const conversation = await conversationForViewer(viewer, conversationId);
  if (conversation.status !== 'ACTIVE') throw badInput('This conversation is archived; set it ACTIVE again to send files', 'conversationId');
  return issue(uploads, viewer, file, 'ATTACHMENT', conversation.id);
}

/** An upload URL for the viewer's next avatar (images only). */
export async function createAvatarUpload(uploads: Uploads, viewer: Viewer, input: UploadFileInput) {
  return issue(uploads, viewer, requireFile(input, AVATAR_TYPES), 'AVATAR', null);
}

/**
 * What the stored bytes of an upload are, checked: there, at most 10 MB and no larger than
 * declared, and of an allowed type by their magic numbers. `field` names the input in errors.
 */
async function verifiedType(upload: Upload, field: string, allowed: readonly string[]): Promise<string> {
  const probe = await getStore().probe(upload.key);
  if (!probe) throw badInput(`${field}: the file was not uploaded yet; PUT it to the uploadUrl first`, field);
  if (probe.size > MAX_UPLOAD_BYTES || probe.size > upload.byteSize) {
    throw badInput(`${field}: the uploaded file has ${probe.size} bytes, more than the ${Math.min(upload.byteSize, MAX_UPLOAD_BYTES)} allowed`, field);
  }
  const type = sniffType(probe.head);
  if (!type || !allowed.includes(type)) {
    throw badInput(`${field}: the uploaded file is not one of ${allowed.join(', ')} (judged by its content)`, field);
  }
  return type;
}

/**
 * The attachments of a send, each checked against the upload it names: issued by
 * createAttachmentUpload to the sender for this conversation, uploaded, not sent before, and of
 * the type its bytes show (which `type` must state). Returns what the message stores. Writes
 * nothing: the send statement itself marks the uploads sent (appendStatement in messages.ts), so
 * of two sends racing with one file exactly one stores it.
 */
export async function verifiedAttachments(viewer: Viewer, conversationId: string, attachments: readonly AttachmentInput[]): Promise<AttachmentInput[]> {
  if (attachments.length === 0) return [];
  const found = await db.upload.findMany({ where: { url: { in: attachments.map((a) => a.url) } } });
  const byUrl = new Map(found.map((upload) => [upload.url, upload]));
  return Promise.all(
    attachments.map(async (attachment, index) => {
      const field = `attachments.${index}`;
      const upload = byUrl.get(attachment.url);
      if (!upload || upload.purpose !== 'ATTACHMENT' || upload.ownerId !== viewer.id || upload.conversationId !== conversationId) {
        throw badInput(`${field}.url is not a file you uploaded to this conversation: use the attachmentUrl of createAttachmentUpload`, `${field}.url`);
      }
      if (upload.sentAt || attachments.findIndex((other) => other.url === attachment.url) !== index) {
        throw badInput(`${field}.url was already sent; upload the file again to send it again`, `${field}.url`);
      }
      const type = await verifiedType(upload, `${field}.url`, ATTACHMENT_TYPES);
      if (type !== attachment.type) throw badInput(`${field}.type is ${attachment.type} but the file is ${type}`, `${field}.type`);
      return { url: upload.url, type };
    }),
  );
}

/** The avatar upload `url` names, checked like an attachment (images only), with its sniffed type. */
export async function verifiedAvatar(viewer: Viewer, url: string): Promise<{ upload: Upload; type: string }> {
  const upload = await db.upload.findUnique({ where: { url } });
  if (!upload || upload.purpose !== 'AVATAR' || upload.ownerId !== viewer.id) {
    throw badInput('avatarUrl is not an avatar you uploaded: use the attachmentUrl of createAvatarUpload', 'avatarUrl');
  }
  return { upload, type: await verifiedType(upload, 'avatarUrl', AVATAR_TYPES) };
}

/** Uploads nothing shows are kept this long after their URL was issued, for the send that names them. */
export const UNUSED_UPLOAD_RETENTION_MS = 24 * 3600 * 1000;
const PRUNE_BATCH = 500;

/**
 * Deletes uploads that nothing shows a day after they were issued — never sent, sent in messages
 * that were all deleted since, replaced avatars — with their files: the bytes of a deleted
 * message leave the storage too, not only the API's reach. Returns how many went.
 */
export async function pruneUploads(retentionMs = UNUSED_UPLOAD_RETENTION_MS): Promise<number> {
  const cutoff = new Date(Date.now() - retentionMs);
  let deleted = 0;
  for (;;) {
    // Rows first: once a row is gone nothing serves or accepts the file, whatever happens to the
    // object after. A deleted message has no MessageAttachment rows left, so any row is a live use.
    const rows = await db.$queryRaw<{ key: string }[]>`/* background: upload prune */
      DELETE FROM "Upload" WHERE "id" IN (
        SELECT u."id" FROM "Upload" u
         WHERE u."createdAt" < ${cutoff}
           AND NOT EXISTS (SELECT 1 FROM "User" WHERE "avatarUploadId" = u."id")
           AND NOT EXISTS (SELECT 1 FROM "MessageAttachment" a WHERE a."url" = u."url")
         LIMIT ${PRUNE_BATCH})
      RETURNING "key"`;
    if (rows.length === 0) return deleted;
    await getStore().removeMany(rows.map((row) => row.key));
    deleted += rows.length;
  }
}

/**
 * An upload that may be downloaded now, with the type to serve it as: an attachment of a message
 * that is not deleted, or someone's current avatar. Anything else (never sent, its message
 * deleted, a replaced avatar) is null, and the download is refused.
 */
export async function servableUpload(id: string): Promise<{ key: string; filename: string; type: string } | null> {
  const rows = await db.$queryRaw<{ key: string; filename: string; type: string | null }[]>`
    SELECT u."key", u."filename",
           CASE WHEN u."purpose" = 'ATTACHMENT' THEN (
                  SELECT a."type" FROM "MessageAttachment" a JOIN "Message" m ON m."id" = a."messageId"
                   WHERE a."url" = u."url" AND m."conversationId" = u."conversationId" AND m."isDeleted" = false
                   LIMIT 1)
                WHEN EXISTS (SELECT 1 FROM "User" WHERE "avatarUploadId" = u."id") THEN u."sniffedType"
           END AS "type"
      FROM "Upload" u
     WHERE u."id" = ${id}::uuid`;
  const row = rows[0];
  return row?.type ? { key: row.key, filename: row.filename, type: row.type } : null;
}
