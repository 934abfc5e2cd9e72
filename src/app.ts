import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PothosValidationError } from '@pothos/core';
import { createGraphQLError, createYoga, maskError, type YogaServerInstance } from 'graphql-yoga';
import { GraphQLError } from 'graphql';
import { createTokenVerifier } from './auth/token.js';
import { viewerFromCredentials } from './auth/viewer.js';
import type { Config } from './config.js';
import type { Context } from './context.js';
import { connectDb, disconnectDb } from './db.js';
import { ErrorCode } from './errors.js';
import { logger } from './logger.js';
import { buildSchema } from './schema/index.js';

export interface App {
  yoga: YogaServerInstance<Record<string, unknown>, Context>;
  /** Listens on `port` (0 picks a free one) and resolves to the bound port. */
  start(port?: number): Promise<number>;
  stop(): Promise<void>;
  url(): string;
}

let schema: ReturnType<typeof buildSchema> | undefined;

/**
 * Errors a client caused are shown; anything else is logged with its stack and replaced by a
 * generic message, so no SQL or stack reaches a client.
 */
function maskUnexpected(error: unknown, message: string, isDev?: boolean) {
  const original: unknown = (error as { originalError?: unknown }).originalError ?? error;
  if (original instanceof Error && original.name === PothosValidationError.name) {
    const { path, nodes } = error as GraphQLError;
    return createGraphQLError(original.message, { path, nodes, extensions: { code: ErrorCode.BAD_USER_INPUT } });
  }
  // Errors we raised on purpose carry a code. Checks are by shape and name, not instanceof: a
  // test runner may load a package twice (ESM and CJS), and instanceof then lies.
  const code = (original as { extensions?: { code?: unknown } } | undefined)?.extensions?.code;
  if (typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR') return error as GraphQLError;
  logger.error({ err: original }, 'unexpected error');
  return maskError(error, message, isDev);
}

export function buildApp(config: Config & { databaseUrl: string }): App {
  schema ??= buildSchema();
  const verifier = createTokenVerifier(config.jwt);

  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health',
    landingPage: false,
    batching: false,
    graphiql: config.graphiql,
    maskedErrors: { maskError: maskUnexpected },
    logging: {
      debug: (...args) => logger.debug(args),
      info: (...args) => logger.info(args),
      warn: (...args) => logger.warn(args),
      error: (...args) => logger.error(args),
    },
    context: async ({ request }): Promise<Context> => ({
      viewer: await viewerFromCredentials(verifier, { authorization: request.headers.get('authorization') }),
      config,
    }),
  });

  const server: Server = createServer(yoga);
  let port = 0;

  return {
    yoga,
    async start(requested = config.port) {
      connectDb(config.databaseUrl, { poolSize: config.databasePoolSize });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(requested, () => resolve());
      });
      port = (server.address() as AddressInfo).port;
      return port;
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await disconnectDb();
    },
    url: () => `http://127.0.0.1:${port}/graphql`,
  };
}
