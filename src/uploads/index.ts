/**
 * The upload machinery one app runs with: the object store, the URL signer and the origin the
 * URLs it hands out start with. The rules (who may upload what, what a send accepts) are in
 * src/services/uploads.ts; the HTTP routes of the local store in ./routes.ts.
 */
import type { Config } from '../config.js';
import { createUrlSigner } from './signing.js';
import { createStore, useStore } from './store.js';

/** `<origin>/uploads/<id>`: the stable URL of an upload, and the path its routes answer on. */
export const UPLOAD_PATH = /^\/uploads\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export function createUploads(config: Config) {
  const store = createStore(config.uploads);
  useStore(store);
  const signer = createUrlSigner(config.jwt.secret);
  let port = config.port;
  const origin = () => config.uploads.publicUrl ?? `http://localhost:${port}`;
  const ttl = config.uploads.downloadUrlTtlS;
  // Download URLs change once per quarter of their lifetime, not per request, so browsers and
  // Apollo's cache keep one URL per file for a while.
  const step = Math.max(1, Math.floor(ttl / 4));

  return {
    config: config.uploads,
    store,
    signer,
    origin,
    /** The port the server listens on, for the default origin (PUBLIC_URL unset). */
    listening(boundPort: number) {
      port = boundPort;
    },
    stableUrl: (id: string) => `${origin()}/uploads/${id}`,
    /** A fresh download URL for an upload; it works for DOWNLOAD_URL_TTL_S (up to a quarter more). */
    downloadUrl(id: string): string {
      const expires = Math.ceil((Date.now() / 1000 + ttl) / step) * step;
      return `${origin()}/uploads/${id}?${signer.sign('GET', id, expires)}`;
    },
  };
}

export type Uploads = ReturnType<typeof createUploads>;

/** The upload id in a stable upload URL; null for anything else (a URL stored before uploads existed). */
export function uploadIdOf(url: string): string | null {
  try {
    const parsed = new URL(url);
    if (parsed.search || parsed.hash) return null;
    return UPLOAD_PATH.exec(parsed.pathname)?.[1] ?? null;
  } catch {
    return null;
  }
}
