/** `npm run db:migrate`: applies prisma/migrations to DATABASE_URL, or to the embedded PostgreSQL when unset. */
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrateDatabase, migrationNames } from '../src/db/migrations.js';

let url = process.env.DATABASE_URL;
let stop: (() => Promise<void>) | undefined;
if (!url) {
  const embedded = await startEmbeddedPostgres();
  url = embedded.url;
  stop = embedded.stop;
}
try {
  const applied = await migrateDatabase(url);
  console.log(applied.length ? `Applied: ${applied.join(', ')}` : `Up to date (${migrationNames().length} migrations).`);
} finally {
  await stop?.();
}
