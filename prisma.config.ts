import { defineConfig } from 'prisma/config';

// The CLI is only used for `prisma generate` here (see scripts/migrate.ts for migrations),
// so a missing DATABASE_URL must not fail it.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost:5432/unused' },
});
