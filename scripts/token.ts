/**
 * Prints a JWT for a development user: `npm run token -- salon@example.com [--role salon] [--ttl 12h]`.
 * The id is derived from the email (the same one `npm run seed` gives), so no database is needed;
 * an unknown email becomes a new user on first use, with --role (default client).
 */
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { devUserId } from '../src/auth/dev-users.js';
import { loadConfig } from '../src/config.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { role: { type: 'string', default: 'client' }, ttl: { type: 'string', default: '12h' } },
});
const email = positionals[0]?.trim().toLowerCase();
if (!email || !email.includes('@')) {
  console.error('usage: npm run token -- <email> [--role salon|client] [--ttl 12h]');
  process.exit(2);
}
const role = values.role?.toLowerCase();
if (role !== 'salon' && role !== 'client') {
  console.error('--role must be salon or client');
  process.exit(2);
}
const config = loadConfig();
const token = await new SignJWT({ email, role, firstName: email.split('@')[0] })
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject(devUserId(email))
  .setIssuedAt()
  .setExpirationTime(values.ttl ?? '12h')
  .sign(new TextEncoder().encode(config.jwt.secret));
console.log(token);
