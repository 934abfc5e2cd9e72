import { randomUUID } from 'node:crypto';
import { PubSub, PubSubEngine } from 'graphql-subscriptions';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { Redis, type Cluster } from 'ioredis';
import { logger } from '../logger.js';
import type { Topic, TopicMap } from './topics.js';

/** One Redis or a Redis Cluster (src/events/cluster-bus.ts): what plain commands go through. */
export type RedisClient = Redis | Cluster;

export interface EventBus {
  /** A connection for plain commands (presence, typing, rate limits); undefined in-process. */
  redis?: RedisClient;
  publish<T extends Topic>(topic: T, payload: TopicMap[T]): Promise<void>;
  /**
   * Publishes each payload on its topic at once, each settling on its own (one failing does not
   * stop the others). Over one Redis they leave in one write (see `corked`): a send's wake-ups
   * (one per participant) or a presence change (one per contact) cost one write and one wake-up
   * of Redis, not one per topic.
   */
  publishAll<T extends Topic>(entries: readonly Publication<T>[]): Promise<PromiseSettledResult<void>[]>;
  /**
   * Runs `issue`, which issues its publishes and `redis` commands synchronously (their promises
   * not awaited inside): over one Redis they leave in one write with the publishes `publishAll`
   * makes inside, as a send's wake-ups and the end of its author's typing state do. In process and
   * over a cluster (several connections), it only runs `issue`.
   */
  together<T>(issue: () => T): T;
  /**
   * Resolves once the subscription is live (for Redis: SUBSCRIBE acknowledged), so a caller
   * can subscribe first and read the database second without missing what falls in between.
   */
  subscribe<T extends Topic>(topic: T): Promise<AsyncIterableIterator<TopicMap[T]>>;
  /**
   * The instance's own listener on `topic` for as long as it runs (resolves once live, with the
   * function that removes it): not an operation's subscription, so not in `liveSubscriptions`.
   */
  listen<T extends Topic>(topic: T, listener: (payload: TopicMap[T]) => void): Promise<() => void>;
  /**
   * Topic subscriptions live on this instance (subscribed and not yet released): the
   * `salon_live_topic_subscriptions` gauge. It comes back to its level when sockets go, and
   * tests wait on it to know a subscription can receive.
   */
  liveSubscriptions(): number;
  /**
   * Calls `listener` each time the subscriber connection is back after an outage (never,
   * in-process): what was published meanwhile is lost, so readers of the event log re-read it
   * then instead of at their next periodic check. Returns the function that removes it.
   */
  onReconnect(listener: () => void): () => void;
  close(): Promise<void>;
}

/** A payload and the topic it goes to. */
export type Publication<T extends Topic> = readonly [topic: T, payload: TopicMap[T]];

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Payloads cross Redis as JSON; timestamps come back as Date like the rows they came from. */
export function reviveDates(key: string, value: unknown): unknown {
  return typeof value === 'string' && key.endsWith('At') && ISO_DATE.test(value) ? new Date(value) : value;
}

export function busOver(engine: PubSubEngine, onClose: () => Promise<void>, reconnectListeners = new Set<() => void>()): EventBus {
  let live = 0;
  return {
    liveSubscriptions: () => live,
    onReconnect(listener) {
      reconnectListeners.add(listener);
      return () => reconnectListeners.delete(listener);
    },
    publish: (topic, payload) => engine.publish(topic, payload),
    async listen(topic, listener) {
      const id = await engine.subscribe(topic, listener, {});
      return () => engine.unsubscribe(id);
    },
    publishAll: (entries) => Promise.allSettled(entries.map(([topic, payload]) => engine.publish(topic, payload))),
    together: (issue) => issue(),
    async subscribe<T extends Topic>(topic: T) {
      const iterator = new TopicIterator<TopicMap[T]>();
      const id = await engine.subscribe(topic, iterator.deliver, {});
      live++;
      // Released by return() whether or not next() was ever called: a subscription ended while its
      // owner was still reading the database (a replay) must not keep its channel.
      iterator.release = () => {
        engine.unsubscribe(id);
        live--;
      };
      return iterator;
    },
    close: onClose,
  };
}

/**
 * One topic subscription's payloads, in order. A class for the reason events/release.ts'
 * `IteratorLayer` gives: one per live subscription.
 */
class TopicIterator<P> implements AsyncIterableIterator<P> {
  private readonly queue: P[] = [];
  private waiting: ((result: IteratorResult<P>) => void) | undefined;
  private finished = false;
  /** Lets the topic go; set once the engine has subscribed. */
  release: (() => void) | undefined;
  /** The engine's listener. */
  readonly deliver = (payload: P): void => {
    if (this.finished) return;
    const waiter = this.waiting;
    this.waiting = undefined;
    if (waiter) waiter({ value: payload, done: false });
    else this.queue.push(payload);
  };

  next(): Promise<IteratorResult<P>> {
    const next = this.queue.shift();
    if (next !== undefined) return Promise.resolve({ value: next, done: false });
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  async return(): Promise<IteratorResult<P>> {
    this.finish();
    return { value: undefined, done: true };
  }

  async throw(error: unknown): Promise<IteratorResult<P>> {
    this.finish();
    throw error;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<P> {
    return this;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.release?.();
    this.queue.length = 0;
    this.waiting?.({ value: undefined, done: true });
    this.waiting = undefined;
  }
}

export function createInProcessBus(): EventBus {
  const pubsub = new PubSub();
  return busOver(pubsub, async () => {});
}

/**
 * Separate publisher and subscriber connections (a subscribed Redis connection can do nothing
 * else); ioredis reconnects both and re-subscribes to every channel after an outage.
 */
export function createRedisBus(redisUrl: string): EventBus {
  const retryStrategy = (times: number) => Math.min(times * 100, 2000);
  // Commands fail fast while Redis is away instead of queueing: a mutation must not wait for
  // Redis, and subscribers recover what they missed from PostgreSQL (replay with `after`).
  // No auto-pipelining: it saved a write or two per send (its wake-ups and typing stop went out
  // together), but its objects outlived two scavenges and filled the old generation: a send
  // promoted 24.7 KB with it, 14.8 KB without (`npm run bench:promotion -- --no-subscribers`).
  const publisher = new Redis(redisUrl, {
    retryStrategy,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: false,
    connectionName: 'salon-pub',
  });
  // No ready check on the subscriber: ioredis 5 sends a SUBSCRIBE issued during the handshake
  // before its INFO check, which then fails ("Connection in subscriber mode") and rejects that
  // SUBSCRIBE and every queued UNSUBSCRIBE (redis/ioredis#2037): a subscription opened while Redis
  // reconnects died, and the rejections went unhandled. Found by test/event-model.test.ts.
  const subscriber = new Redis(redisUrl, { retryStrategy, maxRetriesPerRequest: null, enableReadyCheck: false, connectionName: 'salon-sub' });
  handleDroppedSubscriberCommands(subscriber);
  for (const [name, connection] of [['publisher', publisher], ['subscriber', subscriber]] as const) {
    connection.on('error', (error: Error) => logger.warn({ connection: name, err: error.message }, 'redis connection error'));
    connection.on('ready', () => logger.info({ connection: name }, 'redis connection ready'));
  }
  // Readers re-read the log once the channels are subscribed again: ioredis re-sends SUBSCRIBE
  // right after emitting 'ready', so a PING queued behind it (allowed in subscriber mode) answers
  // only once Redis has acknowledged them.
  const reconnectListeners = new Set<() => void>();
  let lost = false;
  subscriber.on('close', () => (lost = true));
  subscriber.on('ready', () => {
    if (!lost) return;
    lost = false;
    setImmediate(() => {
      subscriber
        .ping()
        .catch(() => undefined)
        .finally(() => {
          for (const listener of reconnectListeners) listener();
        });
    });
  });
  const bus = busOverRedis(new RedisPubSub({ publisher, subscriber, reviver: reviveDates }), publisher, subscriber, reconnectListeners);
  return {
    ...bus,
    publishAll: (entries) => corked(publisher, () => bus.publishAll(entries)),
    // Corks nest: the publishes of a publishAll inside leave with the rest, at the outer uncork.
    together: (issue) => corked(publisher, issue),
  };
}

/**
 * Runs `issue`, which writes its commands synchronously, with the connection's socket corked: its
 * commands leave in one write (writev). Not an ioredis pipeline: a pipeline's objects outlived
 * two scavenges and were promoted, 5.3 KB more per send (12.3 KB against 7.0,
 * `npm run bench:promotion -- --no-subscribers`), as auto-pipelining's did.
 */
function corked<T>(redis: Redis, issue: () => T): T {
  // Undefined until ioredis has made its first connection (its typings say otherwise); a
  // command issued then fails fast or waits for it anyway.
  const socket = redis.stream as Redis['stream'] | undefined;
  socket?.cork();
  try {
    return issue();
  } finally {
    socket?.uncork();
  }
}

/**
 * Two libraries send subscriber commands and drop their promises: graphql-redis-subscriptions its
 * UNSUBSCRIBE and PUNSUBSCRIBE when a topic's last subscription ends, ioredis its SUBSCRIBE of
 * every channel again after a reconnect. One still waiting when the connection closes — Redis
 * away or silent, then the server shutting down — rejects with "Connection is closed.", and
 * unhandled, that rejection ends the process. Each now has a handler that logs it; a caller that
 * awaits the command (our subscribe) still gets the rejection.
 */
function handleDroppedSubscriberCommands(subscriber: Redis): void {
  // Whatever the callers pass goes through as it is: ioredis one array of channels,
  // graphql-redis-subscriptions the channels and sometimes a callback.
  type Command = (...args: unknown[]) => Promise<unknown>;
  for (const command of ['subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe'] as const) {
    const send = (subscriber[command] as Command).bind(subscriber);
    const handled: Command = (...args) => {
      const pending = send(...args);
      // Not the channels: after a reconnect they are every user followed on this instance.
      pending.catch((error: unknown) =>
        logger.debug({ command, err: error instanceof Error ? error.message : String(error) }, 'redis subscriber command not acknowledged'),
      );
      return pending;
    };
    // An own property of the connection, found before the prototype's by both libraries; left
    // writable, as the method was.
    Object.defineProperty(subscriber, command, { value: handled, writable: true, configurable: true });
  }
}

/** The bus over a Redis engine (plain or cluster): it owns both connections and lends the publisher for plain commands. */
export function busOverRedis(
  engine: PubSubEngine,
  publisher: RedisClient,
  subscriber: { disconnect(): void },
  reconnectListeners: Set<() => void>,
): EventBus {
  const close = async () => {
    publisher.disconnect();
    subscriber.disconnect();
  };
  return { ...busOver(new LocalFirstPubSub(engine), close, reconnectListeners), redis: publisher };
}

/** What a pub/sub engine calls with each payload of a channel. */
export type Handler = (payload: unknown) => void;

/** The key each publication carries through Redis: the id of the instance that published it. */
const PUBLISHED_BY = 'publishedBy';

/** One subscription of `LocalFirstPubSub`: its channel and the id the Redis engine gave it. */
interface LocalFirstSubscription {
  channel: string;
  remote: number;
}

/**
 * Pub/sub over Redis that hands each publication to this instance's own subscribers at once, in
 * process, and sends it through Redis for the other instances: a subscriber connected to the
 * instance that committed a change does not wait for the publication to come back from Redis (at
 * 10,000 sockets on two instances that hop took 0.7 ms at the median and 3.7 ms at p99,
 * bench/results/fanout-history.md, "A sixteenth session"; the bench's full runs did not show the
 * ratio to the floor moving beyond their spread). Each publication carries its instance's id
 * (`publishedBy`) through Redis, and the copy Redis relays back to its own instance (still
 * received and parsed, the instance being subscribed to the channel) is dropped, so each
 * subscriber gets a publication once; the key is taken off before any subscriber sees a payload.
 * A local subscriber gets what a remote one gets: the payload through JSON, dates revived.
 *
 * What changes with it: the instance's own subscribers get its publications while Redis is away
 * (the others find the events in the log later; presence and typing, not logged, are lost for them
 * as before), and a publication can now overtake one another instance made a moment earlier that
 * is still crossing Redis: a reader of the event log sees the gap and reads the log, and the race
 * between two instances' presence changes of one user is wider by that hop.
 */
class LocalFirstPubSub extends PubSubEngine {
  private readonly instance = randomUUID();
  /** This instance's handlers by channel, registered once Redis has acknowledged their channel. */
  private readonly local = new Map<string, Map<number, Handler>>();
  private readonly subscriptions = new Map<number, LocalFirstSubscription>();
  private nextId = 0;

  constructor(private readonly remote: PubSubEngine) {
    super();
  }

  publish(channel: string, payload: unknown): Promise<void> {
    const sent = this.remote.publish(channel, { ...(payload as object), [PUBLISHED_BY]: this.instance });
    const handlers = this.local.get(channel);
    if (!handlers || handlers.size === 0) return sent;
    try {
      const copy: unknown = JSON.parse(JSON.stringify(payload), reviveDates);
      for (const handler of handlers.values()) handler(copy);
    } catch (error) {
      // The Redis publish above stands; what failed here is logged (a publication always settles
      // through `sent`: publishAll's entries each settle on their own).
      logger.error({ err: error, channel }, 'local delivery failed');
    }
    return sent;
  }

  async subscribe(channel: string, onMessage: Handler): Promise<number> {
    const remote = await this.remote.subscribe(
      channel,
      (payload: unknown) => {
        const received = payload as Record<string, unknown> | null;
        // Our own publication back from Redis: the local subscribers have had it.
        if (received?.[PUBLISHED_BY] === this.instance) return;
        // Another instance's: one object for every handler of the channel, so the first takes the
        // key off and the others find it gone.
        if (received && PUBLISHED_BY in received) delete received[PUBLISHED_BY];
        onMessage(payload);
      },
      {},
    );
    // Local deliveries start once the channel is live, as Redis' do: a caller reads what was
    // committed before that (the log) after this resolves, and nothing piles up for a
    // subscription still waiting for Redis.
    const id = this.nextId++;
    let handlers = this.local.get(channel);
    if (!handlers) this.local.set(channel, (handlers = new Map()));
    handlers.set(id, onMessage);
    this.subscriptions.set(id, { channel, remote });
    return id;
  }

  unsubscribe(id: number): void {
    const entry = this.subscriptions.get(id);
    if (!entry) return;
    this.subscriptions.delete(id);
    const handlers = this.local.get(entry.channel);
    handlers?.delete(id);
    if (handlers?.size === 0) this.local.delete(entry.channel);
    this.remote.unsubscribe(entry.remote);
  }
}
