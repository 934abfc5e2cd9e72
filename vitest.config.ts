import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql 16 ships CJS (main) and ESM (module) copies. Node loads the CJS one for packages such
  // as graphql-yoga, while Vite would pick the ESM one for our sources: two GraphQLError classes.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    globalSetup: ['./test/support/global-setup.ts'],
    // test/canary/ fails on purpose: .ci/run checks that `npm test` exits non-zero on it.
    include: process.env.TEST_CANARY ? ['test/canary/*.canary.ts'] : ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { NODE_ENV: 'test' },
    // Each file gets its own database (a copy of the migrated template) and its own module
    // registry, so files run in parallel without sharing state.
    pool: 'forks',
  },
});
