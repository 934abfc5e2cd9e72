/**
 * A salon's webhook endpoints: what the GraphQL mutations do. Only salon accounts own endpoints;
 * another owner's endpoint or delivery is NOT_FOUND, never a hint that it exists.
 */
import { randomBytes } from 'node:crypto';
import type { Viewer } from '../auth/viewer.js';
import type { Config } from '../config.js';
import { db } from '../db.js';
import { badInput, forbidden, notFound } from '../errors.js';
import type { WebhookDelivery, WebhookEndpoint } from '../generated/prisma/client.js';
import { checkResolvable, DestinationRefused, parseDestination } from '../webhooks/destination.js';
import { isWebhookEventType, WEBHOOK_EVENT_TYPES } from '../webhooks/events.js';
import { DELIVERY_QUEUE, type DeliveryJob } from '../webhooks/fanout.js';
import type { Webhooks } from '../webhooks/index.js';
import { transaction } from './tx.js';
import { rejectNul, requireId } from './validation.js';

export const MAX_ENDPOINTS_PER_OWNER = 20;
export const MAX_DESCRIPTION_LENGTH = 500;

/** `whsec_` and 24 random bytes in base64: the format Standard Webhooks libraries read. */
function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

function requireSalon(viewer: Viewer): void {
  if (viewer.role !== 'SALON') throw forbidden('Only salon accounts have webhook endpoints');
}

async function requireUrl(raw: string, config: Config): Promise<string> {
  const value = rejectNul(raw, 'url').trim();
  try {
    const url = parseDestination(value, { requireHttps: config.isProduction });
    await checkResolvable(url, config.webhooks.allowPrivateNetworks);
    return url.toString();
  } catch (error) {
    if (error instanceof DestinationRefused) throw badInput(error.message, 'url');
    throw error;
  }
}

function requireEventTypes(types: readonly string[]): string[] {
  const unique = [...new Set(types.map((type) => type.trim()))];
  if (unique.length === 0) throw badInput('eventTypes must name at least one event type', 'eventTypes');
  const unknown = unique.find((type) => !isWebhookEventType(type));
  if (unknown !== undefined) {
    throw badInput(`eventTypes: unknown type "${unknown.slice(0, 50)}"; known: ${WEBHOOK_EVENT_TYPES.join(', ')}`, 'eventTypes');
  }
  return unique;
}

function optionalDescription(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const text = rejectNul(value, 'description').trim();
  if (text.length > MAX_DESCRIPTION_LENGTH) throw badInput(`description must be at most ${MAX_DESCRIPTION_LENGTH} characters`, 'description');
  return text || null;
}

export async function endpointForOwner(viewer: Viewer, id: string): Promise<WebhookEndpoint> {
  requireSalon(viewer);
  const endpoint = await db.webhookEndpoint.findFirst({ where: { id: requireId(id, 'id'), ownerId: viewer.id } });
  if (!endpoint) throw notFound('Webhook endpoint');
  return endpoint;
}

export interface CreateEndpointInput {
  url: string;
  eventTypes: readonly string[];
  description?: string | null | undefined;
}

export async function createEndpoint(viewer: Viewer, input: CreateEndpointInput, config: Config, webhooks: Webhooks) {
  requireSalon(viewer);
  const eventTypes = requireEventTypes(input.eventTypes);
  const description = optionalDescription(input.description);
  const url = await requireUrl(input.url, config);
  const secret = newSecret();
  const endpoint = await transaction(async (tx) => {
    // The owner's stream row, locked: counting and inserting under it keeps the bound exact, and
    // the position read is the owner's last event, so the endpoint receives what happens next.
    const [stream] = await tx.$queryRaw<{ lastPosition: bigint }[]>`
      INSERT INTO "UserEventStream" ("userId") VALUES (${viewer.id}::uuid)
          ON CONFLICT ("userId") DO UPDATE SET "userId" = EXCLUDED."userId"
   RETURNING "lastPosition"`;
    if ((await tx.webhookEndpoint.count({ where: { ownerId: viewer.id } })) >= MAX_ENDPOINTS_PER_OWNER) {
      throw badInput(`At most ${MAX_ENDPOINTS_PER_OWNER} webhook endpoints per account`);
    }
    return tx.webhookEndpoint.create({
      data: { ownerId: viewer.id, url, eventTypes, description, secret, position: stream?.lastPosition ?? 0n },
    });
  });
  webhooks.watch(viewer.id);
  return { endpoint, secret };
}

export interface UpdateEndpointInput {
  url?: string | null | undefined;
  eventTypes?: readonly string[] | null | undefined;
  description?: string | null | undefined;
  enabled?: boolean | null | undefined;
}

export async function updateEndpoint(viewer: Viewer, id: string, input: UpdateEndpointInput, config: Config, webhooks: Webhooks) {
  const endpoint = await endpointForOwner(viewer, id);
  const url = input.url === null || input.url === undefined ? undefined : await requireUrl(input.url, config);
  const eventTypes = input.eventTypes === null || input.eventTypes === undefined ? undefined : requireEventTypes(input.eventTypes);
  const description = input.description === undefined ? undefined : optionalDescription(input.description);
  const enable = input.enabled === true && endpoint.disabledAt !== null;
  const disable = input.enabled === false && endpoint.disabledAt === null;
  const updated = await transaction(async (tx) => {
    // Re-enabled: it resumes with what happens next, not with what it missed while disabled.
    const resume = enable ? await tx.userEventStream.findUnique({ where: { userId: viewer.id }, select: { lastPosition: true } }) : null;
    return tx.webhookEndpoint.update({
      where: { id: endpoint.id },
      data: {
        ...(url !== undefined ? { url } : {}),
        ...(eventTypes !== undefined ? { eventTypes } : {}),
        ...(description !== undefined ? { description } : {}),
        ...(enable ? { disabledAt: null, disabledReason: null, failingSince: null, position: resume?.lastPosition ?? 0n } : {}),
        ...(disable ? { disabledAt: new Date(), disabledReason: 'disabled by its owner' } : {}),
      },
    });
  });
  if (enable) webhooks.watch(viewer.id);
  return updated;
}

export async function rotateSecret(viewer: Viewer, id: string, config: Config) {
  const endpoint = await endpointForOwner(viewer, id);
  const secret = newSecret();
  const updated = await db.webhookEndpoint.update({
    where: { id: endpoint.id },
    data: {
      secret,
      previousSecret: endpoint.secret,
      previousSecretExpiresAt: new Date(Date.now() + config.webhooks.secretOverlapS * 1000),
    },
  });
  return { endpoint: updated, secret };
}

export async function deleteEndpoint(viewer: Viewer, id: string): Promise<string> {
  const endpoint = await endpointForOwner(viewer, id);
  // Its deliveries and attempts go with it (cascade); their jobs find nothing and end.
  await db.webhookEndpoint.delete({ where: { id: endpoint.id } });
  return endpoint.id;
}

async function deliveryForOwner(viewer: Viewer, id: string): Promise<WebhookDelivery> {
  requireSalon(viewer);
  const delivery = await db.webhookDelivery.findFirst({ where: { id: requireId(id, 'id'), endpoint: { ownerId: viewer.id } } });
  if (!delivery) throw notFound('Webhook delivery');
  return delivery;
}

/**
 * Another attempt now, whatever the delivery's state (a partner that fixed its receiver asks for
 * what failed, or again for what it lost). The attempt number makes the scheduled job of a
 * PENDING delivery and this one the same attempt: whichever runs first makes it, the other finds
 * it made.
 */
export async function retryDelivery(viewer: Viewer, id: string, webhooks: Webhooks): Promise<WebhookDelivery> {
  const delivery = await deliveryForOwner(viewer, id);
  const queue = webhooks.queue();
  const updated = await transaction(async (tx) => {
    const row = await tx.webhookDelivery.update({
      where: { id: delivery.id },
      data: { status: 'PENDING', nextAttemptAt: new Date() },
    });
    await queue.insertIn(tx, [{ name: DELIVERY_QUEUE, data: { deliveryId: row.id, attempt: row.attemptCount + 1 } satisfies DeliveryJob }]);
    return row;
  });
  queue.wake(DELIVERY_QUEUE, 1);
  return updated;
}
