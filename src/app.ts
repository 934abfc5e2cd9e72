import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionArgs, GraphQLError } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { createTokenVerifier } from './auth/token.js';
import { viewerFromCredentials, type Viewer } from './auth/viewer.js';
import type { Config } from './config.js';
import type { Context } from './context.js';
import { connectDb, disconnectDb } from './db.js';
import { maskUnexpected, unauthenticated } from './errors.js';
import { createInProcessBus, createRedisBus, type EventBus } from './events/bus.js';
import { createLocalPresence, createRedisPresence, type PresenceOptions } from './events/presence.js';
import { createTyping } from './events/typing.js';
import { createLoaders } from './loaders.js';
import { logger } from './logger.js';
import { buildSchema } from './schema/index.js';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { graphiqlOptions } from './graphiql.js';
import { createPersistedOperations } from './persisted.js';
import { createMetrics, metricsPlugins, useReadiness, useRequestLog, type Metrics } from './observability.js';
import { createRateLimiter } from './services/rate-limit.js';
import { limitPlugins, originPolicy, useOriginCheck } from './security.js';

export interface App {
  yoga: YogaServerInstance<Record<string, unknown>, Context>;
  bus: EventBus;
  metrics: Metrics;
  /** Listens on `port` (0 picks a free one) and resolves to the bound port. */
  start(port?: number): Promise<number>;
  stop(): Promise<void>;
  url(): string;
  wsUrl(): string;
}

export interface AppOptions {
  presence?: PresenceOptions;
}

/** Close codes of graphql-ws's vocabulary: 4401 unauthorized, 4403 forbidden. */
export const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_GOING_AWAY = 1001;

let schema: ReturnType<typeof buildSchema> | undefined;

interface SocketState {
  /** Null only for the API's own GraphiQL page, which authenticates each operation instead. */
  viewer: Viewer | null;
  expiryTimer?: NodeJS.Timeout;
  /** Running subscriptions by id: a socket that closes ends them without a `complete`. */
  operations: Map<string, string | null | undefined>;
}

export function buildApp(config: Config & { databaseUrl: string }, options: AppOptions = {}): App {
  schema ??= buildSchema();
  const verifier = createTokenVerifier(config.jwt);
  const bus = config.redisUrl ? createRedisBus(config.redisUrl) : createInProcessBus();
  const presence = bus.redis ? createRedisPresence(bus, bus.redis, options.presence) : createLocalPresence(bus, options.presence);
  const typing = createTyping(bus, bus.redis, config.limits.typingTtlS * 1000);
  const limiter = createRateLimiter(bus.redis);
  const metrics = createMetrics();
  const isAllowedOrigin = originPolicy(config);
  const persisted = createPersistedOperations(config, bus.redis);

  const contextFor = (viewer: Viewer | null): Context => ({
    viewer,
    config,
    bus,
    presence,
    typing,
    limiter,
    metrics,
    loaders: createLoaders(presence),
  });

  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health',
    landingPage: false,
    batching: false,
    cors: {
      origin: config.frontendOrigins.length > 0 ? config.frontendOrigins : '*',
      credentials: false,
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: ['content-type', 'authorization', 'accept', 'x-request-id'],
    },
    plugins: [
      useOriginCheck(isAllowedOrigin),
      useRequestLog(),
      useReadiness(bus),
      ...metricsPlugins(metrics),
      ...persisted.plugins,
      ...limitPlugins(config),
    ],
    graphiql: config.graphiql ? graphiqlOptions : false,
    renderGraphiQL,
    maskedErrors: { maskError: maskUnexpected },
    logging: {
      debug: (...args) => logger.debug(args),
      info: (...args) => logger.info(args),
      warn: (...args) => logger.warn(args),
      error: (...args) => logger.error(args),
    },
    // One factory for both transports: a WebSocket operation arrives with the viewer its
    // connection authenticated; an HTTP request brings its Authorization header.
    context: async (initial): Promise<Context> => {
      if ('viewer' in initial) return contextFor(initial.viewer as Viewer | null);
      const request = initial.request as Request;
      return contextFor(await viewerFromCredentials(verifier, { authorization: request.headers.get('authorization') }));
    },
  });

  const server: Server = createServer(yoga);
  // Cross-site WebSocket hijacking: a browser page from an unlisted origin cannot open a socket.
  const wss = new WebSocketServer({
    server,
    path: '/graphql',
    verifyClient: ({ origin, req }, done) =>
      origin === `http://${req.headers.host}` || isAllowedOrigin(origin) ? done(true) : done(false, 403, 'Origin not allowed'),
  });
  const sockets = new WeakMap<WebSocket, SocketState>();

  const leave = (userId: string | undefined, operation: string | null | undefined) => {
    metrics.activeSubscriptions.dec();
    logger.info({ userId, operation }, 'subscription left');
  };

  useServer<Record<string, unknown>, { request: IncomingMessage }>(
    {
      connectionInitWaitTimeout: 5_000,
      onConnect: async (ctx) => {
        const socket = ctx.extra.socket;
        const params = ctx.connectionParams ?? {};
        let viewer: Viewer | null = null;
        try {
          viewer = await viewerFromCredentials(verifier, {
            authorization: params.authorization ?? params.Authorization,
            token: params.token,
          });
        } catch {
          viewer = null;
        }
        if (!viewer) {
          // GraphiQL cannot send connectionParams: its sockets, from the API's own origin only,
          // carry the Headers tab in each operation's extensions and are checked per operation.
          const ownPage = config.graphiql && ctx.extra.request.headers.origin === `http://${ctx.extra.request.headers.host}`;
          const sentCredentials = params.authorization !== undefined || params.Authorization !== undefined || params.token !== undefined;
          if (ownPage && !sentCredentials) {
            sockets.set(socket, { viewer: null, operations: new Map() });
            return true;
          }
          socket.close(CLOSE_UNAUTHORIZED, 'Unauthorized');
          return false;
        }
        const state: SocketState = { viewer, operations: new Map() };
        // A token that expires while connected ends the socket: the client reconnects with a new one.
        const msLeft = viewer.tokenExpiresAt * 1000 - Date.now() + config.jwt.clockToleranceS * 1000;
        state.expiryTimer = setTimeout(() => socket.close(CLOSE_UNAUTHORIZED, 'Token expired'), Math.max(0, Math.min(msLeft, 2 ** 31 - 1)));
        sockets.set(socket, state);
        await presence.connected(viewer.id);
        metrics.openSockets.inc();
        logger.info({ userId: viewer.id }, 'socket connected');
        return true;
      },
      onDisconnect: (ctx, code) => {
        const state = sockets.get(ctx.extra.socket);
        if (!state) return;
        clearTimeout(state.expiryTimer);
        sockets.delete(ctx.extra.socket);
        for (const operation of state.operations.values()) leave(state.viewer?.id, operation);
        if (!state.viewer) return;
        presence.disconnected(state.viewer.id);
        metrics.openSockets.dec();
        logger.info({ userId: state.viewer.id, code }, 'socket disconnected');
      },
      onSubscribe: async (ctx, id, payload) => {
        const state = sockets.get(ctx.extra.socket);
        let viewer = state?.viewer ?? null;
        if (state && !viewer) {
          const headers = (payload.extensions?.headers ?? {}) as { authorization?: unknown };
          try {
            viewer = await viewerFromCredentials(verifier, { authorization: headers.authorization });
          } catch (error) {
            return [error as GraphQLError];
          }
          if (!viewer) return [unauthenticated()];
          const msLeft = viewer.tokenExpiresAt * 1000 - Date.now() + config.jwt.clockToleranceS * 1000;
          const socket = ctx.extra.socket;
          state.expiryTimer ??= setTimeout(() => socket.close(CLOSE_UNAUTHORIZED, 'Token expired'), Math.max(0, Math.min(msLeft, 2 ** 31 - 1)));
        }
        const query = await persisted.resolveSocketDocument(payload);
        if (typeof query !== 'string') return [query];
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          viewer,
        });
        let document: ExecutionArgs['document'];
        try {
          document = parse(query);
        } catch (error) {
          return [error as GraphQLError];
        }
        const args: ExecutionArgs = {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length > 0) return errors;
        logger.info({ userId: viewer?.id, operation: payload.operationName, variables: payload.variables }, 'subscription joined');
        metrics.activeSubscriptions.inc();
        state?.operations.set(id, payload.operationName);
        return args;
      },
      execute: (args) => (args.rootValue as { execute: typeof import('graphql').execute }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: typeof import('graphql').subscribe }).subscribe(args),
      onComplete: (ctx, id) => {
        const state = sockets.get(ctx.extra.socket);
        if (!state?.operations.has(id)) return;
        leave(state.viewer?.id, state.operations.get(id));
        state.operations.delete(id);
      },
    },
    wss,
  );

  let port = 0;
  let connected = false;

  return {
    yoga,
    bus,
    metrics,
    async start(requested = config.port) {
      connectDb(config.databaseUrl, { poolSize: config.databasePoolSize });
      connected = true;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(requested, () => resolve());
      });
      port = (server.address() as AddressInfo).port;
      return port;
    },
    async stop() {
      for (const client of wss.clients) client.close(CLOSE_GOING_AWAY, 'Server shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      // Stop accepting, let requests in flight finish, and close keep-alive connections as soon as
      // their response is out; whatever still runs after 5 s is cut.
      await new Promise<void>((resolve) => {
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const deadline = setTimeout(() => server.closeAllConnections(), 5_000);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(deadline);
          resolve();
        });
        server.closeIdleConnections();
      });
      typing.close();
      await presence.close();
      await bus.close();
      if (connected) await disconnectDb();
      connected = false;
    },
    url: () => `http://127.0.0.1:${port}/graphql`,
    wsUrl: () => `ws://127.0.0.1:${port}/graphql`,
  };
}
