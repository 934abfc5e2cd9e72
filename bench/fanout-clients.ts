/**
 * The subscribers of bench/fanout.ts, in a process of their own (several of them), so the
 * benchmark's clients do not run on the event loop of the servers they measure nor on the one
 * that paces the sends. Driven over IPC by bench/fanout.ts (FanoutCommand → FanoutReply).
 *
 * API sockets are real graphql-ws clients following the shipped `OnEvents` document with their
 * own retry and backoff, and resume from the last cursor they received (the `after` variable is
 * updated as events arrive, so a retry re-subscribes from there, as an app does). Floor sockets
 * are bare `ws` connections to bench/floor-server.ts.
 */
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { OnEventsDocument } from '../operations/generated/graphql.js';

export interface Subscriber {
  /** Index in the benchmark's list: the socket follows conversation `index`. */
  index: number;
  token: string;
  conversationId: string;
}

export type FanoutCommand =
  | { type: 'connect'; target: 'api' | 'floor'; ports: number[]; subscribers: Subscriber[]; perSecond: number }
  | { type: 'collect' }
  | { type: 'reset-all' }
  | { type: 'close-all' };

export type FanoutReply =
  | { type: 'connected'; subscribed: number; failed: number; errors: string[]; seconds: number }
  | { type: 'collected'; latencies: number[]; deliveries: number[]; subscribed: number; failed: number; reconnects: number; errors: string[] }
  | { type: 'reset'; sockets: number }
  | { type: 'closed' };

const EVENTS = print(OnEventsDocument);
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Every WebSocket a graphql-ws client of this process opened, so a reset can cut them like a network would. */
const openSockets = new Set<WebSocket>();
class TrackedWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    openSockets.add(this);
    this.once('close', () => openSockets.delete(this));
  }
}

interface Follower {
  close(): void;
}

const followers: Follower[] = [];
/** Send→receive latency (ms) of each measured message, and the message number it belonged to. */
let latencies: number[] = [];
let deliveries: number[] = [];
let subscribed = 0;
let failed = 0;
let reconnects = 0;
const errors: string[] = [];

/**
 * Content is `<n>:<sentAt>`, sentAt in epoch ms with microseconds (see `sendOne` in fanout.ts);
 * warm-up messages have n < 0 and are not measured. The latency is kept to 0.1 ms: the floor's
 * p99 is 2–4 ms, where whole milliseconds (Date.now()) are a step of 25–50 %.
 */
function received(content: string) {
  const [n, sentAt] = content.split(':').map(Number);
  if (n === undefined || sentAt === undefined || n < 0) return;
  latencies.push(Math.round((performance.timeOrigin + performance.now() - sentAt) * 10) / 10);
  deliveries.push(n);
}

/** A close event, an Event or an error, as one line. */
function describe(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error) {
    const { code, reason } = error as { code: unknown; reason?: unknown };
    return `close ${String(code)}${reason ? ` ${String(reason)}` : ''}`;
  }
  if (error instanceof Error) return error.message;
  if (Array.isArray(error)) return JSON.stringify(error).slice(0, 300);
  if (error && typeof error === 'object' && 'type' in error) {
    const { type, message } = error as { type: unknown; message?: unknown };
    return `${String(type)} event${message ? `: ${String(message)}` : ''}`;
  }
  return String(error);
}

function noteError(text: string) {
  failed++;
  if (errors.length < 20) errors.push(text);
}

interface EventResult {
  events: { cursor: string; payload: { __typename: string; message?: { content: string } } };
}


function followApi(port: number, subscriber: Subscriber, onSubscribed: () => void): Follower {
  const variables: { after: string | null } = { after: null };
  let live = false;
  const client: Client = createClient({
    url: `ws://127.0.0.1:${port}/graphql`,
    webSocketImpl: TrackedWebSocket,
    connectionParams: { token: subscriber.token },
    lazy: false,
    // graphql-ws's own backoff (1 s, 2 s, 4 s… plus 0.3–3 s of jitter) on every close it deems
    // retryable: a reset socket, 1013 "try again later" from a busy server.
    retryAttempts: 8,
    // Also after a connection error (a reset before the socket opened), as apps are advised to:
    // graphql-ws retries only close events by default.
    shouldRetry: () => true,
    onNonLazyError: (error) => noteError(`connection: ${describe(error)}`),
    on: {
      connected: (_socket, _payload, wasRetry) => {
        if (wasRetry) reconnects++;
      },
    },
  });
  // The protocol says nothing when a subscription starts: this counts acknowledged sockets, and
  // bench/fanout.ts waits on the servers' live-subscription gauges before it sends.
  client.on('connected', () => {
    if (!live) {
      live = true;
      onSubscribed();
    }
  });
  client.subscribe<EventResult>(
    { query: EVENTS, variables },
    {
      next: (result) => {
        const event = result.data?.events;
        if (!event) return;
        // Mutated in place: graphql-ws re-sends this same payload when it re-subscribes after a
        // retry, so the subscription resumes after the last event received, as an app does.
        variables.after = event.cursor;
        if (event.payload.__typename === 'MessageAddedEvent' && event.payload.message) received(event.payload.message.content);
      },
      error: (error) => noteError(`subscription: ${describe(error)}`),
      complete: () => undefined,
    },
  );
  return { close: () => void client.dispose() };
}

function followFloor(port: number, subscriber: Subscriber, onSubscribed: () => void): Follower {
  const socket = new TrackedWebSocket(`ws://127.0.0.1:${port}/?c=${subscriber.conversationId}`);
  socket.on('message', (data) => {
    const text = data.toString();
    if (text === 'ready') return onSubscribed();
    received((JSON.parse(text) as { data: { messageAdded: { content: string } } }).data.messageAdded.content);
  });
  socket.on('error', (error) => noteError(`floor socket: ${error.message}`));
  return { close: () => socket.close() };
}

async function connect(command: Extract<FanoutCommand, { type: 'connect' }>): Promise<FanoutReply> {
  const started = performance.now();
  const before = subscribed;
  const failedBefore = failed;
  const { subscribers, ports, perSecond } = command;
  for (let i = 0; i < subscribers.length; i++) {
    // Paced so that this process's share of the burst arrives evenly over the requested time.
    const due = started + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const subscriber = subscribers[i]!;
    const port = ports[subscriber.index % ports.length]!;
    const follow = command.target === 'api' ? followApi : followFloor;
    followers.push(follow(port, subscriber, () => void subscribed++));
  }
  const deadline = performance.now() + 120_000;
  while (subscribed - before + (failed - failedBefore) < subscribers.length && performance.now() < deadline) await sleep(50);
  return {
    type: 'connected',
    subscribed: subscribed - before,
    failed: failed - failedBefore,
    errors: errors.slice(0, 5),
    seconds: (performance.now() - started) / 1000,
  };
}

process.on('message', (command: FanoutCommand) => {
  const reply = (message: FanoutReply) => process.send!(message);
  switch (command.type) {
    case 'connect':
      void connect(command).then(reply);
      return;
    case 'collect':
      reply({ type: 'collected', latencies, deliveries, subscribed, failed, reconnects, errors: errors.slice(0, 10) });
      latencies = [];
      deliveries = [];
      return;
    case 'reset-all': {
      // A network cut for every socket at once (no close frame): the clients see 1006 and retry.
      const sockets = openSockets.size;
      for (const socket of openSockets) socket.terminate();
      reply({ type: 'reset', sockets });
      return;
    }
    case 'close-all':
      for (const follower of followers.splice(0)) follower.close();
      subscribed = 0;
      reply({ type: 'closed' });
      return;
  }
});
