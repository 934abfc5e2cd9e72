import type { Server } from 'node:http';
import { getOperationAST, GraphQLError, type ExecutionArgs, type GraphQLFormattedError } from 'graphql';
import { CloseCode, type SubscribePayload } from 'graphql-ws';
import { WebSocket, WebSocketServer } from 'ws';
import { whenTokenExpires } from './auth/expiry.js';
import { viewerFromCredentials, type Viewer } from './auth/viewer.js';
import { appError, ErrorCode, maskUnexpected, unauthenticated, withCode } from './errors.js';
import type { SocketOperationContext, Yoga } from './http.js';
import { logger } from './logger.js';
import { recordOperation } from './observability.js';
import type { Runtime } from './runtime.js';
import { serveGraphqlWs, takeDocument } from './ws-transport.js';
import { Releasing, releaseSent } from './events/release.js';

/** Close codes of graphql-ws's vocabulary: 4401 unauthorized (bad, missing or expired credentials). */
export const CLOSE_UNAUTHORIZED = CloseCode.Unauthorized;
/**
 * The server could not check the credentials (database or key server down): 1013 "Try Again
 * Later" is one of the codes graphql-ws clients retry, unlike 4401, 4500 or 1011.
 */
export const CLOSE_TRY_AGAIN = 1013;
const CLOSE_GOING_AWAY = 1001;
/**
 * How long a shutdown waits for peers to answer its close frames. A browser answers in
 * milliseconds; the wait leaves most of the 10 s budget to the HTTP requests in flight.
 */
const CLOSE_HANDSHAKE_MS = 2_000;
const MASKED = 'Unexpected error.';

interface Operation {
  name: string | null | undefined;
  /** Ends the operation's topic subscriptions, so its iterator finishes at once. */
  end: AbortController;
  arrival: Arrival;
}

interface SocketState {
  /** Null only for the API's own GraphiQL page, which authenticates each operation instead. */
  viewer: Viewer | null;
  /** Counted in presence and in the open-sockets gauge (an authenticated socket). */
  counted: boolean;
  cancelExpiry?: () => void;
  operations: Map<string, Operation>;
}

/** Errors a client caused (credentials, conflicting claims) as opposed to a server-side failure. */
const clientCaused = (error: unknown) => {
  const code = (error as { extensions?: { code?: unknown } }).extensions?.code;
  return typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR';
};

/** Write errors of a socket the peer already closed or reset. */
const SOCKET_GONE = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);
const socketGone = (error: GraphQLError): boolean => {
  const original = (error.originalError ?? error) as NodeJS.ErrnoException;
  return typeof original.code === 'string' && SOCKET_GONE.has(original.code);
};

/** graphql-ws reports errors by `instanceof GraphQLError`; a test runner may hold a second copy. */
function asGraphQLError(error: Error): GraphQLError {
  if (error instanceof GraphQLError) return error;
  const { extensions, path } = error as Partial<GraphQLError>;
  return new GraphQLError(error.message, { extensions, path });
}

/**
 * An error as HTTP sends it: `http` (the status yoga gives an HTTP response) and `unexpected` are
 * yoga's HTTP-side details, which its HTTP result processor drops too.
 */
function forSocket(error: GraphQLError): GraphQLFormattedError {
  const formatted = error.toJSON();
  if (!formatted.extensions) return formatted;
  const extensions: Record<string, unknown> = { ...formatted.extensions };
  delete extensions.http;
  delete extensions.unexpected;
  const { extensions: _dropped, ...rest } = formatted;
  return Object.keys(extensions).length > 0 ? { ...rest, extensions } : rest;
}

/** A socket opened by the API's own pages (GraphiQL): its Origin is the host it connects to. */
const fromOwnPage = ({ origin, host }: { origin?: string | undefined; host?: string | undefined }) => origin === `http://${host}`;

/** When an operation arrived and whose it is, for its log line (keyed by graphql-ws's payload object). */
interface Arrival {
  started: number;
  userId?: string;
}

/**
 * graphql-ws on the HTTP server's `/graphql`: connection auth, presence and gauges tied to the
 * socket's own `close` event (whatever ended it), operations run through yoga's envelop.
 */
export function attachGraphqlWs(server: Server, yoga: Yoga, runtime: Runtime) {
  const { config, verifier, presence, metrics, persisted, isAllowedOrigin } = runtime;
  const wss = new WebSocketServer({
    server,
    path: '/graphql',
    // A larger frame is refused (1009) from its header, before it is buffered.
    maxPayload: config.limits.requestBytes,
    // Cross-site WebSocket hijacking: a browser page from an unlisted origin cannot open a socket.
    verifyClient: ({ origin, req }, done) =>
      fromOwnPage(req.headers) || isAllowedOrigin(origin) ? done(true) : done(false, 403, 'Origin not allowed'),
  });
  const sockets = new Map<WebSocket, SocketState>();
  /**
   * Arrivals of operations not registered yet (being checked, or refused). A registered one keeps
   * its arrival itself: not a WeakMap entry for each live subscription for every major collection
   * to mark.
   */
  const arrivals = new WeakMap<SubscribePayload, Arrival>();
  const operationName = (payload: SubscribePayload, args?: ExecutionArgs) =>
    payload.operationName ?? (args ? getOperationAST(args.document, args.operationName)?.name?.value : undefined);
  const record = (socket: WebSocket, id: string, payload: SubscribePayload, errors: readonly GraphQLError[], args?: ExecutionArgs, message?: string) => {
    const arrival = sockets.get(socket)?.operations.get(id)?.arrival ?? arrivals.get(payload);
    recordOperation(metrics, { operation: operationName(payload, args), userId: arrival?.userId, started: arrival?.started ?? performance.now(), errors }, message);
  };

  const endOperation = (state: SocketState, id: string) => {
    const operation = state.operations.get(id);
    if (!operation) return;
    state.operations.delete(id);
    operation.end.abort();
    metrics.activeSubscriptions.dec();
    logger.info({ userId: state.viewer?.id, operation: operation.name }, 'subscription left');
  };

  // Registered before graphql-ws's own listener, so this bookkeeping never waits for anything.
  const socketClosed = (socket: WebSocket, code: number) => {
    const state = sockets.get(socket);
    if (!state) return;
    sockets.delete(socket);
    state.cancelExpiry?.();
    for (const id of [...state.operations.keys()]) endOperation(state, id);
    if (!state.counted || !state.viewer) return;
    presence.disconnected(state.viewer.id);
    metrics.openSockets.dec();
    logger.info({ userId: state.viewer.id, code }, 'socket disconnected');
  };
  wss.on('connection', (socket) => socket.once('close', (code) => socketClosed(socket, code)));

  const expireSocket = (socket: WebSocket, viewer: Viewer) =>
    whenTokenExpires(viewer, config.jwt.clockToleranceS, () => socket.close(CLOSE_UNAUTHORIZED, 'Token expired'));

  /** Turns whatever refused an operation into errors for that operation alone. */
  const refusal = (error: unknown): GraphQLError[] => [asGraphQLError(maskUnexpected(error, MASKED))];

  const transport = serveGraphqlWs<Record<string, unknown>>(
    {
      connectionInitWaitTimeout: 5_000,
      onConnect: async (ctx) => {
        const socket = ctx.extra.socket;
        const params = ctx.connectionParams ?? {};
        let viewer: Viewer | null;
        try {
          viewer = await viewerFromCredentials(verifier, { authorization: params.authorization ?? params.Authorization, token: params.token });
        } catch (error) {
          if (clientCaused(error)) socket.close(CLOSE_UNAUTHORIZED, 'Unauthorized');
          else {
            logger.error({ err: error }, 'socket authentication failed');
            socket.close(CLOSE_TRY_AGAIN, 'Try again later');
          }
          return false;
        }
        // Closed while the user was looked up: nothing to count.
        if (socket.readyState !== WebSocket.OPEN) return false;
        if (!viewer) {
          // GraphiQL cannot send connectionParams: its sockets, from the API's own origin only,
          // carry the Headers tab in each operation's extensions and are checked per operation.
          const ownPage = config.graphiql && fromOwnPage(ctx.extra);
          const sentCredentials = params.authorization !== undefined || params.Authorization !== undefined || params.token !== undefined;
          if (ownPage && !sentCredentials) {
            sockets.set(socket, { viewer: null, counted: false, operations: new Map() });
            return true;
          }
          socket.close(CLOSE_UNAUTHORIZED, 'Unauthorized');
          return false;
        }
        // Counted before presence is awaited, so a close from here on is undone by socketClosed.
        sockets.set(socket, { viewer, counted: true, operations: new Map(), cancelExpiry: expireSocket(socket, viewer) });
        metrics.openSockets.inc();
        await presence.connected(viewer.id);
        logger.info({ userId: viewer.id }, 'socket connected');
        return true;
      },
      onSubscribe: async (ctx, id, payload) => {
        const socket = ctx.extra.socket;
        // The document, which graphql-ws's copy of the message no longer carries (src/ws-transport.ts).
        const request = { ...payload, query: takeDocument(socket, id) ?? payload.query };
        const state = sockets.get(socket);
        const arrival: Arrival = { started: performance.now(), userId: state?.viewer?.id };
        arrivals.set(payload, arrival);
        if (!state) return [unauthenticated()];
        try {
          let viewer = state.viewer;
          if (!viewer) {
            const headers = (payload.extensions?.headers ?? {}) as { authorization?: unknown };
            viewer = await viewerFromCredentials(verifier, { authorization: headers.authorization });
            if (!viewer) return [unauthenticated()];
            arrival.userId = viewer.id;
            state.cancelExpiry ??= expireSocket(socket, viewer);
          }
          const query = await persisted.resolveSocketDocument(request);
          if (typeof query !== 'string') return [asGraphQLError(query)];
          const end = new AbortController();
          const initial: SocketOperationContext = { viewer, signal: end.signal };
          // Not graphql-ws' `ctx` spread in: nothing reads its fields from the GraphQL context, and
          // with them the context has too many properties for V8 to keep it in fast mode, a hash
          // table of 832 bytes per subscription for as long as it lives.
          const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
            socket,
            // With its document until the operation has started (persisted operations register it then).
            params: request,
            ...initial,
          });
          // The same codes yoga gives these refusals over HTTP.
          let document: ExecutionArgs['document'];
          try {
            document = parse(query);
          } catch (error) {
            if (!(error instanceof GraphQLError)) throw error;
            return [withCode(error, ErrorCode.GRAPHQL_PARSE_FAILED)];
          }
          const errors = validate(schema, document);
          if (errors.length > 0) return errors.map((error: GraphQLError) => withCode(asGraphQLError(error), ErrorCode.GRAPHQL_VALIDATION_FAILED));
          if (!getOperationAST(document, payload.operationName)) {
            return [appError(ErrorCode.OPERATION_RESOLUTION_FAILURE, 'Could not determine what operation to execute.')];
          }
          const args: ExecutionArgs = {
            schema,
            operationName: payload.operationName,
            document,
            variableValues: payload.variables,
            contextValue: await contextFactory(),
            rootValue: { execute, subscribe },
          };
          // The socket closed meanwhile: this operation would never be ended by it.
          if (sockets.get(socket) !== state) {
            end.abort();
            return [unauthenticated('Socket closed')];
          }
          logger.info({ userId: viewer.id, operation: operationName(payload, args) }, 'subscription joined');
          metrics.activeSubscriptions.inc();
          state.operations.set(id, { name: payload.operationName, end, arrival });
          arrivals.delete(payload);
          return args;
        } catch (error) {
          return refusal(error);
        }
      },
      execute: (args) => (args.rootValue as { execute: typeof import('graphql').execute }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: typeof import('graphql').subscribe }).subscribe(args),
      // graphql-ws awaits `return()` on a client's `complete` and on close; ending the operation's
      // topics first is what lets that return at once.
      onOperation: (ctx, id, payload, args, result) => {
        const operation = sockets.get(ctx.extra.socket)?.operations.get(id);
        if (!operation || !(Symbol.asyncIterator in result)) return undefined;
        // Started: the subscription's context need not keep the document's text for its life.
        (args.contextValue as { params?: SubscribePayload }).params = payload;
        return new EndingWith(result, operation.end);
      },
      // A single result (a query or mutation) ends its operation: its line. A subscription's
      // events count the errors they carry.
      onNext: (ctx, id, payload, args, result) => {
        const subscription = getOperationAST(args.document, args.operationName)?.operation === 'subscription';
        if (!subscription) record(ctx.extra.socket, id, payload, result.errors ?? [], args);
        else if (result.errors) record(ctx.extra.socket, id, payload, result.errors, args, 'subscription event');
        if (!result.errors) return undefined;
        return { ...result, errors: result.errors.map(forSocket) };
      },
      // An operation refused before it ran (onSubscribe's errors, validation), or a subscription
      // whose stream threw (wrapped by graphql-ws: keep the original's code, mask anything
      // unexpected). Either ends the operation.
      onError: (ctx, id, payload, errors): GraphQLFormattedError[] => {
        // The client went away while an event was being written to it (a cut TCP connection):
        // nothing failed on our side and nobody is left to tell.
        if (errors.every(socketGone)) {
          logger.debug({ operationId: id }, 'socket gone while sending an event');
          return errors.map(() => forSocket(new GraphQLError(MASKED, { extensions: { code: 'INTERNAL_SERVER_ERROR' } })));
        }
        const sent = errors.map((error) => {
          // A refusal with its own code (a variable's, with its location) stays as it is.
          const original = error.originalError;
          const source = !clientCaused(error) && original && clientCaused(original) ? (original as GraphQLError) : error;
          return asGraphQLError(maskUnexpected(source, MASKED));
        });
        record(ctx.extra.socket, id, payload, sent);
        return sent.map(forSocket);
      },
      onComplete: (ctx, id) => {
        const state = sockets.get(ctx.extra.socket);
        if (state) endOperation(state, id);
      },
    },
    wss,
    config.wsPingIntervalMs,
  );

  return {
    /**
     * Closes every socket with 1001 and stops accepting new ones. A peer gone silent without
     * closing (a laptop asleep, a phone off the network) never answers the close frame, and `ws`
     * would wait 30 s for it while the shutdown's whole budget is 10 s: after CLOSE_HANDSHAKE_MS
     * the sockets still open are cut.
     */
    async close() {
      transport.stop();
      for (const client of wss.clients) client.close(CLOSE_GOING_AWAY, 'Server shutting down');
      const cut = setTimeout(() => {
        logger.info({ sockets: wss.clients.size }, 'shutdown: cutting sockets whose peer did not answer the close frame');
        for (const client of wss.clients) client.terminate();
      }, CLOSE_HANDSHAKE_MS);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      clearTimeout(cut);
    },
  };
}

/** After graphql-ws has written a result to the socket (events/release.ts). */
const releaseWritten = (sent: IteratorResult<unknown>) => {
  if (!sent.done) releaseSent(sent.value);
};

/**
 * The operation's iterator, whose `return()` ends the operation's topics before waiting on it.
 * graphql-ws asks for the next result once it has written the last: the last is let go of then
 * (events/release.ts). One per live subscription.
 */
class EndingWith<T> extends Releasing<T> {
  private readonly end: AbortController;

  constructor(iterable: AsyncIterable<T>, end: AbortController) {
    super(iterable[Symbol.asyncIterator](), releaseWritten);
    this.end = end;
  }

  override async return(value?: unknown): Promise<IteratorResult<T>> {
    this.end.abort();
    return (await super.return(value)) ?? { done: true, value: undefined };
  }

  override async throw(error: unknown): Promise<IteratorResult<T>> {
    this.end.abort();
    return super.throw(error);
  }
}
