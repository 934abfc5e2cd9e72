import { initContextCache } from '@pothos/core';
import { whenTokenExpires } from './auth/expiry.js';
import { createTokenVerifier } from './auth/token.js';
import type { Viewer } from './auth/viewer.js';
import type { Config } from './config.js';
import type { Context } from './context.js';
import { unauthenticated } from './errors.js';
import { createInProcessBus, createRedisBus } from './events/bus.js';
import { createClusterBus } from './events/cluster-bus.js';
import { createLocalPresence, createRedisPresence, type PresenceOptions } from './events/presence.js';
import { scopeBus, type BusScope } from './events/scoped-bus.js';
import { createTyping } from './events/typing.js';
import { Loaders } from './loaders.js';
import { createMetrics } from './observability.js';
import { createPersistedOperations } from './persisted.js';
import { createRateLimiter } from './services/rate-limit.js';
import { createWebhooks } from './webhooks/index.js';
import { createJobs } from './jobs/index.js';
import { createNotifier } from './notifications/index.js';
import { originPolicy } from './security.js';
import { createUploads } from './uploads/index.js';

export interface RuntimeOptions {
  presence?: PresenceOptions;
}

/**
 * The long-lived parts both transports share (bus, presence, typing, rate limits, metrics,
 * persisted operations, the browser-origin policy) and the one context factory built on them.
 */
export function createRuntime(config: Config, options: RuntimeOptions = {}) {
  const verifier = createTokenVerifier(config.jwt);
  const bus = config.redisClusterNodes
    ? createClusterBus(config.redisClusterNodes)
    : config.redisUrl
      ? createRedisBus(config.redisUrl)
      : createInProcessBus();
  const presence = bus.redis ? createRedisPresence(bus, bus.redis, options.presence) : createLocalPresence(bus, options.presence);
  const typing = createTyping(bus, bus.redis, config.limits.typingTtlS * 1000);
  const limiter = createRateLimiter(bus.redis);
  const metrics = createMetrics(bus);
  const persisted = createPersistedOperations(config, bus.redis);
  const webhooks = createWebhooks(config, bus, metrics);
  const notifier = createNotifier(config, presence, metrics);
  const jobs = createJobs(config, webhooks, bus, metrics, notifier);
  const uploads = createUploads(config);
  // Built once: with no FRONTEND_URL* set it warns, and one warning a start is what an operator should see.
  const isAllowedOrigin = originPolicy(config);

  /** Subscriptions opened by an operation end with `signal` and, for a viewer, when the token expires. */
  const scopeFor = (viewer: Viewer | null, signal: AbortSignal): BusScope => ({
    signal,
    ...(viewer
      ? {
          onExpiry: (expire: () => void) => whenTokenExpires(viewer, config.jwt.clockToleranceS, expire),
          expiredError: () => unauthenticated('Token expired'),
        }
      : {}),
  });

  const contextFor = (viewer: Viewer | null, signal: AbortSignal): Context => ({
    viewer,
    config,
    bus: scopeBus(bus, scopeFor(viewer, signal)),
    presence,
    typing,
    limiter,
    metrics,
    webhooks,
    notifier,
    uploads,
    loaders: new Loaders(presence, viewer?.id ?? null),
    // Its own key for Pothos' per-request caches, renewed when it is done (src/request-caches.ts).
    ...initContextCache(),
  });

  return {
    config,
    verifier,
    bus,
    presence,
    typing,
    metrics,
    persisted,
    webhooks,
    notifier,
    jobs,
    uploads,
    isAllowedOrigin,
    contextFor,
    async close() {
      typing.close();
      await presence.close();
      await bus.close();
    },
  };
}

export type Runtime = ReturnType<typeof createRuntime>;
