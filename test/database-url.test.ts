import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DatabaseUrlError, ensureDatabase, migrateDatabase, migrationNames } from '../src/db/migrations.js';
import { sql, testDatabaseName, withDatabase } from './support/database.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const admin = inject('adminDatabaseUrl');
const created: string[] = [];
// A login that may not create databases, as on many managed PostgreSQL offers.
const role = `salon_test_nocreate_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  await sql(admin, `CREATE ROLE "${role}" LOGIN NOCREATEDB`);
});

afterAll(async () => {
  for (const name of created) await sql(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await sql(admin, `DROP ROLE IF EXISTS "${role}"`);
});

/** The admin URL with another user and database (the test server trusts local connections). */
function urlAs(user: string, database: string): string {
  const url = new URL(withDatabase(admin, database));
  url.username = user;
  url.password = '';
  return url.toString();
}

describe('a DATABASE_URL naming a database that does not exist', () => {
  it('is created, then migrated, as prisma migrate deploy does', async () => {
    const name = testDatabaseName();
    created.push(name);
    const log: string[] = [];
    const applied = await migrateDatabase(withDatabase(admin, name), (message) => log.push(message));
    expect(applied).toEqual(migrationNames());
    expect(log[0]).toMatch(new RegExp(`^created database "${name}" on `));
    const tables = await sql<{ count: number }>(withDatabase(admin, name), `SELECT count(*)::int AS count FROM information_schema.tables WHERE table_name = 'Message'`);
    expect(tables[0]?.count).toBe(1);

    // Then it exists: nothing to create, nothing to apply.
    expect(await ensureDatabase(withDatabase(admin, name))).toBe(false);
    expect(await migrateDatabase(withDatabase(admin, name))).toEqual([]);
  });

  it('is said in one line when the user may not create it, and when no server answers', async () => {
    const name = testDatabaseName();
    const refused = ensureDatabase(urlAs(role, name));
    await expect(refused).rejects.toBeInstanceOf(DatabaseUrlError);
    await expect(refused).rejects.toThrow(`DATABASE_URL names database "${name}" on 127.0.0.1:5432, which does not exist and could not be created: permission denied to create database`);
    expect((await sql(admin, 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length).toBe(0);

    await expect(ensureDatabase('postgresql://postgres:hunter2@127.0.0.1:1/salon')).rejects.toThrow(
      /^DATABASE_URL: cannot connect to PostgreSQL at 127\.0\.0\.1:1, database "salon": connect ECONNREFUSED/,
    );
  });

  it('stops the real server with that one line, no stack and no password', { timeout: 60_000 }, async () => {
    const name = testDatabaseName();
    const url = new URL(urlAs(role, name));
    url.password = 'not-printed';
    const server = spawn(process.execPath, ['dist/server.js'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: url.toString(), PORT: '0', JWT_SECRET: 'x'.repeat(32), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => server.once('exit', resolve));
    expect(code).toBe(1);
    const lines = output.split('\n').filter((line) => line.includes('"level":60'));
    expect(lines).toHaveLength(1);
    const fatal = JSON.parse(lines[0]!) as { msg: string; err?: unknown };
    expect(fatal.msg).toContain(`DATABASE_URL names database "${name}" on 127.0.0.1:5432, which does not exist and could not be created`);
    expect(fatal.err).toBeUndefined();
    expect(output).not.toMatch(/wasm|not-printed/i);
  });
});
