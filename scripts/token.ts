/**
 * Prints a JWT for a development user: `npm run token -- salon@example.com [--role salon|client] [--ttl 12h]`.
 *
 * The role is the user's own when the database knows the email (the server goes by the stored
 * role whatever a token says), else --role, else the seed's role for its demo users
 * (salon@example.com is the salon), else client. An unknown email becomes a user on the token's
 * first use (just-in-time) with that role, under the id derived from the email, the one
 * `npm run seed` gives: signing a token before seeding does not turn the demo salon into a client.
 *
 * The database is read when it can be reached without starting one: DATABASE_URL, or the embedded
 * PostgreSQL while the server (or a script) runs it. Otherwise no database is needed.
 */
import '../src/load-env.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import pg from 'pg';
import { devUserId } from '../src/auth/dev-users.js';
import { loadConfig, PROJECT_ROOT } from '../src/config.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import type { Role } from '../src/generated/prisma/client.js';
import { DEMO_USERS } from './demo-users.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { role: { type: 'string' }, ttl: { type: 'string', default: '12h' } },
});
const email = positionals[0]?.trim().toLowerCase();
if (!email || !email.includes('@')) {
  console.error('usage: npm run token -- <email> [--role salon|client] [--ttl 12h]');
  process.exit(2);
}
const askedRole = values.role?.trim().toUpperCase();
if (askedRole !== undefined && askedRole !== 'SALON' && askedRole !== 'CLIENT') {
  console.error('--role must be salon or client');
  process.exit(2);
}
const config = loadConfig();

/** The stored user, or undefined when there is none or no database to ask (a token needs none). */
async function storedUser(): Promise<{ id: string; role: Role } | undefined> {
  let url = config.databaseUrl;
  let stop: (() => Promise<void>) | undefined;
  if (!url) {
    // Only an embedded PostgreSQL that runs already: starting one for a token is not worth 2 s.
    if (!existsSync(join(PROJECT_ROOT, '.data', 'postgres', 'postmaster.pid'))) return undefined;
    const embedded = await startEmbeddedPostgres({ port: config.embeddedPostgresPort, dataDir: config.embeddedPostgresDir });
    url = embedded.url;
    stop = embedded.stop;
  }
  // One row by a unique column: plain pg, since loading the Prisma client would triple the time
  // a token takes.
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ id: string; role: Role }>('SELECT id, role FROM "User" WHERE email = $1', [email]);
    return rows[0];
  } catch {
    // No such database yet, not migrated, not reachable: the token does not depend on it.
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
    await stop?.();
  }
}

const stored = await storedUser().catch(() => undefined);
const demo = DEMO_USERS.find((user) => user.email === email);
const role: Role = stored?.role ?? (askedRole as Role | undefined) ?? demo?.role ?? 'CLIENT';
if (stored && askedRole && askedRole !== stored.role) {
  console.error(`${email} is a ${stored.role.toLowerCase()} in the database: the token says so (--role ${askedRole.toLowerCase()} ignored)`);
}

const jwt = new SignJWT({ email, role: role.toLowerCase(), firstName: demo?.firstName ?? email.split('@')[0] })
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject(stored?.id ?? devUserId(email))
  .setIssuedAt()
  .setExpirationTime(values.ttl ?? '12h');
// With JWT_AUDIENCE / JWT_ISSUER set, the server refuses tokens that do not name them.
const [audience] = config.jwt.audience ?? [];
const [issuer] = config.jwt.issuer ?? [];
if (audience) jwt.setAudience(audience);
if (issuer) jwt.setIssuer(issuer);
console.log(await jwt.sign(new TextEncoder().encode(config.jwt.secret)));
