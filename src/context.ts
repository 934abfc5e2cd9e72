import type { Viewer } from './auth/viewer.js';
import type { Config } from './config.js';
import { unauthenticated } from './errors.js';

/** Built once per HTTP request or per graphql-ws operation, by the same factory (src/app.ts). */
export interface Context {
  viewer: Viewer | null;
  config: Config;
}

export function requireViewer(ctx: Context): Viewer {
  if (!ctx.viewer) throw unauthenticated();
  return ctx.viewer;
}
