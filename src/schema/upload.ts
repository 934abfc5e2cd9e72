import { createAttachmentUpload, createAvatarUpload, MAX_UPLOAD_BYTES, AVATAR_TYPES, type AttachmentUploadShape } from '../services/uploads.js';
import { ATTACHMENT_TYPES } from '../services/validation.js';
import { builder } from './builder.js';

const UploadHeader = builder.objectRef<{ name: string; value: string }>('UploadHeader').implement({
  description: 'An HTTP header the upload request must carry.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Header name, lower-case (e.g. content-type).' }),
    value: t.exposeString('value', { description: 'Its exact value.' }),
  }),
});

export const AttachmentUpload = builder.objectRef<AttachmentUploadShape>('AttachmentUpload').implement({
  description:
    'Where to send a file: PUT its bytes to `uploadUrl` with `headers` before `expiresAt`, then pass `attachmentUrl` to sendMessage (AttachmentInput.url) or updateProfile (avatarUrl).',
  fields: (t) => ({
    uploadUrl: t.exposeString('uploadUrl', {
      description:
        'Signed URL the file goes to, until expiresAt: the S3-compatible storage (a presigned PUT) when it is configured, else this API (`/uploads/<id>`). The file is written once. The URL carries its own authorization: send no Authorization header.',
    }),
    method: t.exposeString('method', { description: 'The HTTP method to use: always PUT.' }),
    headers: t.field({
      type: [UploadHeader],
      description: 'Headers the PUT must carry: content-type as declared, and with S3 `if-none-match: *` (create only). The body must be exactly byteSize bytes.',
      resolve: (upload) => upload.headers,
    }),
    attachmentUrl: t.exposeString('attachmentUrl', {
      description:
        'The stable URL that names the file once uploaded: what sendMessage and updateProfile accept. It is not a download link; read MessageAttachment.url or User.avatarUrl for one.',
    }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', description: 'The upload URL stops working then (UPLOAD_URL_TTL_S after it was issued).' }),
  }),
});


const CreateAttachmentUploadInput = builder.inputType('CreateAttachmentUploadInput', {
  description: 'A file to attach to a message of a conversation.',
  fields: (t) => ({
    conversationId: t.id({ description: 'The conversation it will be sent to (the viewer takes part in it, and it is ACTIVE).' }),
    filename: t.string({ description: 'The file name shown on download, 1–255 characters, no slashes or control characters.' }),
    contentType: t.string({ description: `The file's MIME type, one of ${ATTACHMENT_TYPES.join(', ')}; the file's bytes must agree when it is sent.` }),
    byteSize: t.int({ description: `The file's exact size in bytes, 1 to ${MAX_UPLOAD_BYTES} (10 MB).` }),
  }),
});

const CreateAvatarUploadInput = builder.inputType('CreateAvatarUploadInput', {
  description: "An image for the viewer's avatar.",
  fields: (t) => ({
    filename: t.string({ description: 'The file name, 1–255 characters, no slashes or control characters.' }),
    contentType: t.string({ description: `The image's MIME type, one of ${AVATAR_TYPES.join(', ')}; its bytes must agree.` }),
    byteSize: t.int({ description: `The image's exact size in bytes, 1 to ${MAX_UPLOAD_BYTES} (10 MB).` }),
  }),
});

builder.mutationFields((t) => ({
  createAttachmentUpload: t.withAuth({ viewer: true }).field({
    type: AttachmentUpload,
    description:
      'Issues an upload URL for a file to attach in a conversation. Rate limited per user (RATE_LIMIT_UPLOADS_PER_MIN). The file is checked (size, type by its bytes) when sendMessage names it.',
    args: { input: t.arg({ type: CreateAttachmentUploadInput, description: 'The file to upload.' }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.limiter.hit('upload', ctx.viewer.id, ctx.config.limits.uploadsPerMin);
      return createAttachmentUpload(ctx.uploads, ctx.viewer, input);
    },
  }),
  createAvatarUpload: t.withAuth({ viewer: true }).field({
    type: AttachmentUpload,
    description:
      "Issues an upload URL for the viewer's avatar (an image). Pass its attachmentUrl to updateProfile as avatarUrl once uploaded. Counts toward the same per-user limit as createAttachmentUpload.",
    args: { input: t.arg({ type: CreateAvatarUploadInput, description: 'The image to upload.' }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.limiter.hit('upload', ctx.viewer.id, ctx.config.limits.uploadsPerMin);
      return createAvatarUpload(ctx.uploads, ctx.viewer, input);
    },
  }),
}));
