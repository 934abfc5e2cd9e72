import type { Viewer } from './auth/viewer.js';
import type { Config } from './config.js';
import { unauthenticated } from './errors.js';
import type { EventBus } from './events/bus.js';
import type { Presence } from './events/presence.js';
import type { Typing } from './events/typing.js';
import type { Loaders } from './loaders.js';
import type { Metrics } from './observability.js';
import type { RateLimiter } from './services/rate-limit.js';

/** Built once per HTTP request or per graphql-ws operation, by the same factory (src/app.ts). */
export interface Context {
  viewer: Viewer | null;
  config: Config;
  bus: EventBus;
  presence: Presence;
  typing: Typing;
  limiter: RateLimiter;
  loaders: Loaders;
  metrics: Metrics;
}

export function requireViewer(ctx: Context): Viewer {
  if (!ctx.viewer) throw unauthenticated();
  return ctx.viewer;
}
