import type { Context } from '../context.js';
import { logger } from '../logger.js';
import { busSink } from './publisher.js';
import type { AppEvent } from './types.js';

/**
 * Runs a service call, then announces what it did: the one way resolvers publish. Events go out
 * only after the service's transaction committed. The write has happened whatever the bus does,
 * so a publish failure is logged, not returned (subscribers recover through replay and gap fill).
 */
export async function committed<T>(ctx: Context, outcome: Promise<{ result: T; events: AppEvent[] }>): Promise<T> {
  const { result, events } = await outcome;
  for (const event of events) {
    if (event.kind !== 'messageAdded') continue;
    ctx.metrics.messagesSent.inc();
    const { id, conversationId, seq, authorId, kind } = event.message;
    logger.info({ messageId: id, conversationId, seq, authorId, kind }, 'message created');
  }
  if (events.length > 0) {
    try {
      await busSink(ctx.bus).publish(events);
    } catch (error) {
      logger.error({ err: error, kinds: events.map((event) => event.kind) }, 'event publish failed');
    }
  }
  return result;
}
