import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import {
  CreateAttachmentUploadDocument,
  CreateAvatarUploadDocument,
  type AttachmentUploadFieldsFragment,
} from '../../operations/generated/graphql.js';
import type { GraphQLResponse, TestContext, TestUser } from './app.js';

/** A real 1×1 PNG (67 bytes). */
export const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);
/** The smallest JPEG header a sniff accepts: SOI then an APP0 marker. */
export const TINY_JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0xff, 0xd9]);
export const TINY_PDF = Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n');

/** A typed operation, as a client sends it. */
export async function run<R, V extends Record<string, unknown>>(t: TestContext, document: TypedDocumentNode<R, V>, variables: V, token?: string) {
  return t.gql<R>(print(document), variables, token) as Promise<GraphQLResponse<R>>;
}

export async function ok<R, V extends Record<string, unknown>>(t: TestContext, document: TypedDocumentNode<R, V>, variables: V, token?: string): Promise<R> {
  const response = await run(t, document, variables, token);
  if (!response.data || response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data;
}

export type IssuedUpload = AttachmentUploadFieldsFragment;

/** PUTs `bytes` where createAttachmentUpload/createAvatarUpload said, as a browser would. */
export function putFile(upload: IssuedUpload, bytes: Uint8Array, init: { headers?: Record<string, string> } = {}) {
  return fetch(upload.uploadUrl, {
    method: upload.method,
    headers: { ...Object.fromEntries(upload.headers.map((header) => [header.name, header.value])), ...init.headers },
    body: Uint8Array.from(bytes),
  });
}

export async function requestAttachmentUpload(t: TestContext, user: TestUser, conversationId: string, bytes: Uint8Array, contentType: string, filename = 'file') {
  const data = await ok(t, CreateAttachmentUploadDocument, { input: { conversationId, filename, contentType, byteSize: bytes.length } }, user.token);
  return data.createAttachmentUpload;
}

/**
 * Uploads a file to a conversation the way a client does (createAttachmentUpload, then the PUT)
 * and returns the AttachmentInput sendMessage takes.
 */
export async function uploadAttachment(t: TestContext, user: TestUser, conversationId: string, bytes: Uint8Array = TINY_PNG, type = 'image/png') {
  const upload = await requestAttachmentUpload(t, user, conversationId, bytes, type, `photo.${type.split('/')[1]}`);
  const put = await putFile(upload, bytes);
  if (!put.ok) throw new Error(`upload PUT failed: ${put.status} ${await put.text()}`);
  return { url: upload.attachmentUrl, type };
}

export async function uploadAvatar(t: TestContext, user: TestUser, bytes: Uint8Array = TINY_PNG, type = 'image/png') {
  const data = await ok(t, CreateAvatarUploadDocument, { input: { filename: 'me.png', contentType: type, byteSize: bytes.length } }, user.token);
  const put = await putFile(data.createAvatarUpload, bytes);
  if (!put.ok) throw new Error(`avatar PUT failed: ${put.status} ${await put.text()}`);
  return data.createAvatarUpload.attachmentUrl;
}
