import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { devUserId } from '../src/auth/dev-users.js';
import { forgetKnownUsers } from '../src/auth/viewer.js';
import { TEST_SECRET, useTestApp } from './support/app.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const t = useTestApp();

/** `npm run <script> -- args` as a developer runs it, against this file's database and secret. */
async function script(name: 'token' | 'seed', args: string[] = [], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, ['--import', 'tsx', `scripts/${name}.ts`, ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: t.databaseUrl, JWT_SECRET: TEST_SECRET, ...env },
  });
}

async function token(...args: string[]) {
  const { stdout, stderr } = await script('token', args);
  const jwt = stdout.trim();
  return { jwt, claims: decodeJwt(jwt), stderr };
}

const me = async (jwt: string) => (await t.gql<{ me: { id: string; role: string } }>('{ me { id role } }', {}, jwt)).data?.me;

const storedRole = async (email: string) =>
  (await t.sql<{ role: string }>('SELECT role FROM "User" WHERE email = $1', [email]))[0]?.role;

// One database for the whole story, in the order a newcomer may run things: tokens first, then
// the seed, then tokens again.
describe('npm run token and npm run seed, in either order', () => {
  it('before the seed: the demo salon gets the salon role, other emails --role or client', async () => {
    const salon = await token('salon@example.com');
    expect(salon.claims).toMatchObject({ role: 'salon', sub: devUserId('salon@example.com') });
    expect((await token('camille@example.com')).claims.role).toBe('client');
    expect((await token('someone@example.com')).claims.role).toBe('client');
    expect((await token('owner@example.com', '--role', 'salon')).claims.role).toBe('salon');

    // Used before the seed, the token creates the demo salon as a salon (just-in-time).
    expect(await me(salon.jwt)).toEqual({ id: devUserId('salon@example.com'), role: 'SALON' });
  });

  it('the seed succeeds after a token made the demo salon a client, and gives the salon its role back', async () => {
    // --role names a role for a user the database does not know yet: the old default made the
    // demo salon a client this way, after which the seed failed.
    await t.sql(`DELETE FROM "User" WHERE email = 'salon@example.com'`);
    forgetKnownUsers();
    const wrong = await token('salon@example.com', '--role', 'client');
    expect(wrong.claims.role).toBe('client');
    expect((await me(wrong.jwt))?.role).toBe('CLIENT');

    const { stdout } = await script('seed');
    expect(stdout).toContain('Seeded');
    expect(await storedRole('salon@example.com')).toBe('SALON');
    const [salon] = await t.sql<{ firstName: string; appointments: number }>(
      `SELECT u."firstName", (SELECT count(*)::int FROM "Appointment" a WHERE a."salonId" = u.id) AS appointments
         FROM "User" u WHERE u.email = 'salon@example.com'`,
    );
    expect(salon).toEqual({ firstName: 'Salon Élégance', appointments: 3 });

    // Run again, the seed changes nothing and still succeeds.
    expect((await script('seed')).stdout).toContain('Demo data already present.');
  });

  it('after the seed: the role comes from the database, whatever --role says', async () => {
    const salon = await token('salon@example.com', '--role', 'client');
    expect(salon.claims).toMatchObject({ role: 'salon', sub: devUserId('salon@example.com') });
    expect(salon.stderr).toContain('--role client ignored');
    expect((await token('camille@example.com', '--role', 'salon')).claims.role).toBe('client');
  });

  it('names the audience and issuer the server checks when JWT_AUDIENCE and JWT_ISSUER are set', async () => {
    const { stdout } = await script('token', ['salon@example.com'], { JWT_AUDIENCE: 'salon-api,other-api', JWT_ISSUER: 'https://id.example.com' });
    expect(decodeJwt(stdout.trim())).toMatchObject({ aud: 'salon-api', iss: 'https://id.example.com' });
  });

  it('rejects a role that does not exist', async () => {
    await expect(script('token', ['salon@example.com', '--role', 'admin'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--role must be salon or client') });
  });
});
