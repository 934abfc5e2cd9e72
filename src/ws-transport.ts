import { CloseCode, handleProtocols, makeServer, MessageType, type ServerOptions } from 'graphql-ws';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { logger } from './logger.js';

/**
 * What each graphql-ws callback finds in `ctx.extra`: the upgrade request's headers that are
 * needed later, not the request. `use/ws` keeps the whole IncomingMessage (its headers, raw
 * headers and stream state) for as long as the socket lives; at ten thousand sockets that is
 * memory every major collection marks.
 */
export interface SocketExtra {
  socket: WebSocket;
  /** The upgrade request's `Origin` header. */
  origin: string | undefined;
  /** The upgrade request's `Host` header. */
  host: string | undefined;
}

/**
 * The heartbeat's tick: each `pingIntervalMs`, every socket is pinged once, a slot of them every
 * tick. A ping is a write to the socket (tens of microseconds): with twelve slots, 5,000 sockets
 * made 417 pings in one event-loop turn every second, and the sends and deliveries that waited
 * behind them were the slowest of bench:fanout. A tick is also a wake-up of the process, and the
 * pongs it brings back wake its peers: the same pings sent in 10 turns a second instead of 50 cost
 * an idle instance and its clients less CPU (bench/results/fanout-history.md, "A ninth session").
 * At 100 ms a turn pings about 42 sockets when an instance holds 5,000.
 */
const TICK_MS = 100;

/** Documents of subscribe messages not yet taken by `onSubscribe`, per socket and operation id. */
const documents = new WeakMap<WebSocket, Map<string, string>>();

/** The document a subscribe message carried, taken out of what graphql-ws keeps (once). */
export function takeDocument(socket: WebSocket, id: string): string | undefined {
  const pending = documents.get(socket);
  const query = pending?.get(id);
  pending?.delete(id);
  // No entry left for the socket's life: a live WeakMap entry costs every major collection.
  if (pending?.size === 0) documents.delete(socket);
  return query;
}

/**
 * graphql-ws's protocol server (`makeServer`) on a `ws` server; what `graphql-ws/use/ws` does,
 * without what it makes every socket hold for as long as it lives:
 * - one heartbeat timer for all sockets instead of an interval, a timeout and a pong listener each;
 * - the frame of a subscribe message is not kept: `use/ws` awaits the operation inside the frame's
 *   `message` listener, which keeps the frame's Buffer, and the protocol server keeps the
 *   message's text for the subscription's life. The document (2 KB for the shipped `OnEvents`,
 *   three copies per socket) is taken out of the text the protocol server keeps and handed to
 *   `onSubscribe` by `takeDocument` instead.
 *
 * Ping semantics are `use/ws`'s: a socket that has not answered a ping by its next one is
 * terminated (a vanished peer, a half-open connection).
 */
export function serveGraphqlWs<P extends Record<string, unknown>>(
  options: ServerOptions<P, SocketExtra>,
  wss: WebSocketServer,
  pingIntervalMs: number,
) {
  const server = makeServer<P, SocketExtra>(options);
  wss.options.handleProtocols = handleProtocols;

  const count = Math.max(1, Math.round(pingIntervalMs / TICK_MS));
  const slots = Array.from({ length: count }, () => new Set<WebSocket>());
  const unanswered = new WeakSet<WebSocket>();
  let next = 0;
  let slot = 0;
  function answered(this: WebSocket) {
    unanswered.delete(this);
  }
  const heartbeat = setInterval(() => {
    for (const socket of slots[slot]!) {
      if (socket.readyState !== socket.OPEN) continue;
      if (unanswered.has(socket)) {
        socket.terminate();
        continue;
      }
      unanswered.add(socket);
      socket.ping();
    }
    slot = (slot + 1) % count;
  }, Math.max(1, Math.floor(pingIntervalMs / count)));
  heartbeat.unref();

  wss.on('connection', (socket, request) => {
    const own = slots[next++ % count]!;
    own.add(socket);
    socket.on('pong', answered);
    // A frame ws refused (too large, malformed): the peer's doing. ws has already begun closing with
    // its own code (1009, 1002…), which this close does not replace.
    socket.once('error', (error) => {
      logger.warn({ err: error }, 'WebSocket protocol error');
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', (data) => {
            // Not awaited here: this listener's frame would keep `data` for a subscription's life.
            handle(withoutDocument(socket, data)).catch((error: unknown) => {
              logger.error({ err: error }, 'WebSocket message handling failed');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      { socket, origin: request.headers.origin, host: request.headers.host },
    );
    socket.once('close', (code, reason) => {
      own.delete(socket);
      closed(code, String(reason)).catch((error: unknown) => logger.error({ err: error }, 'WebSocket close handling failed'));
    });
  });

  return {
    stop() {
      clearInterval(heartbeat);
    },
  };
}

/**
 * The message's text, a subscribe message's `query` replaced with "" and kept aside for
 * `takeDocument`. Anything else (and anything malformed, which graphql-ws refuses itself) as it came.
 */
function withoutDocument(socket: WebSocket, data: RawData): string {
  const text = String(data);
  if (!text.includes(MessageType.Subscribe)) return text;
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return text;
  }
  const { type, id, payload } = (message ?? {}) as { type?: unknown; id?: unknown; payload?: { query?: unknown } };
  if (type !== MessageType.Subscribe || typeof id !== 'string' || typeof payload?.query !== 'string' || !payload.query) return text;
  let pending = documents.get(socket);
  if (!pending) documents.set(socket, (pending = new Map()));
  pending.set(id, payload.query);
  payload.query = '';
  return JSON.stringify(message);
}
