/**
 * `npm run db:migrate`: applies prisma/migrations to DATABASE_URL (from the environment or .env;
 * the database is created if missing), or to the embedded PostgreSQL when unset. Only
 * DATABASE_URL is read, not the whole config: a migration job has no JWT_SECRET to give.
 */
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrateDatabase, migrationNames } from '../src/db/migrations.js';
import { withEnvFile } from '../src/env-file.js';

let url = withEnvFile(process.env).DATABASE_URL;
let stop: (() => Promise<void>) | undefined;
if (!url) {
  const embedded = await startEmbeddedPostgres();
  url = embedded.url;
  stop = embedded.stop;
}
try {
  const applied = await migrateDatabase(url, (message) => console.log(message));
  if (applied.length === 0) console.log(`Up to date (${migrationNames().length} migrations).`);
} finally {
  await stop?.();
}
