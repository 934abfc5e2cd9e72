import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { GraphQLSchema } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { devSignInRoutes } from './auth/dev-sign-in.js';
import { viewerFromCredentials, type Viewer } from './auth/viewer.js';
import type { Context } from './context.js';
import { useGraphqlJsEngine } from './engine.js';
import { ErrorCode, maskUnexpected } from './errors.js';
import { graphiqlAssetRoutes, graphiqlOptions, renderGraphiQL } from './graphiql.js';
import { metricsPlugins, useReadiness, useRequestLog, yogaLogging } from './observability.js';
import type { Runtime } from './runtime.js';
import { limitPlugins, useOriginCheck } from './security.js';
import { unsubscribeRoutes } from './notifications/unsubscribe.js';
import { uploadRoutes } from './uploads/routes.js';
import { useEventCursorFirst } from './schema/events.js';
import { useSkipVanishedEvents } from './schema/live.js';
import { useFreshRequestCaches } from './request-caches.js';

export type Yoga = YogaServerInstance<Record<string, unknown>, Context>;

/** What a graphql-ws operation hands to the context factory instead of an HTTP request. */
export interface SocketOperationContext {
  viewer: Viewer | null;
  /** Aborted when the operation ends (completed, or its socket closed). */
  signal: AbortSignal;
}

/** graphql-yoga for HTTP (queries, mutations, SSE subscriptions), with the plugins both transports share. */
export function createHttp(runtime: Runtime, schema: GraphQLSchema): { yoga: Yoga; server: Server; closing: () => void } {
  const { config, verifier, bus, metrics, persisted, isAllowedOrigin } = runtime;
  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health',
    landingPage: false,
    batching: false,
    // boundedBodies (below) already refuses a body over MAX_REQUEST_BYTES before yoga reads it;
    // yoga's own limit would pipe every request's body through one more TransformStream.
    maxRequestBodySize: false,
    cors: {
      origin: config.frontendOrigins.length > 0 ? config.frontendOrigins : '*',
      credentials: false,
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: ['content-type', 'authorization', 'accept', 'x-request-id'],
    },
    plugins: [
      useGraphqlJsEngine(),
      useOriginCheck(isAllowedOrigin),
      useRequestLog(),
      useReadiness(bus),
      ...metricsPlugins(metrics),
      ...persisted.plugins,
      ...limitPlugins(config),
      useEventCursorFirst(),
      useSkipVanishedEvents(),
      useFreshRequestCaches(),
    ],
    graphiql: config.graphiql ? graphiqlOptions : false,
    renderGraphiQL,
    maskedErrors: { maskError: maskUnexpected },
    logging: yogaLogging(),
    // One factory for both transports: a WebSocket operation arrives with the viewer its
    // connection authenticated; an HTTP request brings its Authorization header, and its
    // subscriptions (SSE) end when the client goes away or the token expires.
    context: async (initial): Promise<Context> => {
      if ('viewer' in initial && 'signal' in initial) {
        const socket = initial as unknown as SocketOperationContext;
        return runtime.contextFor(socket.viewer, socket.signal);
      }
      const request = initial.request as Request;
      const viewer = await viewerFromCredentials(verifier, { authorization: request.headers.get('authorization') });
      return runtime.contextFor(viewer, request.signal);
    },
  });
  // Files go around the GraphQL body limit: the upload routes stream them, bounded by their own size.
  const routes = unsubscribeRoutes(runtime.notifier.unsubscribe, uploadRoutes(runtime.uploads, isAllowedOrigin, boundedBodies(yoga, config.limits.requestBytes)));
  const handler = config.graphiql ? graphiqlAssetRoutes(routes) : routes;
  // The web app's development sign-in; absent in production and with a real JWT_SECRET.
  const { listener, closing } = closingConnections(devSignInRoutes(config, isAllowedOrigin, handler));
  const server = createServer(listener);
  // Only the wait between requests: a request's own time is bounded by Node's headers and request
  // timeouts, and a shutdown closes idle connections at once (src/app.ts).
  server.keepAliveTimeout = config.httpKeepAliveTimeoutMs;
  return { yoga, server, closing };
}

/**
 * Once `closing()` is called (a shutdown), every response not yet started says `Connection: close`,
 * and Node closes its connection once it is out. Without it the answer invites the client to send
 * its next request on a connection the shutdown then closes as idle: a proxy's pooled connection
 * or a browser's next query sent just then was reset, unanswered.
 */
function closingConnections(handler: RequestListener): { listener: RequestListener; closing: () => void } {
  const unanswered = new Set<ServerResponse>();
  // One listener for all responses (`this` is the response): nothing allocated per request for it.
  function answered(this: ServerResponse) {
    unanswered.delete(this);
  }
  let closing = false;
  const listener: RequestListener = (req, res) => {
    if (closing) res.setHeader('Connection', 'close');
    else {
      unanswered.add(res);
      res.once('close', answered);
    }
    handler(req, res);
  };
  return {
    listener,
    closing() {
      closing = true;
      for (const res of unanswered) if (!res.headersSent) res.setHeader('Connection', 'close');
      unanswered.clear();
    },
  };
}

/** Bodies up to this size reach whatwg-node as a Buffer, larger ones as a stream (see boundedBodies). */
const BUFFERED_BODY_BYTES = 4096;

/**
 * Request bodies are read here, up to `maxBytes`, before yoga sees them: a declared length over
 * the limit is refused at once with 413, and a chunked body is refused as soon as it passes the
 * limit, so a large body never sits in memory.
 */
function boundedBodies(handler: RequestListener, maxBytes: number): RequestListener {
  return (req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return handler(req, res);
    if (Number(req.headers['content-length'] ?? 0) > maxBytes) return refuseBody(req, res, maxBytes);
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData).off('end', onEnd);
        chunks.length = 0;
        return refuseBody(req, res, maxBytes);
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      // whatwg-node takes either. A Buffer is read as it is, where a stream goes through Node and
      // web streams on every request; but whatwg-node first lists the keys of what it is given,
      // which for a Buffer are its bytes: a stream beyond a few KB.
      const body = Buffer.concat(chunks, size);
      (req as IncomingMessage & { body?: Buffer | Readable }).body = size > 0 && size <= BUFFERED_BODY_BYTES ? body : Readable.from(size > 0 ? [body] : []);
      handler(req, res);
    };
    req.on('data', onData).on('end', onEnd);
  };
}

function refuseBody(req: IncomingMessage, res: ServerResponse, maxBytes: number) {
  res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
  res.end(JSON.stringify({ errors: [{ message: `Request body larger than ${maxBytes} bytes`, extensions: { code: ErrorCode.BAD_USER_INPUT } }] }));
  // What the client is still sending is discarded, not stored, for a moment, so that it reads the
  // answer before the connection is cut.
  req.resume();
  setTimeout(() => req.socket.destroy(), 2_000).unref();
}
