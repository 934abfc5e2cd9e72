import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import type { Plugin } from 'graphql-yoga';
import type { Config } from './config.js';
import { logger } from './logger.js';

/**
 * Browser origins allowed to call the API (SPEC §5). Tokens travel in headers, never cookies, so
 * CSRF does not apply; the check still stops a foreign page from driving a user's WebSocket.
 * No Origin header (servers, mobile apps, curl) is allowed; with no list configured every
 * origin is (a warning in production says so).
 */
export function originPolicy(config: Config): (origin: string | null | undefined) => boolean {
  const allowed = new Set(config.frontendOrigins);
  if (allowed.size === 0) {
    if (config.isProduction) logger.warn('No FRONTEND_URL* set: every browser origin is allowed');
    return () => true;
  }
  return (origin) => !origin || allowed.has(origin);
}

/** Refuses HTTP requests from unlisted origins with 403, and answers CORS for listed ones. */
export function useOriginCheck(isAllowed: (origin: string | null) => boolean): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      const origin = request.headers.get('origin');
      // The API's own pages (GraphiQL) call it from its own origin.
      if (origin !== url.origin && !isAllowed(origin)) {
        endResponse(new fetchAPI.Response(JSON.stringify({ errors: [{ message: 'Origin not allowed', extensions: { code: 'FORBIDDEN' } }] }), {
          status: 403,
          headers: { 'content-type': 'application/json' },
        }));
      }
    },
  };
}

/** Query limits (graphql-armor) and the introspection switch, the same for HTTP and WebSocket. */
export function limitPlugins(config: Config): Plugin[] {
  const { limits } = config;
  const plugins: Plugin[] = [
    EnvelopArmorPlugin({
      maxDepth: { n: limits.depth, ignoreIntrospection: true, flattenFragments: true },
      maxAliases: { n: limits.aliases },
      maxDirectives: { n: limits.directives },
      maxTokens: { n: limits.tokens },
      costLimit: { maxCost: limits.cost, ignoreIntrospection: true },
      blockFieldSuggestion: { enabled: config.isProduction },
    }) as Plugin,
  ];
  if (!config.introspection) plugins.push(useDisableIntrospection());
  return plugins;
}
