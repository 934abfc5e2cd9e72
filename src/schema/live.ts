import type { ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { classifyError } from '../errors.js';
import type { Context, ViewerContext } from '../context.js';
import { announce } from '../events/publish.js';
import { IteratorLayer } from '../events/release.js';
import { logger } from '../logger.js';
import { followLog, picked, type FollowedEvent } from '../services/event-stream.js';
import type { Outcome } from '../services/tx.js';

/**
 * Runs a service call and, once it has committed, announces it (events/publish.ts): the one
 * way resolvers publish. Also counts and logs each message sent. `alongside` runs right after the
 * announcement, for an effect of the commit that goes to Redis too (not awaited there).
 */
export async function committed<T>(ctx: Context, outcome: Promise<Outcome<T>>, alongside?: (result: T) => void): Promise<T> {
  const done = await outcome;
  for (const event of done.events) {
    if (event.kind !== 'messageAdded') continue;
    ctx.metrics.messagesSent.inc();
    const { id, conversationId, seq, authorId, kind } = event.message;
    logger.info({ messageId: id, conversationId, seq, authorId, kind }, 'message created');
  }
  // Not waited for: its commands are written before this answer is, and waiting held every
  // mutation's answer for a Redis round trip that changes nothing for its caller (a failed
  // wake-up is logged, and readers find the event in the log at their next check).
  // `alongside` issues its Redis commands in the same write as the wake-ups (EventBus.together).
  ctx.bus.together(() => {
    announce(ctx.bus, done).catch((error: unknown) => logger.error({ err: error }, 'announce failed'));
    alongside?.(done.result);
  });
  ctx.webhooks.wake(done.logged.map((row) => row.userId));
  return done.result;
}

/**
 * A per-type subscription over the viewer's event log from `from` (null: from now): `pick` keeps
 * and shapes the events its field delivers. Being a view of the log, it is as gapless as
 * `Subscription.events`.
 */
export function fromLog<T>(ctx: ViewerContext, from: bigint | null, pick: (batch: FollowedEvent[]) => T[] | Promise<T[]>): AsyncIterableIterator<T> {
  return picked(followLog(ctx.bus, ctx.viewer.id, from, ctx.config.eventPollMs), pick);
}

/** An event's result that failed only because a row it names was deleted while it was resolved. */
function onlyVanished(result: ExecutionResult): boolean {
  return result.errors !== undefined && result.errors.length > 0 && result.errors.every((error) => classifyError(error).code === 'NOT_FOUND');
}

/** One per live subscription (see events/release.ts' `IteratorLayer`). */
class WithoutVanished extends IteratorLayer<ExecutionResult> {
  // Chained, not an async loop: a pending async function is a frame kept for as long as the
  // subscription waits for its next event, one more object graph for each delivery to promote.
  next(): Promise<IteratorResult<ExecutionResult>> {
    return this.source.next().then((item) => (item.done || !onlyVanished(item.value) ? item : this.next()));
  }
}

/**
 * Skips a subscription event whose subject was deleted while the event was being resolved:
 * a message or conversation read by a nested field (author, attachments, lastMessage…) after
 * `deleteConversation` committed. The event would arrive as NOT_FOUND errors; skipping it is
 * what `events` promises, and the log holds the `conversation.deleted` that follows, so the
 * client ends in the same state. Found by test/event-model.test.ts.
 */
export function useSkipVanishedEvents(): Plugin<Context> {
  return {
    onSubscribe: () => ({
      onSubscribeResult({ result, setResult }) {
        if (isAsyncIterable(result)) setResult(new WithoutVanished(result));
      },
    }),
  };
}

function isAsyncIterable(value: unknown): value is AsyncIterableIterator<ExecutionResult> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
