/**
 * Webhooks are the event log's second kind of reader. Each endpoint keeps a position in its
 * owner's log; the fan-out turns the events after it into deliveries (one per endpoint and event
 * of a subscribed type) and their first jobs, and moves the position — all in one transaction,
 * so an event becomes a delivery exactly once, and a delivery exists with its job or not at all.
 *
 * Several instances may fan out the same owner at once: the endpoints' rows are locked for the
 * transaction, so the second waits and then finds nothing new.
 */
import { randomUUID } from 'node:crypto';
import type { Tx } from '../db.js';
import { toLoggedEvent } from '../events/log.js';
import { QUEUES, type JobQueue } from '../jobs/queue.js';
import { transaction } from '../services/tx.js';
import { bodiesOf } from './events.js';

export const DELIVERY_QUEUE = QUEUES.webhookDelivery;

/** Events read per transaction: a partner far behind catches up in bounded steps. */
const FAN_OUT_BATCH = 500;

export interface DeliveryJob {
  deliveryId: string;
  /** The attempt this job is for (1-based): a job for an attempt already made is stale and does nothing. */
  attempt: number;
}

interface EndpointCursor {
  id: string;
  position: bigint;
  eventTypes: string[];
}

/** One batch for `ownerId`; returns whether more events may be waiting. */
async function fanOutBatch(tx: Tx, queue: JobQueue, ownerId: string): Promise<{ created: number; more: boolean }> {
  const endpoints = await tx.$queryRaw<EndpointCursor[]>`
    SELECT "id", "position", "eventTypes" FROM "WebhookEndpoint"
     WHERE "ownerId" = ${ownerId}::uuid AND "disabledAt" IS NULL
     ORDER BY "id" FOR UPDATE`;
  if (endpoints.length === 0) return { created: 0, more: false };
  const from = endpoints.reduce((min, endpoint) => (endpoint.position < min ? endpoint.position : min), endpoints[0]!.position);
  const rows = await tx.userEvent.findMany({
    where: { userId: ownerId, position: { gt: from } },
    orderBy: { position: 'asc' },
    take: FAN_OUT_BATCH,
  });
  if (rows.length === 0) return { created: 0, more: false };
  const events = rows.map(toLoggedEvent);
  const last = events.at(-1)!.position;

  const wanted = events.filter((event) => endpoints.some((e) => event.position > e.position && e.eventTypes.includes(event.type)));
  const bodies = await bodiesOf(tx, wanted);
  const deliveries = endpoints.flatMap((endpoint) =>
    wanted.flatMap((event) => {
      const body = bodies.get(event.position);
      if (!body || event.position <= endpoint.position || !endpoint.eventTypes.includes(event.type)) return [];
      return [{ id: randomUUID(), endpointId: endpoint.id, eventPosition: event.position, eventType: event.type, payload: JSON.stringify(body) }];
    }),
  );
  if (deliveries.length > 0) {
    await tx.webhookDelivery.createMany({
      data: deliveries.map((d) => ({ ...d, nextAttemptAt: new Date() })),
    });
    await queue.insertIn(
      tx,
      deliveries.map((d) => ({ name: DELIVERY_QUEUE, data: { deliveryId: d.id, attempt: 1 } satisfies DeliveryJob })),
    );
  }
  await tx.webhookEndpoint.updateMany({
    where: { id: { in: endpoints.filter((e) => e.position < last).map((e) => e.id) } },
    data: { position: last },
  });
  return { created: deliveries.length, more: rows.length === FAN_OUT_BATCH };
}

/** Fans out everything `ownerId`'s endpoints have not seen yet; returns the deliveries created. */
export async function fanOut(queue: JobQueue, ownerId: string): Promise<number> {
  let created = 0;
  for (;;) {
    const batch = await transaction((tx) => fanOutBatch(tx, queue, ownerId));
    created += batch.created;
    if (!batch.more) return created;
  }
}
