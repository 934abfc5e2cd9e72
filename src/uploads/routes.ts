import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { db } from '../db.js';
import { logger } from '../logger.js';
import { MAX_UPLOAD_BYTES, servableUpload } from '../services/uploads.js';
import { UPLOAD_PATH, type Uploads } from './index.js';
import { AlreadyUploaded, UploadTooLarge } from './local-store.js';

/** RFC 6266: an ASCII fallback and the UTF-8 name. */
function contentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `inline; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

function answer(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify({ error: message }));
}

/**
 * `/uploads/<id>`: PUT writes a local-store upload (signed upload URL), GET and HEAD download any
 * upload (signed download URL) once the API has checked it may still be seen. Every other path
 * goes to `next` (yoga). These bodies are files, streamed to disk: they never pass through the
 * GraphQL body limit, and are bounded by the size the upload declared instead.
 */
export function uploadRoutes(uploads: Uploads, isAllowedOrigin: (origin: string | null) => boolean, next: RequestListener): RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = UPLOAD_PATH.exec(url.pathname);
    if (!match) return next(req, res);
    const id = match[1]!;
    const origin = req.headers.origin ?? null;
    if (!isAllowedOrigin(origin)) return answer(res, 403, 'Origin not allowed');
    // Browsers PUT the file from the frontend's origin; tokens are not involved (the URL is the credential).
    const cors: Record<string, string> = origin ? { 'access-control-allow-origin': origin, vary: 'origin' } : {};
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'access-control-allow-methods': 'GET, HEAD, PUT', 'access-control-allow-headers': 'content-type', 'access-control-max-age': '600' });
      return res.end();
    }
    const handle = req.method === 'PUT' ? receive : req.method === 'GET' || req.method === 'HEAD' ? serve : undefined;
    if (!handle) return answer(res, 405, 'Method not allowed', { ...cors, allow: 'GET, HEAD, PUT, OPTIONS' });
    handle(uploads, id, url.searchParams, req, res, cors).catch((error: unknown) => {
      logger.error({ err: error, uploadId: id }, 'upload route failed');
      if (!res.headersSent) answer(res, 500, 'Unexpected error', cors);
      else res.destroy();
    });
  };
}

/** Stops reading a refused body without storing it, so the client can read the answer. */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, message: string, cors: Record<string, string>) {
  answer(res, status, message, { ...cors, connection: 'close' });
  req.resume();
  setTimeout(() => req.socket.destroy(), 2_000).unref();
}

async function receive(uploads: Uploads, id: string, query: URLSearchParams, req: IncomingMessage, res: ServerResponse, cors: Record<string, string>) {
  const { store } = uploads;
  if (store.kind !== 'local') return refuse(req, res, 405, 'Files go to the object storage: PUT to the uploadUrl of createAttachmentUpload', cors);
  const signature = uploads.signer.check('PUT', id, query);
  if (signature !== 'valid') return refuse(req, res, 403, signature === 'expired' ? 'This upload URL has expired: ask for a new one' : 'Invalid upload URL signature', cors);
  const upload = await db.upload.findUnique({ where: { id } });
  if (!upload) return refuse(req, res, 404, 'No such upload', cors);
  if (upload.uploadedAt) return refuse(req, res, 409, 'This file was already uploaded', cors);
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== upload.declaredType) return refuse(req, res, 400, `Content-Type must be ${upload.declaredType}, as declared`, cors);
  const limit = Math.min(upload.byteSize, MAX_UPLOAD_BYTES);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return refuse(req, res, 413, `The file must be at most ${limit} bytes, as declared`, cors);
  if (declared !== undefined && Number(declared) !== upload.byteSize) return refuse(req, res, 400, `Content-Length must be ${upload.byteSize}, as declared`, cors);
  let size: number;
  try {
    size = await store.write(upload.key, req, limit);
  } catch (error) {
    if (error instanceof UploadTooLarge) return refuse(req, res, 413, `The file must be at most ${limit} bytes, as declared`, cors);
    if (error instanceof AlreadyUploaded) return refuse(req, res, 409, 'This file was already uploaded', cors);
    throw error;
  }
  if (size !== upload.byteSize) {
    await store.remove(upload.key);
    return answer(res, 400, `Received ${size} bytes, not the ${upload.byteSize} declared`, cors);
  }
  await db.upload.update({ where: { id }, data: { uploadedAt: new Date() } });
  res.writeHead(200, { ...cors, 'cache-control': 'no-store' });
  res.end();
}

async function serve(uploads: Uploads, id: string, query: URLSearchParams, req: IncomingMessage, res: ServerResponse, cors: Record<string, string>) {
  const signature = uploads.signer.check('GET', id, query);
  if (signature !== 'valid') return answer(res, 403, signature === 'expired' ? 'This download URL has expired: query the file again for a fresh one' : 'Invalid download URL signature', cors);
  const file = await servableUpload(id);
  if (!file) return answer(res, 404, 'This file is not available (never sent, or its message was deleted)', cors);
  const disposition = contentDisposition(file.filename);
  const { store } = uploads;
  if (store.kind === 's3') {
    res.writeHead(302, { ...cors, location: await store.downloadUrl(file.key, file.type, disposition), 'cache-control': 'no-store' });
    return res.end();
  }
  const opened = await store.open(file.key);
  if (!opened) return answer(res, 404, 'This file is not available', cors);
  const expires = Number(query.get('expires'));
  res.writeHead(200, {
    ...cors,
    'content-type': file.type,
    'content-length': String(opened.size),
    'content-disposition': disposition,
    'x-content-type-options': 'nosniff',
    // Private: the URL is a credential. Cached no longer than it works.
    'cache-control': `private, max-age=${Math.max(0, Math.floor(expires - Date.now() / 1000))}`,
  });
  if (req.method === 'HEAD') {
    opened.stream.destroy();
    return res.end();
  }
  opened.stream.pipe(res);
  opened.stream.on('error', (error) => {
    logger.error({ err: error, uploadId: id }, 'upload read failed');
    res.destroy();
  });
}
