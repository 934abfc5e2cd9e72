import { randomUUID } from 'node:crypto';
import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import type { Plugin } from 'graphql-yoga';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { getDb } from './db.js';
import type { EventBus } from './events/bus.js';
import { logger } from './logger.js';

/** One registry per app, so two instances in one process (tests) do not collide. */
export function createMetrics(bus: EventBus) {
  const registry = new Registry();
  return {
    registry,
    liveTopicSubscriptions: new Gauge({
      name: 'salon_live_topic_subscriptions',
      help: 'Event-bus topic subscriptions live on this instance (Redis channels subscribed for running subscriptions)',
      registers: [registry],
      collect() {
        this.set(bus.liveSubscriptions());
      },
    }),
    openSockets: new Gauge({ name: 'salon_ws_open_sockets', help: 'Open graphql-ws sockets', registers: [registry] }),
    activeSubscriptions: new Gauge({ name: 'salon_active_subscriptions', help: 'Running subscriptions', registers: [registry] }),
    messagesSent: new Counter({ name: 'salon_messages_sent_total', help: 'Messages stored by sendMessage', registers: [registry] }),
    errors: new Counter({ name: 'salon_graphql_errors_total', help: 'GraphQL errors returned, by extensions.code', labelNames: ['code'], registers: [registry] }),
    fanoutLatency: new Histogram({
      name: 'salon_event_fanout_seconds',
      help: 'From a message commit to its delivery on this instance',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** HTTP and operation durations from The Guild's plugin, errors counted by code, served at /metrics. */
export function metricsPlugins(metrics: Metrics): Plugin[] {
  const countErrors: Plugin = {
    onExecute: () => ({
      onExecuteDone: ({ result }) => {
        if (!('errors' in result) || !result.errors) return;
        for (const error of result.errors) {
          metrics.errors.inc({ code: String(error.extensions?.code ?? 'INTERNAL_SERVER_ERROR') });
        }
      },
    }),
  };
  return [usePrometheus({ endpoint: '/metrics', registry: metrics.registry }), countErrors];
}

/** /ready answers 200 only when PostgreSQL (and Redis, when configured) answer. */
export function useReadiness(bus: EventBus): Plugin {
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname !== '/ready' || request.method !== 'GET') return;
      const checks: Record<string, 'ok' | 'down'> = {};
      const check = async (name: string, probe: () => Promise<unknown>) => {
        try {
          await Promise.race([probe(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref())]);
          checks[name] = 'ok';
        } catch {
          checks[name] = 'down';
        }
      };
      await Promise.all([
        check('database', () => getDb().$queryRaw`SELECT 1`),
        ...(bus.redis ? [check('redis', () => bus.redis!.ping())] : []),
      ]);
      const ready = Object.values(checks).every((status) => status === 'ok');
      endResponse(new fetchAPI.Response(JSON.stringify({ ready, checks }), {
        status: ready ? 200 : 503,
        headers: { 'content-type': 'application/json' },
      }));
    },
  };
}

/**
 * One structured log line per operation, tied to its request by `x-request-id` (taken from the
 * caller or generated, and echoed in the response). Never the document's variables, message
 * content or tokens.
 */
export function useRequestLog(): Plugin {
  const ids = new WeakMap<Request, string>();
  return {
    onRequest({ request }) {
      const given = request.headers.get('x-request-id');
      ids.set(request, given && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID());
    },
    onResponse({ request, response }) {
      const id = ids.get(request);
      if (id) response.headers.set('x-request-id', id);
    },
    onExecute({ args }) {
      const started = performance.now();
      const context = args.contextValue as { request?: Request; viewer?: { id: string } | null };
      return {
        onExecuteDone({ result }) {
          const errors = 'errors' in result && result.errors ? result.errors.map((e) => e.extensions?.code ?? 'INTERNAL_SERVER_ERROR') : [];
          logger.info(
            {
              requestId: context.request ? ids.get(context.request) : undefined,
              operation: args.operationName ?? undefined,
              userId: context.viewer?.id,
              ms: Math.round(performance.now() - started),
              ...(errors.length > 0 ? { errors } : {}),
            },
            'operation',
          );
        },
      };
    },
  };
}
