import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { QUEUES } from '../src/jobs/queue.js';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { diffSchemas, migrateDatabase, MIGRATIONS_DIR, SCHEMA_PATH, schemaEngineStarts } from '../src/db/migrations.js';
import { SEARCH_INDEX } from '../src/services/search.js';
import { testDatabaseName } from './support/database.js';

const adminUrl = inject('adminDatabaseUrl');
/** Written by hand in migrations: an expression index, which Prisma's schema language cannot describe. */
const HAND_WRITTEN_INDEXES = [SEARCH_INDEX];
const created: string[] = [];

async function admin(sql: string) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function freshDatabase(): Promise<string> {
  const name = testDatabaseName(`mig_${randomBytes(4).toString('hex')}`);
  await admin(`CREATE DATABASE "${name}"`);
  created.push(name);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Tables, columns, constraints and indexes as PostgreSQL reports them, without the migrations table. */
async function shape(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const q = async (sql: string) => (await client.query(sql)).rows;
    return {
      columns: await q(`SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default
        FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'
        ORDER BY table_name, column_name`),
      constraints: await q(`SELECT conrelid::regclass::text AS table_name, conname, contype, pg_get_constraintdef(oid) AS definition
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> '_prisma_migrations'
        ORDER BY 1, 2`),
      indexes: await q(`SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' ORDER BY 1, 2`),
      // The public schema's: pg-boss keeps its own (pgboss), installed by migrateDatabase too.
      enums: await q(`SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        WHERE t.typnamespace = 'public'::regnamespace ORDER BY 1, e.enumsortorder`),
    };
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  for (const name of created) await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
});

describe('migrations', () => {
  it('are not stale: prisma/migrations builds exactly what schema.prisma describes', async () => {
    const migrated = await freshDatabase();
    const fromSchema = await freshDatabase();
    await migrateDatabase(migrated);
    const script = await diffSchemas(null, readFileSync(SCHEMA_PATH, 'utf8'));
    const client = new pg.Client({ connectionString: fromSchema });
    await client.connect();
    await client.query(script);
    await client.end();

    const [a, b] = await Promise.all([shape(migrated), shape(fromSchema)]);
    expect(a.columns.length).toBeGreaterThan(30);
    expect(a.indexes.map((index) => index.indexname)).toEqual(
      expect.arrayContaining(['Conversation_salonId_lastMessageAt_idx', 'Conversation_clientUserId_lastMessageAt_idx', 'Message_conversationId_seq_key', 'Message_authorId_idx', ...HAND_WRITTEN_INDEXES]),
    );
    expect({ ...a, indexes: a.indexes.filter((index) => !HAND_WRITTEN_INDEXES.includes(index.indexname)) }).toEqual(b);
  });

  it('apply only what is pending and record it as prisma migrate deploy does', async () => {
    const url = await freshDatabase();
    const first = await migrateDatabase(url);
    expect(first.length).toBeGreaterThan(0);
    expect(await migrateDatabase(url)).toEqual([]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query('SELECT migration_name, finished_at, rolled_back_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name');
    await client.end();
    expect(rows.map((row) => row.migration_name)).toEqual(first);
    expect(rows.every((row) => row.finished_at !== null && row.rolled_back_at === null && row.applied_steps_count === 1)).toBe(true);
  });

  it('start no schema engine when every migration is applied and unchanged; anything else goes through it', async () => {
    const url = await freshDatabase();
    let starts = schemaEngineStarts();
    expect((await migrateDatabase(url)).length).toBeGreaterThan(0);
    expect(schemaEngineStarts()).toBe(++starts);
    expect(await migrateDatabase(url)).toEqual([]);
    expect(schemaEngineStarts()).toBe(starts);

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // A migration file changed since it was applied: the engine decides, as migrate deploy would.
      const [{ migration_name: latest }] = (await client.query('SELECT migration_name FROM _prisma_migrations ORDER BY migration_name DESC LIMIT 1')).rows;
      await client.query("UPDATE _prisma_migrations SET checksum = repeat('0', 64) WHERE migration_name = $1", [latest]);
      expect(await migrateDatabase(url)).toEqual([]);
      expect(schemaEngineStarts()).toBe(++starts);

      // Every migration applied and unchanged again, but a failed attempt on record (a newer
      // release's, say): refused, as migrate deploy refuses it (P3009), not skipped.
      await client.query('UPDATE _prisma_migrations SET checksum = $2 WHERE migration_name = $1', [latest, createHash('sha256').update(readFileSync(join(MIGRATIONS_DIR, latest, 'migration.sql'))).digest('hex')]);
      expect(await migrateDatabase(url)).toEqual([]);
      expect(schemaEngineStarts()).toBe(starts);
      const failed = '29991231000000_failed_elsewhere';
      await client.query(
        "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) VALUES (gen_random_uuid()::text, repeat('0', 64), $1, now(), 0)",
        [failed],
      );
      await expect(migrateDatabase(url)).rejects.toThrow(failed);
      expect(schemaEngineStarts()).toBe(++starts);
    } finally {
      await client.end();
    }
  });

  it('leave the job queue installed with its queues, so a starting instance only checks', async () => {
    const url = await freshDatabase();
    await migrateDatabase(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query('SELECT name FROM pgboss.queue ORDER BY name');
    await client.end();
    expect(rows.map((row) => row.name)).toEqual(Object.values(QUEUES).sort());
  });

  it('run from instances starting at once against one database: every one of them starts', async () => {
    // Each instance migrates as it starts (src/server.ts); two replicas of a deploy start together.
    // Unserialized, their CREATE OR REPLACE FUNCTION collided: "tuple concurrently updated", or a
    // duplicate key on a fresh database, and the instance exited.
    const url = await freshDatabase();
    const starts = await Promise.allSettled(Array.from({ length: 4 }, () => migrateDatabase(url)));
    expect(starts.filter((start) => start.status === 'rejected')).toEqual([]);
    for (let round = 0; round < 2; round++) {
      const again = await Promise.allSettled(Array.from({ length: 4 }, () => migrateDatabase(url)));
      expect(again.filter((start) => start.status === 'rejected')).toEqual([]);
    }
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'webhook_claim'`);
    await client.end();
    expect(rows[0].n).toBe(1);
  });
});
