import type { EventBus } from './bus.js';
import type { Topic } from './topics.js';

/** What ends the subscriptions of one operation, whatever transport carries it. */
export interface BusScope {
  /** Aborted when the operation ends: its socket closed, the client completed it, the request went away. */
  signal: AbortSignal;
  /** Arms `expire` for the moment the operation's credentials expire; returns the cancel. */
  onExpiry?: (expire: () => void) => () => void;
  /** The error a subscription ends with at expiry. */
  expiredError?: () => Error;
}

/**
 * The bus as one operation sees it: every topic subscription it opens ends as soon as the scope
 * does, even while a `next()` is pending. Subscription resolvers are async generators, and an
 * async generator's `return()` waits for the `next()` in progress, that is for the next event
 * on a quiet topic; ending the topic iterator from outside is what lets them finish at once and
 * release their topic.
 */
export function scopeBus(bus: EventBus, scope: BusScope): EventBus {
  return {
    redis: bus.redis,
    publish: (topic, payload) => bus.publish(topic, payload),
    publishAll: (entries) => bus.publishAll(entries),
    together: (issue) => bus.together(issue),
    liveSubscriptions: () => bus.liveSubscriptions(),
    onReconnect: (listener) => bus.onReconnect(listener),
    async subscribe<T extends Topic>(topic: T) {
      return until(await bus.subscribe(topic), scope);
    },
    // The bus belongs to the app; an operation's view of it cannot close it.
    close: async () => {},
  };
}

function until<T>(source: AsyncIterableIterator<T>, scope: BusScope): AsyncIterableIterator<T> {
  const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
  let finished = false;
  /** An expiry error not yet delivered because no `next()` was waiting. */
  let failure: Error | undefined;
  let waiting: { resolve: (result: IteratorResult<T>) => void; reject: (error: Error) => void } | undefined;
  let cancelExpiry: (() => void) | undefined;
  const onAbort = () => finish();
  const finish = (error?: Error) => {
    if (finished) return;
    finished = true;
    scope.signal.removeEventListener('abort', onAbort);
    cancelExpiry?.();
    const waiter = waiting;
    waiting = undefined;
    if (error && waiter) waiter.reject(error);
    else if (error) failure = error;
    else waiter?.resolve(done);
    void source.return?.();
  };

  if (scope.signal.aborted) finish();
  else {
    scope.signal.addEventListener('abort', onAbort, { once: true });
    if (scope.onExpiry) cancelExpiry = scope.onExpiry(() => finish(scope.expiredError?.()));
  }

  return {
    next() {
      if (finished) {
        const error = failure;
        failure = undefined;
        return error ? Promise.reject(error) : Promise.resolve(done);
      }
      return new Promise<IteratorResult<T>>((resolve, reject) => {
        const waiter = { resolve, reject };
        waiting = waiter;
        source.next().then(
          (result) => {
            if (waiting === waiter) waiting = undefined;
            if (result.done) finish();
            resolve(result);
          },
          (error: Error) => {
            if (waiting === waiter) waiting = undefined;
            finish();
            reject(error);
          },
        );
      });
    },
    async return() {
      finish();
      return done;
    },
    async throw(error: unknown) {
      finish();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
