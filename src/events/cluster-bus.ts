import { PubSubEngine } from 'graphql-subscriptions';
import { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import { logger } from '../logger.js';
import { busOverRedis, reviveDates, type EventBus, type Handler } from './bus.js';

interface Channel {
  handlers: Map<number, Handler>;
  /** Settles when this channel's SSUBSCRIBE is acknowledged (or refused). */
  subscribed: Promise<void>;
}

/**
 * Pub/sub over Redis Cluster's sharded channels: SPUBLISH goes to the shard that owns the
 * channel's slot and SSUBSCRIBE listens there only, so each message crosses one shard instead of
 * being broadcast over the cluster bus to every node (what classic PUBLISH does). One SSUBSCRIBE
 * per channel whatever the number of subscriptions that follow it, as graphql-redis-subscriptions
 * does for classic pub/sub (which has no sharded mode).
 */
class ShardedPubSub extends PubSubEngine {
  private readonly channels = new Map<string, Channel>();
  private readonly owners = new Map<number, string>();
  private nextId = 0;

  constructor(
    private readonly publisher: Cluster,
    private readonly subscriber: Cluster,
  ) {
    super();
    subscriber.on('smessage', (channel: string, message: string) => {
      const handlers = this.channels.get(channel)?.handlers;
      if (!handlers || handlers.size === 0) return;
      let payload: unknown;
      try {
        payload = JSON.parse(message, reviveDates);
      } catch {
        logger.warn({ channel }, 'unreadable sharded pub/sub message ignored');
        return;
      }
      for (const handler of handlers.values()) handler(payload);
    });
  }

  async publish(channel: string, payload: unknown): Promise<void> {
    await this.publisher.spublish(channel, JSON.stringify(payload));
  }

  /** Resolves once the shard has acknowledged the channel's SSUBSCRIBE. */
  async subscribe(channel: string, onMessage: Handler): Promise<number> {
    const id = this.nextId++;
    let entry = this.channels.get(channel);
    if (!entry) {
      const created: Channel = { handlers: new Map(), subscribed: Promise.resolve() };
      created.subscribed = this.subscriber.ssubscribe(channel).then(
        () => undefined,
        (error: unknown) => {
          // Refused: forget the channel so the next subscriber tries again.
          if (this.channels.get(channel) === created) this.channels.delete(channel);
          throw error;
        },
      );
      this.channels.set(channel, created);
      entry = created;
    }
    entry.handlers.set(id, onMessage);
    this.owners.set(id, channel);
    try {
      await entry.subscribed;
    } catch (error) {
      entry.handlers.delete(id);
      this.owners.delete(id);
      throw error;
    }
    return id;
  }

  unsubscribe(id: number): void {
    const channel = this.owners.get(id);
    if (channel === undefined) return;
    this.owners.delete(id);
    const entry = this.channels.get(channel);
    if (!entry) return;
    entry.handlers.delete(id);
    if (entry.handlers.size > 0) return;
    this.channels.delete(channel);
    // At once, even with its SSUBSCRIBE still unanswered: both go to the shard's one subscriber
    // connection, in order, and so does the SSUBSCRIBE of a subscription opened again after this.
    this.subscriber.sunsubscribe(channel).catch((error: unknown) => logger.warn({ channel, err: (error as Error).message }, 'sunsubscribe failed'));
  }
}

/** ioredis' shard subscribers (one per master, created lazily), as seen at runtime: not in its types. */
interface ShardSubscribers {
  shardedSubscribers?: { shardedSubscribers?: Map<string, { getInstance(): { status: string; ping(): Promise<unknown> } | null }> };
}

/**
 * Whether every master has its shard subscriber back, each started one ready and answering a PING
 * (allowed in subscriber mode, answered after the SSUBSCRIBEs sent before it). One never started
 * (`wait`: ioredis connects a shard subscriber when a channel of its shard is first subscribed)
 * held nothing to lose.
 */
async function shardSubscribersAnswer(cluster: Cluster): Promise<boolean> {
  const shards = (cluster as unknown as ShardSubscribers).shardedSubscribers?.shardedSubscribers;
  if (!shards) return false;
  const masters = new Set(cluster.slots.map((owners) => owners?.[0]).filter((key): key is string => key !== undefined));
  if ([...masters].some((key) => !shards.has(key))) return false;
  const started = [...shards.values()].map((shard) => shard.getInstance()).filter((redis) => redis !== null && redis.status !== 'wait');
  // Ready ones were sent their SSUBSCRIBEs before `subscribersReady`; one still connecting would
  // answer a PING from its offline queue before the SSUBSCRIBEs it sends once ready.
  if (started.some((redis) => redis!.status !== 'ready')) return false;
  try {
    await Promise.all(started.map((redis) => redis!.ping()));
    return true;
  } catch {
    return false;
  }
}

/**
 * The event bus on a Redis Cluster (REDIS_CLUSTER_NODES). Two clients, as with one Redis: one for
 * commands and SPUBLISH, failing fast while a shard is away (a mutation must not wait for Redis),
 * and one whose per-shard subscriber connections (ioredis' `shardedSubscribers`) hold the
 * SSUBSCRIBEs and are re-created, and their channels re-subscribed, after a shard comes back.
 */
export function createClusterBus(nodes: readonly string[]): EventBus {
  // Credentials and TLS of the seeds apply to the nodes discovered from them (config checked they agree).
  const seed = new URL(nodes[0]!);
  const credentials: RedisOptions = {
    ...(seed.username ? { username: decodeURIComponent(seed.username) } : {}),
    ...(seed.password ? { password: decodeURIComponent(seed.password) } : {}),
    ...(seed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  const startupNodes = nodes.map((node) => {
    const url = new URL(node);
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port) };
  });
  const clusterRetryStrategy = (times: number) => Math.min(times * 100, 2000);
  const common: ClusterOptions = { clusterRetryStrategy, slotsRefreshTimeout: 2000 };
  const publisher = new Cluster(startupNodes, {
    ...common,
    enableOfflineQueue: false,
    redisOptions: { ...credentials, connectionName: 'salon-pub', maxRetriesPerRequest: 1 },
  });
  const subscriber = new Cluster(startupNodes, {
    ...common,
    shardedSubscribers: true,
    redisOptions: { ...credentials, connectionName: 'salon-sub', maxRetriesPerRequest: null },
  });
  for (const [name, connection] of [['publisher', publisher], ['subscriber', subscriber]] as const) {
    connection.on('error', (error: Error) => logger.warn({ connection: name, err: error.message }, 'redis cluster error'));
    connection.on('ready', () => logger.info({ connection: name }, 'redis cluster ready'));
  }

  // A shard subscriber that ended (its node restarted, failed over, or the whole cluster went
  // away) lost what was published meanwhile. ioredis re-creates it and re-sends its SSUBSCRIBEs,
  // then emits `subscribersReady` — also after an attempt that failed: readers re-read the log
  // only once every shard subscriber answers.
  const reconnectListeners = new Set<() => void>();
  let lost = false;
  const markLost = () => (lost = true);
  subscriber.on('-node', markLost);
  subscriber.on('-subscriber', markLost);
  subscriber.on('close', markLost);
  subscriber.on('subscribersReady', () => {
    if (!lost) return;
    void shardSubscribersAnswer(subscriber).then((ready) => {
      // Not yet: the next `subscribersReady` checks again.
      if (!ready || !lost) return;
      lost = false;
      for (const listener of reconnectListeners) listener();
    });
  });

  return busOverRedis(new ShardedPubSub(publisher, subscriber), publisher, subscriber, reconnectListeners);
}
