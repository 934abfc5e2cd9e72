import { randomUUID } from 'node:crypto';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import { getOperationAST, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { isAsyncIterable, mapAsyncIterator, type Plugin, type YogaLogger } from 'graphql-yoga';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { getDb } from './db.js';
import { alreadyLogged, classifyError, clientCode } from './errors.js';
import type { EventBus } from './events/bus.js';
import { logger } from './logger.js';

/**
 * The event loop's delay: a 50 ms timer records how late it fires, one per process (every app of
 * a test process shares it; a timer each would stay for the life of the process). Not
 * perf_hooks' monitorEventLoopDelay: after a reset it drops its first late tick, so a block just
 * after a scrape went unseen. Not 10 ms, as it was: each tick wakes an idle process, and with it
 * and the heartbeat's tick (src/ws-transport.ts) that frequent, an idle instance with 5,000 sockets
 * used 1.3 times the CPU (`npm run bench:idle`; bench/results/fanout-history.md, "A ninth
 * session"). A stall longer than the tick is still recorded within 50 ms of its length.
 */
const LOOP_TICK_MS = 50;
let loopDelay: RecordableHistogram | undefined;
function eventLoopDelay(): RecordableHistogram {
  if (loopDelay) return loopDelay;
  const histogram = createHistogram();
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    histogram.record(Math.max(1, Math.round((now - last - LOOP_TICK_MS) * 1e6)));
    last = now;
  }, LOOP_TICK_MS).unref();
  loopDelay = histogram;
  return histogram;
}

/** A turn of the event loop that started `ms` late, ending at `at` (epoch ms) and `monotonicUs` (the clock of V8's CPU profiles). */
export interface LoopStall {
  ms: number;
  at: number;
  monotonicUs: number;
}

/**
 * Reports every gap over `thresholdMs` between two ticks of a 2 ms timer (the event loop was busy,
 * or the process did not run, for that long), for lining slow requests up with what blocked them (LOG_LOOP_STALLS_MS; bench:fanout's
 * BENCH_TRACE turns it on). `monotonicUs` is the clock `--cpu-prof` stamps its samples with, so a
 * stall can be found in a CPU profile. Returns the stop.
 */
export function watchLoopStalls(thresholdMs: number, report: (stall: LoopStall) => void): () => void {
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last > thresholdMs) {
      report({ ms: Math.round((now - last) * 10) / 10, at: Math.round(performance.timeOrigin + now), monotonicUs: Number(process.hrtime.bigint() / 1000n) });
    }
    last = now;
  }, 2);
  timer.unref();
  return () => clearInterval(timer);
}

/** One registry per app, so two instances in one process (tests) do not collide. */
export function createMetrics(bus: EventBus) {
  const registry = new Registry();
  const delay = eventLoopDelay();
  return {
    registry,
    // What delays every socket and request of an instance at once: the first figure to read when
    // latency grows with the number of sockets (bench:fanout prints it for each count).
    eventLoopDelay: new Gauge({
      name: 'salon_event_loop_delay_seconds',
      help: "The event loop's delay since the previous scrape: its 99th percentile (stat=p99) and its longest (stat=max)",
      labelNames: ['stat'],
      registers: [registry],
      collect() {
        this.set({ stat: 'p99' }, delay.percentile(99) / 1e9);
        this.set({ stat: 'max' }, delay.max / 1e9);
        delay.reset();
      },
    }),
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
    webhookDeliveries: new Counter({
      name: 'salon_webhook_deliveries_total',
      help: 'Webhook deliveries finished on this instance, by result (succeeded, failed: retries exhausted or endpoint disabled)',
      labelNames: ['result'],
      registers: [registry],
    }),
    webhookAttempts: new Counter({
      name: 'salon_webhook_attempts_total',
      help: 'Webhook HTTP attempts made by this instance, by result (success, http_error: a non-2xx answer, error: no answer)',
      labelNames: ['result'],
      registers: [registry],
    }),
    notifications: new Counter({
      name: 'salon_notifications_total',
      help: 'Offline notifications of unread messages, by channel (email, push: per subscription, log) and result (sent, failed, skipped_read, skipped_online, skipped_preference)',
      labelNames: ['channel', 'result'],
      registers: [registry],
    }),
    webhookQueueLag: new Histogram({
      name: 'salon_webhook_queue_lag_seconds',
      help: 'From when a webhook attempt was due to when this instance started it',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    remindersSent: new Counter({
      name: 'salon_appointment_reminders_sent_total',
      help: 'Appointment reminders posted by this instance',
      registers: [registry],
    }),
    remindersSkipped: new Counter({
      name: 'salon_appointment_reminders_skipped_total',
      help: 'Due reminder jobs that posted nothing, by reason (cancelled, moved: rescheduled since, already_sent: posted before, late: the appointment has started, no_conversation)',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * HTTP and operation durations from The Guild's plugin, served at /metrics; each HTTP operation's
 * log line and error counts (see useOperationLog).
 */
export function metricsPlugins(metrics: Metrics): Plugin[] {
  return [
    usePrometheus({
      endpoint: '/metrics',
      registry: metrics.registry,
      // Each metric left on is observed, with its labels computed, on every request. Kept: the HTTP
      // duration, the operation duration and its execute phase (histograms: `_count` counts
      // requests), and errors by result. Off:
      // - the deprecated-field counter: the schema deprecates nothing, so it could only read 0, and
      //   it walks every document with the schema's TypeInfo (about 2 % of the API's CPU per
      //   sendMessage under load, bench:send profile); turn it back on with the first deprecation;
      // - the summary that repeats the duration histogram as client-side quantiles (a t-digest per
      //   operation name, which Prometheus cannot aggregate across instances);
      // - the parse and validate phases (yoga caches both per document: they time a cache lookup),
      //   the context phase, and the request counter the histograms' `_count` already is.
      metrics: {
        graphql_envelop_deprecated_field: false,
        graphql_envelop_request_time_summary: false,
        graphql_envelop_phase_parse: false,
        graphql_envelop_phase_validate: false,
        graphql_envelop_phase_context: false,
        graphql_envelop_request: false,
      },
    }),
    useOperationLog(metrics),
  ];
}

/** What the log line of one operation says. Never its variables, message content or tokens. */
export interface OperationRecord {
  requestId?: string;
  operation?: string | null;
  userId?: string;
  /** When the operation arrived (performance.now()). */
  started: number;
  /** The errors its client receives. */
  errors?: readonly unknown[];
}

/**
 * The one place an operation is logged and its errors counted, by the code its client receives
 * (classified as maskUnexpected classifies, so an error counted before or after masking counts
 * the same). HTTP operations come here from useOperationLog, WebSocket ones from src/ws.ts:
 * refusals before anything runs (parse, validation, limits, variables) included.
 */
export function recordOperation(metrics: Metrics, record: OperationRecord, message = 'operation'): void {
  const errors = (record.errors ?? []).map(clientCode);
  for (const code of errors) metrics.errors.inc({ code });
  logger.info(
    {
      requestId: record.requestId,
      operation: record.operation ?? undefined,
      userId: record.userId,
      ms: Math.round(performance.now() - record.started),
      ...(errors.length > 0 ? { errors } : {}),
    },
    message,
  );
}

interface RequestState {
  id: string;
  started: number;
  operation?: string | null;
  userId?: string;
  recorded?: boolean;
}

/** Per HTTP request, shared by useRequestLog (its id) and useOperationLog (its line). */
const requests = new WeakMap<Request, RequestState>();

function stateOf(request: Request): RequestState {
  let state = requests.get(request);
  if (!state) {
    const given = request.headers.get('x-request-id');
    state = { id: given && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID(), started: performance.now() };
    requests.set(request, state);
  }
  return state;
}

/**
 * One log line per HTTP GraphQL request and its errors counted, from the result yoga is about to
 * send (`onResultProcess` sees every result, masked, refusals included); a subscription's line is
 * written when it starts, and the errors of its events are counted as they are sent.
 */
function useOperationLog(metrics: Metrics): Plugin {
  const learn = ({ args }: { args: ExecutionArgs }) => {
    const context = args.contextValue as { request?: Request; viewer?: { id: string } | null };
    // A WebSocket operation has no request: src/ws.ts records it.
    if (!context.request) return;
    const state = stateOf(context.request);
    state.userId = context.viewer?.id;
    state.operation = getOperationAST(args.document, args.operationName)?.name?.value ?? args.operationName;
  };
  return {
    onRequest({ request }) {
      stateOf(request);
    },
    onParams({ params, request }) {
      stateOf(request).operation = params.operationName;
    },
    onExecute: learn,
    onSubscribe: learn,
    onResultProcess({ request, result, setResult }) {
      const state = stateOf(request);
      if (state.recorded) return;
      state.recorded = true;
      const record = { requestId: state.id, operation: state.operation, userId: state.userId, started: state.started };
      if (isAsyncIterable(result)) {
        recordOperation(metrics, record);
        setResult(
          mapAsyncIterator(result, (event: ExecutionResult) => {
            for (const error of event.errors ?? []) metrics.errors.inc({ code: clientCode(error) });
            return event;
          }),
        );
        return;
      }
      const results = Array.isArray(result) ? result : [result];
      recordOperation(metrics, { ...record, errors: results.flatMap((one) => one.errors ?? []) });
    },
  };
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
 * Every HTTP request gets an `x-request-id` (taken from the caller or generated, and echoed in the
 * response) that its operation's log line carries.
 */
export function useRequestLog(): Plugin {
  return {
    onRequest({ request }) {
      stateOf(request);
    },
    onResponse({ request, response }) {
      const state = requests.get(request);
      if (state) response.headers.set('x-request-id', state.id);
    },
  };
}

type Level = 'debug' | 'info' | 'warn' | 'error';

const isError = (value: unknown): value is Error =>
  value instanceof Error || (typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string');

function yogaLine(level: Level, args: unknown[]): void {
  const err = args.find(isError);
  const text = args
    .filter((arg) => arg !== err)
    .map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg)))
    .join(' ');
  if (err) logger[level]({ err }, text || err.message);
  else logger[level](text);
}

/**
 * yoga's own log lines as pino lines: a message, and an error under `err`. Yoga logs, at error
 * level, each error its masking replaced, taking a replacement for an unexpected error. Here
 * masking also rewrites errors a client caused (a forged cursor becomes BAD_USER_INPUT): those
 * are debug lines. The unexpected ones maskUnexpected has already logged with their stack.
 */
export function yogaLogging(): YogaLogger {
  return {
    debug: (...args: unknown[]) => yogaLine('debug', args),
    info: (...args: unknown[]) => yogaLine('info', args),
    warn: (...args: unknown[]) => yogaLine('warn', args),
    error: (...args: unknown[]) => {
      const err = args.find(isError);
      if (err && alreadyLogged(err)) return;
      if (err && classifyError(err).kind !== 'unexpected') {
        logger.debug({ err, code: clientCode(err) }, 'client error reworded for the client');
        return;
      }
      yogaLine('error', args);
    },
  };
}
