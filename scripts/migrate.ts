/**
 * `npm run db:migrate`: applies prisma/migrations to DATABASE_URL (from the environment or .env;
 * the database is created if missing), or to the embedded PostgreSQL when unset. Only
 * DATABASE_URL is read, not the whole config: a migration job has no JWT_SECRET to give.
 */
import '../src/load-env.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrateDatabase, migrationNames } from '../src/db/migrations.js';

let url = process.env.DATABASE_URL;
let stop: (() => Promise<void>) | undefined;
if (!url) {
  const port = process.env.EMBEDDED_POSTGRES_PORT ? Number(process.env.EMBEDDED_POSTGRES_PORT) : undefined;
  const embedded = await startEmbeddedPostgres({ port, dataDir: process.env.EMBEDDED_POSTGRES_DIR || undefined });
  url = embedded.url;
  stop = embedded.stop;
}
try {
  const applied = await migrateDatabase(url, (message) => console.log(message));
  if (applied.length === 0) console.log(`Up to date (${migrationNames().length} migrations).`);
} finally {
  await stop?.();
}
