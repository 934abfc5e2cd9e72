import './load-env.js';
import { buildApp, type App } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { EmbeddedPostgresError, startEmbeddedPostgres } from './db/embedded.js';
import { migrateDatabase } from './db/migrations.js';
import { logger } from './logger.js';

/** Set once the embedded PostgreSQL runs, so that a failure after it still stops it. */
let stopEmbedded: (() => Promise<void>) | undefined;

/** Set once the API listens. */
let app: App | undefined;

async function main() {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // Bounded: a stuck dependency must not keep a terminating pod alive for ever.
    setTimeout(() => {
      logger.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000).unref();
    await app?.stop();
    await stopEmbedded?.();
    process.exit(0);
  };
  // Operators (and bench/fanout.ts) ask for a memory report; with --expose-gc it collects first,
  // so the figures show what is held, not garbage waiting for the next collection.
  process.on('SIGUSR2', () => {
    (globalThis as { gc?: () => void }).gc?.();
    logger.warn({ memory: process.memoryUsage() }, 'memory report');
  });
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // The terminal that started it closed (the README's First steps run `npm start &`): node's
  // default would exit at once and leave the embedded PostgreSQL running without its server.
  process.on('SIGHUP', () => void shutdown('SIGHUP'));

  const config = loadConfig();
  logger.level = config.logLevel;
  if (config.jwt.secretIsGenerated) {
    logger.warn('JWT_SECRET is not set: using the development secret kept in .data/dev-jwt-secret (never do this in production)');
  }

  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    logger.info(`DATABASE_URL is not set: starting the embedded PostgreSQL (data in ${config.embeddedPostgresDir})`);
    const embedded = await startEmbeddedPostgres({
      port: config.embeddedPostgresPort,
      dataDir: config.embeddedPostgresDir,
      log: (msg) => logger.debug(msg),
      notice: (msg) => logger.warn(msg),
    });
    databaseUrl = embedded.url;
    stopEmbedded = embedded.stop;
  }
  const applied = await migrateDatabase(databaseUrl, (msg) => logger.info(msg));
  if (applied.length > 0) logger.info({ applied }, 'migrations applied');

  app = buildApp({ ...config, databaseUrl });
  const port = await app.start(config.port);
  logger.info({ port }, `GraphQL API ready at http://localhost:${port}/graphql`);
}

main().catch(async (error: unknown) => {
  // One readable line with the cause, at a level every LOG_LEVEL but silent shows; the stack only
  // for what we did not foresee.
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  if (error instanceof ConfigError) {
    logger.fatal(`Configuration error: ${message}`);
  } else if (error instanceof EmbeddedPostgresError) {
    logger.fatal(`failed to start: ${message}`);
  } else {
    logger.fatal({ err: error }, `failed to start: ${message}`);
  }
  await stopEmbedded?.().catch(() => undefined);
  process.exit(1);
});
