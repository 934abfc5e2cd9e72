import type { Context } from '../context.js';
import { logger } from '../logger.js';
import type { Outcome } from '../services/tx.js';
import { busSink } from './publisher.js';
import { topics } from './topics.js';

/**
 * Runs a service call, then announces what it did: the one way resolvers publish. By then the
 * events are durable in each recipient's log (the service's `change` recorded them before its
 * commit), so the bus only wakes readers up: a failed publish is logged and costs a delay (readers
 * re-check the log every EVENT_POLL_MS), never an event.
 */
export async function committed<T>(ctx: Context, outcome: Promise<Outcome<T>>): Promise<T> {
  const { result, events, positions } = await outcome;
  for (const event of events) {
    if (event.kind !== 'messageAdded') continue;
    ctx.metrics.messagesSent.inc();
    const { id, conversationId, seq, authorId, kind } = event.message;
    logger.info({ messageId: id, conversationId, seq, authorId, kind }, 'message created');
  }
  const wakeUps = [...positions].map(async ([userId, position]) => {
    try {
      await ctx.bus.publish(topics.userEvents(userId), { position: position.toString() });
    } catch (error) {
      logger.warn({ err: error, userId, position: position.toString() }, 'event log wake-up not published');
    }
  });
  const perType = (async () => {
    if (events.length === 0) return;
    try {
      await busSink(ctx.bus).publish(events);
    } catch (error) {
      logger.error({ err: error, kinds: events.map((event) => event.kind) }, 'event publish failed');
    }
  })();
  await Promise.all([...wakeUps, perType]);
  return result;
}
