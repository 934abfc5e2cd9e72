import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../src/auth/token.js';
import { TEST_SECRET } from './support/app.js';

let server: Server;
let jwksUrl: string;
let privateKey: CryptoKey;
let publicJwk: Record<string, unknown>;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  privateKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address() as { port: number };
  jwksUrl = `http://127.0.0.1:${address.port}/.well-known/jwks.json`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const claims = { sub: 'auth0|partner-42', iss: 'https://id.example/', email: 'p@example.test', role: 'CLIENT' };

describe('tokens from an identity provider (JWT_JWKS_URL)', () => {
  it('accepts RS256 tokens signed by a key of the JWKS, and still our HS256 ones', async () => {
    const verifier = createTokenVerifier({ secret: TEST_SECRET, secretIsGenerated: false, jwksUrl, clockToleranceS: 5 });
    const rs = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('5m').sign(privateKey);
    const fromIdp = await verifier.verify(rs);
    expect(fromIdp.userId).toMatch(/^[0-9a-f-]{36}$/);
    expect(fromIdp.role).toBe('CLIENT');
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(TEST_SECRET));
    expect((await verifier.verify(hs)).userId).toBe(fromIdp.userId);
  });

  it('refuses RS256 tokens when no JWKS is configured, and HS256 tokens forged with the public key', async () => {
    const withoutJwks = createTokenVerifier({ secret: TEST_SECRET, secretIsGenerated: false, jwksUrl: undefined, clockToleranceS: 5 });
    const rs = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('5m').sign(privateKey);
    await expect(withoutJwks.verify(rs)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });

    // Algorithm confusion: HMAC keyed with the (public) RSA key material must not pass.
    const verifier = createTokenVerifier({ secret: TEST_SECRET, secretIsGenerated: false, jwksUrl, clockToleranceS: 5 });
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).setExpirationTime('5m').sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
    await expect(verifier.verify(forged)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
  });

  it('treats a key server that answers garbage or not at all as an outage, never as a bad token', async () => {
    const broken = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"not":"a key set"}'));
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', () => resolve()));
    const down = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => down.once('listening', resolve));
    const downPort = (down.address() as { port: number }).port;
    await new Promise<void>((resolve) => down.close(() => resolve()));
    try {
      const rs = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('5m').sign(privateKey);
      for (const url of [`http://127.0.0.1:${(broken.address() as { port: number }).port}/jwks.json`, `http://127.0.0.1:${downPort}/jwks.json`]) {
        const verifier = createTokenVerifier({ secret: TEST_SECRET, secretIsGenerated: false, jwksUrl: url, clockToleranceS: 5 });
        const failure = await verifier.verify(rs).then(() => undefined, (error: unknown) => error as { extensions?: { code?: string } });
        expect(failure).toBeInstanceOf(Error);
        // No UNAUTHENTICATED: the transports turn an unexpected error into 500 / close 1013, which clients retry.
        expect(failure?.extensions?.code).toBeUndefined();
      }
    } finally {
      await new Promise<void>((resolve) => broken.close(() => resolve()));
    }
  });
});
