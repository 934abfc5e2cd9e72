import type { AddressInfo } from 'node:net';
import { ConfigError, type Config } from './config.js';
import { connectDb, disconnectDb } from './db.js';
import { portIsFree } from './ports.js';
import type { EventBus } from './events/bus.js';
import { createHttp, type Yoga } from './http.js';
import { logger } from './logger.js';
import { watchLoopStalls, type Metrics } from './observability.js';
import { createRuntime, type RuntimeOptions } from './runtime.js';
import { buildSchema } from './schema/index.js';
import { attachGraphqlWs } from './ws.js';

/** Connections the kernel may queue before the server accepts them. */
const LISTEN_BACKLOG = 4096;

export { CLOSE_UNAUTHORIZED } from './ws.js';

export interface App {
  yoga: Yoga;
  bus: EventBus;
  metrics: Metrics;
  /** Listens on `port` (0 picks a free one) and resolves to the bound port. */
  start(port?: number): Promise<number>;
  stop(): Promise<void>;
  url(): string;
  wsUrl(): string;
}

export type AppOptions = RuntimeOptions;

let schema: ReturnType<typeof buildSchema> | undefined;

/** yoga (HTTP) and graphql-ws (WebSocket) on one HTTP server, sharing one runtime. */
export function buildApp(config: Config & { databaseUrl: string }, options: AppOptions = {}): App {
  schema ??= buildSchema();
  const runtime = createRuntime(config, options);
  const { yoga, server, closing } = createHttp(runtime, schema);
  const ws = attachGraphqlWs(server, yoga, runtime);

  let port = 0;
  let connected = false;
  let unwatch: (() => void) | undefined;

  return {
    yoga,
    bus: runtime.bus,
    metrics: runtime.metrics,
    async start(requested = config.port) {
      // Said in one line before listening: a listen error would also reach graphql-ws's server,
      // which prints it with a stack as an internal error.
      if (requested !== 0 && !(await portIsFree(requested))) throw new ConfigError(`PORT ${requested} is already in use`);
      connectDb(config.databaseUrl, {
        poolSize: config.databasePoolSize,
        idleTimeoutMs: config.databasePoolIdleTimeoutMs,
        statementTimeoutMs: config.databaseStatementTimeoutMs,
      });
      connected = true;
      await runtime.jobs.start(config.databaseUrl);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // A burst of connections (a reconnect storm after a deploy) waits in the kernel's accept
        // queue while the event loop is busy; Node's default of 511 overflowed at a few thousand
        // sockets and the kernel reset the rest (bench:fanout). The kernel caps it at somaxconn.
        server.listen({ port: requested, backlog: LISTEN_BACKLOG }, () => resolve());
      });
      port = (server.address() as AddressInfo).port;
      runtime.uploads.listening(port);
      runtime.notifier.listening(port);
      if (config.logLoopStallsMs > 0) {
        unwatch = watchLoopStalls(config.logLoopStallsMs, (stall) => logger.warn({ stallMs: stall.ms, at: stall.at, monotonicUs: stall.monotonicUs }, 'event loop stall'));
      }
      return port;
    },
    async stop() {
      unwatch?.();
      // Stop accepting first, so that nothing new starts while sockets and requests wind down; let
      // requests in flight finish and close keep-alive connections as soon as their response is
      // out; whatever still runs after 5 s is cut. The sockets are closed meanwhile (ws.close).
      closing();
      const drained = new Promise<void>((resolve) => {
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const deadline = setTimeout(() => server.closeAllConnections(), 5_000);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(deadline);
          resolve();
        });
        server.closeIdleConnections();
      });
      await ws.close();
      await drained;
      // Jobs in flight get up to 3 s more (src/jobs/index.ts) before the pool closes.
      await runtime.jobs.stop();
      await runtime.close();
      if (connected) await disconnectDb();
      connected = false;
    },
    url: () => `http://127.0.0.1:${port}/graphql`,
    wsUrl: () => `ws://127.0.0.1:${port}/graphql`,
  };
}
