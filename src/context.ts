import type { Viewer } from './auth/viewer.js';
import type { Config } from './config.js';
import type { EventBus } from './events/bus.js';
import type { Presence } from './events/presence.js';
import type { Typing } from './events/typing.js';
import type { Loaders } from './loaders.js';
import type { Notifier } from './notifications/index.js';
import type { Metrics } from './observability.js';
import type { RateLimiter } from './services/rate-limit.js';
import type { Uploads } from './uploads/index.js';
import type { Webhooks } from './webhooks/index.js';

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
  webhooks: Webhooks;
  notifier: Notifier;
  uploads: Uploads;
}

/** The context of a field declared with `t.withAuth({ viewer: true })` (src/schema/builder.ts): only a viewer reaches it. */
export interface ViewerContext extends Context {
  viewer: Viewer;
}
