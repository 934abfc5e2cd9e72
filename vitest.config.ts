import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql 16 ships CJS (main) and ESM (module) copies. Node loads the CJS one for packages such
  // as graphql-yoga, while Vite would pick the ESM one for our sources: two GraphQLError classes.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    globalSetup: ['./test/support/global-setup.ts'],
    // test/canary/ fails on purpose: .ci/run checks that `npm test` exits non-zero on it.
    include: process.env.TEST_CANARY ? ['test/canary/*.canary.ts'] : ['test/**/*.test.ts'],
    // A guard against hangs, not a speed check: tests that start real processes (the server, the
    // scripts, Chromium) take several times longer when the machine is busy.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { NODE_ENV: 'test' },
    // expect.poll waits for a condition, not a duration: its default second is too short when the
    // three files running at once are busy, and a condition that never holds still fails.
    expect: { poll: { timeout: 10_000 } },
    // Each file gets its own database (a copy of the migrated template), so files run in parallel
    // without sharing data.
    pool: 'forks',
    // A worker process runs its files one after another in one module registry, rather than
    // importing the whole app (graphql-yoga, Prisma, pg-boss…) afresh for each file: that import was
    // a third of the suite's time (132 s of 196 s summed over the files, 27 s this way). It holds
    // because every file's apps stop everything they start (test/support/app.ts), the database
    // client reconnects to the next file's database (connectDb/disconnectDb count their users), and
    // no test stubs modules, globals or the environment.
    isolate: false,
    // Most of a test's time is spent waiting on PostgreSQL, Redis, sockets and child processes, so
    // three files at a time fit this 2-core machine (vitest's default is one worker on 2 cores).
    maxWorkers: 3,
  },
});
