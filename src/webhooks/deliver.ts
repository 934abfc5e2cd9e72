/**
 * One attempt of one delivery (a job of the `webhook-delivery` queue), and what follows from it:
 * success, the next attempt on the retry schedule, or FAILED; and for an endpoint that has failed
 * everything for WEBHOOK_DISABLE_AFTER_S, disabled with an event in its owner's stream.
 *
 * At-least-once: the attempt is recorded after the HTTP call. A process killed in between leaves
 * the delivery claimed until `lockedUntil` and its job active until pg-boss expires it; the job is
 * then retried and the same attempt is made again, with the same `webhook-id`.
 */
import { Webhook } from 'standardwebhooks';
import type { WebhookConfig } from '../config.js';
import { db } from '../db.js';
import type { EventBus } from '../events/bus.js';
import { announce } from '../events/publish.js';
import type { JobQueue } from '../jobs/queue.js';
import { logger } from '../logger.js';
import { change, transaction } from '../services/tx.js';
import type { Metrics } from '../observability.js';
import { DELIVERY_QUEUE, type DeliveryJob } from './fanout.js';
import { postWebhook, type AttemptResult } from './post.js';

/**
 * Attempts in flight per endpoint, across instances: half of an instance's slots (at least 2), so
 * a partner that hangs holds that many attempts until they time out, never every slot, and the
 * others' deliveries go on. With the default 16 slots, 8 attempts at once keep up with one busy
 * salon's 100 events/s on the 2-core development machine (`npm run bench:webhooks`); 4 did not.
 */
export function endpointInFlightLimit(config: WebhookConfig): number {
  return Math.max(2, Math.ceil(config.concurrency / 2));
}

/** An endpoint whose oldest attempt in flight has run longer than this is slow: its waiting deliveries back off. */
const SLOW_ATTEMPT_MS = 1_000;

/**
 * How long an attempt holds its delivery: past its HTTP deadline, so a live attempt is never
 * overtaken; a crashed one is released when this passes (the queue's job expiry is longer).
 */
export function leaseMs(config: WebhookConfig): number {
  return config.timeoutMs + 2_000;
}

export interface DeliveryDeps {
  config: WebhookConfig;
  queue: JobQueue;
  bus: EventBus;
  metrics: Metrics;
}

interface Claimed {
  id: string;
  endpointId: string;
  eventType: string;
  payload: string;
  url: string;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  disabled: boolean;
  ownerId: string;
  nextAttemptAt: Date | null;
}

/** The signature header: one `v1,…` per secret in use (both during a rotation's overlap). */
function signatureHeader(secrets: readonly string[], id: string, timestamp: Date, body: string): string {
  return secrets.map((secret) => new Webhook(secret).sign(id, timestamp, body)).join(' ');
}

type Busy = { busy: true; slow: boolean };

/**
 * Takes the delivery for this attempt, or says why not: stale (made already, or gone), or busy
 * (its endpoint at its bound; slow when its oldest attempt in flight has run over a second).
 */
async function claim(job: DeliveryJob, config: WebhookConfig): Promise<Claimed | 'stale' | Busy> {
  const lease = leaseMs(config);
  // webhook_claim (src/db/routines.ts): the bound is exact under concurrent claims, in one
  // round trip — the hot path at 100 events/s.
  const rows = await db.$queryRaw<Claimed[]>`
    SELECT d."id", d."endpointId", d."eventType", d."payload", e."url", e."secret", e."previousSecret",
           e."previousSecretExpiresAt", e."disabledAt" IS NOT NULL AS "disabled", e."ownerId", d."nextAttemptAt"
      FROM webhook_claim(${job.deliveryId}::uuid, ${job.attempt}::int, ${lease}::int, ${endpointInFlightLimit(config)}::int) c
      JOIN "WebhookDelivery" d ON d."id" = ${job.deliveryId}::uuid
      JOIN "WebhookEndpoint" e ON e."id" = d."endpointId"
     WHERE c."claimed"`;
  if (rows[0]) return rows[0];
  const [delivery] = await db.$queryRaw<{ waiting: boolean; oldest: Date | null }[]>`
    SELECT d."status" = 'PENDING' AND d."attemptCount" = ${job.attempt - 1} AS "waiting",
           (SELECT min(x."lockedUntil") FROM "WebhookDelivery" x
             WHERE x."endpointId" = d."endpointId" AND x."status" = 'PENDING' AND x."lockedUntil" > now()) AS "oldest"
      FROM "WebhookDelivery" d WHERE d."id" = ${job.deliveryId}::uuid`;
  if (!delivery?.waiting) return 'stale';
  const runningMs = delivery.oldest ? lease - (delivery.oldest.getTime() - Date.now()) : 0;
  return { busy: true, slow: runningMs > SLOW_ATTEMPT_MS };
}

export async function runDeliveryJob(deps: DeliveryDeps, job: DeliveryJob): Promise<void> {
  const { config, queue } = deps;
  let claimed = await claim(job, config);
  // A burst to a fast endpoint: a slot frees within milliseconds; waiting for it here costs a
  // query, requeueing costs the job three.
  for (let wait = 0; wait < 5 && typeof claimed === 'object' && 'busy' in claimed && !claimed.slow; wait++) {
    await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 30));
    claimed = await claim(job, config);
  }
  if (claimed === 'stale') return;
  if ('busy' in claimed) {
    // A burst to a fast endpoint: its slots free within milliseconds, so again shortly. A slow one
    // (a partner that hangs): about when its attempts time out, spread, so its backlog is requeued
    // once per lease rather than churning.
    const deferMs = claimed.slow ? leaseMs(config) * (0.5 + Math.random()) : 50 + Math.random() * 150;
    await transaction((tx) => queue.insertIn(tx, [{ name: DELIVERY_QUEUE, data: job, startAfter: new Date(Date.now() + deferMs) }]));
    return;
  }
  if (claimed.disabled) {
    await db.webhookDelivery.update({
      where: { id: claimed.id },
      data: { status: 'FAILED', lockedUntil: null, nextAttemptAt: null },
    });
    deps.metrics.webhookDeliveries.inc({ result: 'failed' });
    return;
  }

  const now = new Date();
  if (claimed.nextAttemptAt) deps.metrics.webhookQueueLag.observe(Math.max(0, now.getTime() - claimed.nextAttemptAt.getTime()) / 1000);
  const secrets = [claimed.secret];
  if (claimed.previousSecret && claimed.previousSecretExpiresAt && claimed.previousSecretExpiresAt > now) secrets.push(claimed.previousSecret);
  const result = await postWebhook({
    url: claimed.url,
    body: claimed.payload,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'salon-messaging-webhooks/1',
      'webhook-id': claimed.id,
      'webhook-timestamp': Math.floor(now.getTime() / 1000).toString(),
      'webhook-signature': signatureHeader(secrets, claimed.id, now, claimed.payload),
    },
    timeoutMs: config.timeoutMs,
    allowPrivate: config.allowPrivateNetworks,
  });
  await record(deps, claimed, job.attempt, now, result);
}

/**
 * The common case in one autocommitted statement (a delivery per event at 100 events/s is the
 * hot path): the attempt, the delivery SUCCEEDED, the endpoint's failure clock cleared.
 */
async function recordSuccess(claimed: Claimed, attempt: number, attemptedAt: Date, result: AttemptResult): Promise<void> {
  await db.$executeRaw`
    WITH attempt AS (
      INSERT INTO "WebhookAttempt" ("id", "deliveryId", "attemptedAt", "durationMs", "responseStatus", "responseBody", "error")
      VALUES (gen_random_uuid(), ${claimed.id}::uuid, ${attemptedAt}, ${result.durationMs}, ${result.status}, ${result.body}, NULL)
    ), delivery AS (
      UPDATE "WebhookDelivery"
         SET "status" = 'SUCCEEDED', "attemptCount" = ${attempt}, "nextAttemptAt" = NULL, "lockedUntil" = NULL, "updatedAt" = now()
       WHERE "id" = ${claimed.id}::uuid
    )
    UPDATE "WebhookEndpoint" SET "failingSince" = NULL WHERE "id" = ${claimed.endpointId}::uuid AND "failingSince" IS NOT NULL`;
}

async function record(deps: DeliveryDeps, claimed: Claimed, attempt: number, attemptedAt: Date, result: AttemptResult) {
  const { config, queue, metrics } = deps;
  const schedule = config.retryScheduleS;
  const retryInS = result.ok ? undefined : schedule[attempt];
  const nextAttemptAt = retryInS === undefined ? null : new Date(Date.now() + retryInS * 1000);
  const status = result.ok ? 'SUCCEEDED' : nextAttemptAt ? 'PENDING' : 'FAILED';

  const disable = result.ok ? (await recordSuccess(claimed, attempt, attemptedAt, result), false) : await transaction(async (tx) => {
    await tx.webhookAttempt.create({
      data: {
        deliveryId: claimed.id,
        attemptedAt,
        durationMs: result.durationMs,
        responseStatus: result.status,
        responseBody: result.body,
        error: result.error,
      },
    });
    await tx.webhookDelivery.update({
      where: { id: claimed.id },
      data: { status, attemptCount: attempt, nextAttemptAt, lockedUntil: null },
    });
    if (nextAttemptAt) {
      await queue.insertIn(tx, [
        { name: DELIVERY_QUEUE, data: { deliveryId: claimed.id, attempt: attempt + 1 } satisfies DeliveryJob, startAfter: nextAttemptAt },
      ]);
    }
    // The first failure after a success starts the clock; a failure past its limit disables.
    const [endpoint] = await tx.$queryRaw<{ failingSince: Date }[]>`
      UPDATE "WebhookEndpoint" SET "failingSince" = COALESCE("failingSince", now())
       WHERE "id" = ${claimed.endpointId}::uuid AND "disabledAt" IS NULL
   RETURNING "failingSince"`;
    return endpoint !== undefined && endpoint.failingSince.getTime() <= Date.now() - config.disableAfterS * 1000;
  });

  metrics.webhookAttempts.inc({ result: result.ok ? 'success' : result.status === null ? 'error' : 'http_error' });
  if (status !== 'PENDING') metrics.webhookDeliveries.inc({ result: status === 'SUCCEEDED' ? 'succeeded' : 'failed' });
  // One line per attempt, without the payload: partners' data stays out of the logs.
  logger.info(
    {
      deliveryId: claimed.id,
      endpointId: claimed.endpointId,
      eventType: claimed.eventType,
      attempt,
      status: result.status,
      durationMs: result.durationMs,
      error: result.error,
      outcome: status,
    },
    'webhook attempt',
  );
  if (nextAttemptAt && retryInS === 0) queue.wake(DELIVERY_QUEUE, 1);
  if (disable) await disableEndpoint(deps, claimed.endpointId, claimed.ownerId);
}

async function disableEndpoint(deps: DeliveryDeps, endpointId: string, ownerId: string) {
  const reason = `every attempt failed for ${deps.config.disableAfterS} s`;
  const outcome = await change(async (tx) => {
    const { count } = await tx.webhookEndpoint.updateMany({
      where: { id: endpointId, disabledAt: null },
      data: { disabledAt: new Date(), disabledReason: reason },
    });
    return { result: count, events: count ? [{ kind: 'webhookEndpointDisabled' as const, endpointId, reason, participantIds: [ownerId] }] : [] };
  });
  if (outcome.result === 0) return;
  logger.warn({ endpointId, ownerId, reason }, 'webhook endpoint disabled');
  await announce(deps.bus, outcome);
}
