import { db } from '../db.js';
import { appError, ErrorCode, unauthenticated } from '../errors.js';
import { prismaCode } from '../db/errors.js';
import { MAX_EMAIL_LENGTH, MAX_NAME_LENGTH, requireText } from '../services/validation.js';
import type { Role, TokenClaims, TokenVerifier } from './token.js';
import { tokenFromAuthorization } from './token.js';

export interface Viewer {
  id: string;
  role: Role;
  /** Seconds since the epoch when the token stops being valid. */
  tokenExpiresAt: number;
}

const KNOWN_USER_TTL_MS = 60_000;
const KNOWN_USER_CAP = 10_000;
/** Users seen recently, so an authenticated request usually costs no user query. */
const knownUsers = new Map<string, { role: Role; until: number }>();

function remember(id: string, role: Role) {
  if (knownUsers.size >= KNOWN_USER_CAP) knownUsers.delete(knownUsers.keys().next().value as string);
  knownUsers.set(id, { role, until: Date.now() + KNOWN_USER_TTL_MS });
}

/** Clears the cache of known users; tests that recreate their database need it. */
export function forgetKnownUsers() {
  knownUsers.clear();
}

/** The user behind verified claims, created on first sight (just-in-time) from those claims. */
async function ensureUser(claims: TokenClaims): Promise<Role> {
  const cached = knownUsers.get(claims.userId);
  if (cached && cached.until > Date.now()) return cached.role;

  const existing = await db.user.findUnique({ where: { id: claims.userId }, select: { role: true } });
  if (existing) {
    remember(claims.userId, existing.role);
    return existing.role;
  }
  if (!claims.email || !claims.role) {
    throw unauthenticated('Token for an unknown user must carry email and role claims');
  }
  // Claims become stored text here, so they meet the same rules as any text a client sends.
  const email = requireText(claims.email, 'email', MAX_EMAIL_LENGTH);
  const firstName = requireText(claims.firstName ?? email.split('@')[0] ?? email, 'firstName', MAX_NAME_LENGTH);
  const lastName = claims.lastName === undefined ? '' : requireText(claims.lastName, 'lastName', MAX_NAME_LENGTH);
  try {
    const created = await db.user.upsert({
      where: { id: claims.userId },
      create: { id: claims.userId, email, role: claims.role, firstName, lastName },
      update: {},
      select: { role: true },
    });
    remember(claims.userId, created.role);
    return created.role;
  } catch (error) {
    if (prismaCode(error) === 'P2002') {
      throw appError(ErrorCode.CONFLICT, 'The email in this token belongs to another account');
    }
    throw error;
  }
}

export async function viewerFromToken(verifier: TokenVerifier, token: string): Promise<Viewer> {
  const claims = await verifier.verify(token);
  const role = await ensureUser(claims);
  return { id: claims.userId, role, tokenExpiresAt: claims.expiresAt };
}

/**
 * The viewer from an `Authorization` header (HTTP) or from graphql-ws connectionParams
 * (`{ authorization: "Bearer …" }` or `{ token: "…" }`): one path for both transports.
 * No credentials → null (anonymous); bad credentials → UNAUTHENTICATED.
 */
export async function viewerFromCredentials(
  verifier: TokenVerifier,
  credentials: { authorization?: unknown; token?: unknown },
): Promise<Viewer | null> {
  const { authorization, token } = credentials;
  if ((authorization === undefined || authorization === null || authorization === '') && !token) return null;
  const raw =
    authorization !== undefined && authorization !== null && authorization !== ''
      ? tokenFromAuthorization(authorization)
      : typeof token === 'string' && token.trim() !== ''
        ? token.trim()
        : undefined;
  if (!raw) throw unauthenticated('Authorization must be "Bearer <token>"');
  return viewerFromToken(verifier, raw);
}
