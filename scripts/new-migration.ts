/**
 * `npm run db:migration:new -- <name>`: writes prisma/migrations/<timestamp>_<name>/migration.sql,
 * the diff from the schema of the previous migration to the current prisma/schema.prisma.
 *
 * The engine's WebAssembly build cannot read a live database back, so the schema each migration
 * was made from is kept beside the migrations (prisma/migrations/schema.prisma.snapshot) and the
 * next migration is the diff between two schema files.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diffSchemas, MIGRATIONS_DIR, SCHEMA_PATH } from '../src/db/migrations.js';

const name = (process.argv[2] ?? '').trim().toLowerCase().replace(/[^a-z0-9_]+/g, '_');
if (!name) {
  console.error('usage: npm run db:migration:new -- <name>');
  process.exit(2);
}
const snapshotPath = join(MIGRATIONS_DIR, 'schema.prisma.snapshot');
const previous = existsSync(snapshotPath) ? readFileSync(snapshotPath, 'utf8') : null;
const current = readFileSync(SCHEMA_PATH, 'utf8');
const sql = await diffSchemas(previous, current);
if (!/\b(CREATE|ALTER|DROP)\b/.test(sql)) {
  console.log('No changes: prisma/schema.prisma matches the last migration.');
  process.exit(0);
}
const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
const folder = join(MIGRATIONS_DIR, `${stamp}_${name}`);
mkdirSync(folder, { recursive: true });
writeFileSync(join(folder, 'migration.sql'), sql);
writeFileSync(snapshotPath, current);
const lock = join(MIGRATIONS_DIR, 'migration_lock.toml');
if (!existsSync(lock)) writeFileSync(lock, 'provider = "postgresql"\n');
console.log(`Wrote ${folder}/migration.sql`);
