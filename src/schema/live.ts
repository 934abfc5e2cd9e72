import type { Context, ViewerContext } from '../context.js';
import { announce } from '../events/publish.js';
import { logger } from '../logger.js';
import { followLog, type FollowedEvent } from '../services/event-stream.js';
import type { Outcome } from '../services/tx.js';

/**
 * Runs a service call and, once it has committed, announces it (events/publish.ts): the one
 * way resolvers publish. Also counts and logs each message sent.
 */
export async function committed<T>(ctx: Context, outcome: Promise<Outcome<T>>): Promise<T> {
  const done = await outcome;
  for (const event of done.events) {
    if (event.kind !== 'messageAdded') continue;
    ctx.metrics.messagesSent.inc();
    const { id, conversationId, seq, authorId, kind } = event.message;
    logger.info({ messageId: id, conversationId, seq, authorId, kind }, 'message created');
  }
  await announce(ctx.bus, done);
  return done.result;
}

/**
 * A per-type subscription over the viewer's event log from `from` (null: from now): `pick` keeps
 * and shapes the events its field delivers. Being a view of the log, it is as gapless as
 * `Subscription.events`.
 */
export async function* fromLog<T>(
  ctx: ViewerContext,
  from: bigint | null,
  pick: (batch: FollowedEvent[]) => T[] | Promise<T[]>,
): AsyncGenerator<T> {
  for await (const batch of followLog(ctx.bus, ctx.viewer.id, from, ctx.config.eventPollMs)) {
    for (const item of await pick(batch)) yield item;
  }
}
