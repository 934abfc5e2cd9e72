import type { ProxyOptions } from 'vite';

/**
 * What the app's server forwards to the API: GraphQL over HTTP and WebSocket, and the development
 * sign-in. The page and the API then share one origin, so the browser needs no CORS, and the
 * API's FRONTEND_URL check sees the page's origin (add it there if FRONTEND_URL is set).
 */
export function apiProxy(target: string): Record<string, ProxyOptions> {
  return {
    '/graphql': { target, ws: true },
    '/dev': { target },
    '/uploads': { target },
  };
}
