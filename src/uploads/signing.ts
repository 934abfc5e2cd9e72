import { createHmac, timingSafeEqual } from 'node:crypto';

export type SignedMethod = 'GET' | 'PUT';

/**
 * Expiring signed URLs for the files the API serves itself (the local store's uploads, every
 * download). The HMAC key is derived from the server's JWT secret, so no new secret has to be
 * configured, and a URL signed for one method, file or expiry is worth nothing for another.
 */
export function createUrlSigner(secret: string) {
  const key = createHmac('sha256', secret).update('salon-api:upload-urls:v1').digest();
  const mac = (method: SignedMethod, id: string, expires: number) =>
    createHmac('sha256', key).update(`${method}\n${id}\n${expires}`).digest();

  return {
    /** The query string (`expires=…&signature=…`) that lets `method` reach file `id` until `expires` (Unix seconds). */
    sign(method: SignedMethod, id: string, expires: number): string {
      return new URLSearchParams({ expires: String(expires), signature: mac(method, id, expires).toString('base64url') }).toString();
    },
    check(method: SignedMethod, id: string, query: URLSearchParams): 'valid' | 'expired' | 'invalid' {
      const expiresRaw = query.get('expires') ?? '';
      const signature = Buffer.from(query.get('signature') ?? '', 'base64url');
      if (!/^\d{1,12}$/.test(expiresRaw)) return 'invalid';
      const expires = Number(expiresRaw);
      const expected = mac(method, id, expires);
      if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return 'invalid';
      return expires * 1000 < Date.now() ? 'expired' : 'valid';
    },
  };
}

export type UrlSigner = ReturnType<typeof createUrlSigner>;
