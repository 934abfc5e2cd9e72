import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyOptions,
} from 'jose';
import { v5 as uuidv5, validate as isUuid } from 'uuid';
import type { Config } from '../config.js';
import { unauthenticated } from '../errors.js';

export type Role = 'SALON' | 'CLIENT';

export interface TokenClaims {
  userId: string;
  email: string | undefined;
  role: Role | undefined;
  firstName: string | undefined;
  lastName: string | undefined;
  /** Seconds since the epoch; the WebSocket side closes the socket then. */
  expiresAt: number;
}

/** Namespace for ids derived from non-UUID subjects: every instance derives the same id. */
const SUBJECT_NAMESPACE = '6f1c1d3e-5d2a-4b8e-9a53-3f3f9b6c2a10';

const HMAC_ALGORITHMS = ['HS256'];
const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256'];

export interface TokenVerifier {
  verify(token: string): Promise<TokenClaims>;
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const value = payload[name];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function parseRole(value: string | undefined): Role | undefined {
  const upper = value?.toUpperCase();
  return upper === 'SALON' || upper === 'CLIENT' ? upper : undefined;
}

export function claimsFromPayload(payload: JWTPayload): TokenClaims {
  const subject = stringClaim(payload, 'sub') ?? stringClaim(payload, 'userId');
  if (!subject) throw unauthenticated('Token has no subject');
  const userId = isUuid(subject)
    ? subject.toLowerCase()
    : uuidv5(`${payload.iss ?? ''}|${subject}`, SUBJECT_NAMESPACE);
  return {
    userId,
    email: stringClaim(payload, 'email')?.toLowerCase(),
    role: parseRole(stringClaim(payload, 'role')),
    firstName: stringClaim(payload, 'firstName') ?? stringClaim(payload, 'given_name'),
    lastName: stringClaim(payload, 'lastName') ?? stringClaim(payload, 'family_name'),
    expiresAt: payload.exp ?? 0,
  };
}

export function createTokenVerifier(config: Config['jwt']): TokenVerifier {
  const secret = new TextEncoder().encode(config.secret);
  const jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : undefined;

  // Verifying an HMAC through WebCrypto costs a thread-pool round trip; a client sends the same
  // token with every request, so a verified token is remembered until it expires.
  const verified = new Map<string, TokenClaims>();
  const CACHE_CAP = 10_000;

  return {
    async verify(token) {
      const known = verified.get(token);
      if (known) {
        if (known.expiresAt * 1000 + config.clockToleranceS * 1000 > Date.now()) return known;
        verified.delete(token);
      }
      const claims = await verifyUncached(token);
      if (verified.size >= CACHE_CAP) verified.delete(verified.keys().next().value as string);
      verified.set(token, claims);
      return claims;
    },
  };

  async function verifyUncached(token: string): Promise<TokenClaims> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthenticated('Malformed token');
    }
    // The key is chosen from our configuration and the algorithm list is pinned per key, so a
    // token cannot pick `none` or use our HMAC secret as an RSA public key (algorithm confusion).
    const useJwks = jwks !== undefined && alg !== undefined && ASYMMETRIC_ALGORITHMS.includes(alg);
    const options: JWTVerifyOptions = {
      algorithms: useJwks ? ASYMMETRIC_ALGORITHMS : HMAC_ALGORITHMS,
      clockTolerance: config.clockToleranceS,
      requiredClaims: ['exp'],
      // A token minted for another API (or by another issuer) sharing the key must not pass here.
      ...(config.audience ? { audience: config.audience } : {}),
      ...(config.issuer ? { issuer: config.issuer } : {}),
    };
    try {
      const { payload } = useJwks
        ? await jwtVerify(token, jwks, options)
        : await jwtVerify(token, secret, options);
      return claimsFromPayload(payload);
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw unauthenticated('Token expired');
      if (error instanceof joseErrors.JWTClaimValidationFailed && (error.claim === 'aud' || error.claim === 'iss')) {
        throw unauthenticated(`Token ${error.claim} is not accepted here`);
      }
      // The key server timing out or answering garbage is our outage, not a bad token: it must
      // surface as a server error (retryable: HTTP 500, WebSocket 1013), never as 401/4401, after
      // which clients drop the user's session or stop reconnecting.
      if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) {
        throw new Error(`JWKS endpoint unavailable: ${error.message}`, { cause: error });
      }
      if (error instanceof joseErrors.JOSEError) throw unauthenticated('Invalid token');
      throw error;
    }
  }
}

/** `Bearer <token>` from a header value, or a bare token (graphql-ws `{ token }`). */
export function tokenFromAuthorization(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  const match = /^Bearer\s+(.+)$/i.exec(trimmed);
  return match ? match[1] : undefined;
}
