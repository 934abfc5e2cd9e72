/**
 * JWT_AUDIENCE and JWT_ISSUER: with them set, a token for another API or from another issuer is
 * refused, whether it is one of our HS256 tokens or an identity provider's RS256 (JWKS) token.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_SECRET, useTestApp } from './support/app.js';
import { codes } from './support/fixtures.js';

const AUDIENCE = 'salon-api';
const ISSUER = 'https://id.example/';

const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
const publicJwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
const jwksServer = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] }));
});
await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', () => resolve()));
const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/.well-known/jwks.json`;
afterAll(() => new Promise<void>((resolve) => jwksServer.close(() => resolve())));

const t = useTestApp({ JWT_AUDIENCE: `${AUDIENCE}, another-api`, JWT_ISSUER: ISSUER, JWT_JWKS_URL: jwksUrl });

type Alg = 'HS256' | 'RS256';

/** A token for a new user (created just-in-time when accepted), with the given aud and iss. */
function token(alg: Alg, registered: { aud?: string | string[]; iss?: string }) {
  const id = randomUUID();
  const jwt = new SignJWT({ sub: id, email: `c-${id.slice(0, 8)}@example.test`, role: 'client', ...registered })
    .setProtectedHeader(alg === 'RS256' ? { alg, kid: 'k1' } : { alg })
    .setExpirationTime('5m');
  return alg === 'RS256' ? jwt.sign(privateKey) : jwt.sign(new TextEncoder().encode(TEST_SECRET));
}

async function me(jwt: string) {
  return t.gql<{ me: { id: string } }>('{ me { id } }', {}, jwt);
}

async function userCount() {
  const [row] = await t.sql<{ users: number }>('SELECT count(*)::int AS users FROM "User"');
  return row?.users;
}

describe.each(['HS256', 'RS256'] as const)('%s tokens with JWT_AUDIENCE and JWT_ISSUER set', (alg) => {
  it('are accepted with a listed audience and the issuer', async () => {
    expect((await me(await token(alg, { aud: AUDIENCE, iss: ISSUER }))).data?.me.id).toMatch(/^[0-9a-f-]{36}$/);
    // `aud` may be a list; one listed audience is enough.
    expect((await me(await token(alg, { aud: ['other', 'another-api'], iss: ISSUER }))).errors).toBeUndefined();
  });

  const refused: [string, { aud?: string | string[]; iss?: string }][] = [
    ['another audience', { aud: 'billing-api', iss: ISSUER }],
    ['no audience', { iss: ISSUER }],
    ['another issuer', { aud: AUDIENCE, iss: 'https://evil.example/' }],
    ['no issuer', { aud: AUDIENCE }],
  ];
  for (const [name, registered] of refused) {
    it(`are refused with ${name}: UNAUTHENTICATED, and no user is created`, async () => {
      const before = await userCount();
      const response = await me(await token(alg, registered));
      expect(response.status).toBe(401);
      expect(codes(response)).toEqual(['UNAUTHENTICATED']);
      expect(response.data ?? null).toBeNull();
      expect(await userCount()).toBe(before);
    });
  }
});
