/**
 * One HTTP attempt of a delivery, as the best senders make it: no redirect followed (a 3xx is a
 * failure), an overall deadline, at most 1 KB of the answer read and kept, the socket's address
 * checked where it is connected (destination.ts).
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { DestinationRefused, guardedLookup, isPublicAddress } from './destination.js';

const RESPONSE_KEEP_BYTES = 1024;

export interface AttemptResult {
  ok: boolean;
  status: number | null;
  /** The first 1 KB of the answer, as text. */
  body: string | null;
  error: string | null;
  durationMs: number;
}

export interface PostOptions {
  url: string;
  headers: Record<string, string>;
  /** Text for a webhook; bytes for an encrypted Web Push payload (src/notifications/push.ts). */
  body: string | Buffer;
  timeoutMs: number;
  allowPrivate: boolean;
}

export function postWebhook({ url, headers, body, timeoutMs, allowPrivate }: PostOptions): Promise<AttemptResult> {
  const started = performance.now();
  const done = (partial: Omit<AttemptResult, 'durationMs'>): AttemptResult => ({
    ...partial,
    durationMs: Math.round(performance.now() - started),
  });
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      resolve(done({ ok: false, status: null, body: null, error: 'invalid url' }));
      return;
    }
    const host = target.hostname.replace(/^\[|\]$/g, '');
    // An address literal never goes through the lookup: check it here.
    if (isIP(host) && !allowPrivate && !isPublicAddress(host)) {
      resolve(done({ ok: false, status: null, body: null, error: `destination is a non-public address (${host})` }));
      return;
    }
    const client = target.protocol === 'https:' ? https : http;
    let settled = false;
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      request.destroy();
      resolve(result);
    };
    const request = client.request(target, {
      method: 'POST',
      headers: { ...headers, 'content-length': Buffer.byteLength(body).toString() },
      lookup: guardedLookup(allowPrivate),
      // One connection per attempt: a partner's keep-alive socket must not outlive the check of its address.
      agent: false,
    });
    const deadline = setTimeout(
      () => finish(done({ ok: false, status: null, body: null, error: `no answer within ${timeoutMs} ms` })),
      timeoutMs,
    );
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let kept = 0;
      const complete = () => {
        const text = Buffer.concat(chunks).subarray(0, RESPONSE_KEEP_BYTES).toString('utf8');
        const ok = status >= 200 && status < 300;
        finish(done({ ok, status, body: text, error: ok ? null : `HTTP ${status}` }));
      };
      response.on('data', (chunk: Buffer) => {
        if (kept < RESPONSE_KEEP_BYTES) chunks.push(chunk);
        kept += chunk.length;
        // Enough kept: the rest of a large or endless answer is not read.
        if (kept >= RESPONSE_KEEP_BYTES) complete();
      });
      response.on('end', complete);
      response.on('error', complete);
    });
    request.on('error', (error: Error) => {
      const message = error instanceof DestinationRefused ? error.message : `${(error as NodeJS.ErrnoException).code ?? error.name}: ${error.message}`;
      finish(done({ ok: false, status: null, body: null, error: message }));
    });
    request.end(body);
  });
}
