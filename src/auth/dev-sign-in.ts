/**
 * The development sign-in of the reference web app (web/): `GET /dev/users` lists the users of the
 * database (the seeded salon and clients, and any other), `POST /dev/token` with `{ "userId" }`
 * signs a token for one of them. Both exist only outside production while the development secret
 * of .data/ is in use: the secret is then on this machine anyway (`npm run token` reads it), so
 * handing out its tokens gives nothing away. With JWT_SECRET set or NODE_ENV=production the
 * routes are not there (404 from GraphQL's server, like any unknown path).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { SignJWT } from 'jose';
import type { Config } from '../config.js';
import { db } from '../db.js';
import { logger } from '../logger.js';
import { displayNameOf } from '../services/profile.js';

export const DEV_USERS_PATH = '/dev/users';
export const DEV_TOKEN_PATH = '/dev/token';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function devSignInEnabled(config: Config): boolean {
  return !config.isProduction && config.jwt.secretIsGenerated;
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 1_000) throw new Error('body too large');
  }
  return JSON.parse(text);
}

/** The development sign-in routes in front of `next`, or `next` alone when they must not exist. */
export function devSignInRoutes(config: Config, isAllowedOrigin: (origin: string | null) => boolean, next: RequestListener): RequestListener {
  if (!devSignInEnabled(config)) return next;
  const key = new TextEncoder().encode(config.jwt.secret);
  return (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== DEV_USERS_PATH && path !== DEV_TOKEN_PATH) return next(req, res);
    // The same rule as GraphQL's: a page of another origin must not get tokens.
    if (!isAllowedOrigin(req.headers.origin ?? null)) return json(res, 403, { error: 'Origin not allowed' });
    void (async () => {
      if (path === DEV_USERS_PATH && req.method === 'GET') {
        const users = await db.user.findMany({
          orderBy: [{ role: 'desc' }, { createdAt: 'asc' }],
          take: 50,
          select: { id: true, email: true, role: true, firstName: true, lastName: true, displayName: true },
        });
        return json(res, 200, { users: users.map((user) => ({ id: user.id, email: user.email, role: user.role, displayName: displayNameOf(user) })) });
      }
      if (path === DEV_TOKEN_PATH && req.method === 'POST') {
        const body = await readJson(req).catch(() => null);
        const userId = typeof body === 'object' && body !== null && 'userId' in body ? body.userId : undefined;
        if (typeof userId !== 'string' || !UUID.test(userId)) return json(res, 400, { error: 'userId must be a user id' });
        const user = await db.user.findUnique({ where: { id: userId } });
        if (!user) return json(res, 404, { error: 'No such user' });
        const jwt = new SignJWT({ email: user.email, role: user.role.toLowerCase(), firstName: user.firstName, lastName: user.lastName })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(user.id)
          .setIssuedAt()
          .setExpirationTime('12h');
        const [audience] = config.jwt.audience ?? [];
        const [issuer] = config.jwt.issuer ?? [];
        if (audience) jwt.setAudience(audience);
        if (issuer) jwt.setIssuer(issuer);
        return json(res, 200, { token: await jwt.sign(key) });
      }
      res.writeHead(405, { allow: path === DEV_USERS_PATH ? 'GET' : 'POST' });
      res.end();
    })().catch((error: unknown) => {
      logger.error({ err: error, path }, 'development sign-in failed');
      json(res, 500, { error: 'Unexpected error' });
    });
  };
}
