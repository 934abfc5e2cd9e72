import type { EventBus, Publication } from './bus.js';
import type { Topic, TopicMap } from './topics.js';

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
  return new ScopedBus(bus, scope);
}

/**
 * Classes, not objects of closures: each operation's context holds a scoped bus, and each of its
 * topic subscriptions an `Until`, for as long as it lives (see events/release.ts' `IteratorLayer`).
 */
class ScopedBus implements EventBus {
  private readonly bus: EventBus;
  private readonly scope: BusScope;

  constructor(bus: EventBus, scope: BusScope) {
    this.bus = bus;
    this.scope = scope;
  }

  get redis() {
    return this.bus.redis;
  }

  publish<T extends Topic>(topic: T, payload: TopicMap[T]): Promise<void> {
    return this.bus.publish(topic, payload);
  }

  publishAll<T extends Topic>(entries: readonly Publication<T>[]): Promise<PromiseSettledResult<void>[]> {
    return this.bus.publishAll(entries);
  }

  together<R>(issue: () => R): R {
    return this.bus.together(issue);
  }

  listen<T extends Topic>(topic: T, listener: (payload: TopicMap[T]) => void): Promise<() => void> {
    return this.bus.listen(topic, listener);
  }

  liveSubscriptions(): number {
    return this.bus.liveSubscriptions();
  }

  onReconnect(listener: () => void): () => void {
    return this.bus.onReconnect(listener);
  }

  async subscribe<T extends Topic>(topic: T): Promise<AsyncIterableIterator<TopicMap[T]>> {
    return new Until(await this.bus.subscribe(topic), this.scope);
  }

  // The bus belongs to the app; an operation's view of it cannot close it.
  async close(): Promise<void> {}
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

interface Waiter<T> {
  resolve: (result: IteratorResult<T>) => void;
  reject: (error: Error) => void;
}

/** `source`, ended as soon as the scope is (its signal aborted, its credentials expired). */
class Until<T> implements AsyncIterableIterator<T> {
  private readonly source: AsyncIterableIterator<T>;
  private readonly scope: BusScope;
  private finished = false;
  /** An expiry error not yet delivered because no `next()` was waiting. */
  private failure: Error | undefined;
  private waiting: Waiter<T> | undefined;
  private cancelExpiry: (() => void) | undefined;
  private readonly onAbort = () => this.finish();

  constructor(source: AsyncIterableIterator<T>, scope: BusScope) {
    this.source = source;
    this.scope = scope;
    if (scope.signal.aborted) this.finish();
    else {
      scope.signal.addEventListener('abort', this.onAbort, { once: true });
      if (scope.onExpiry) this.cancelExpiry = scope.onExpiry(() => this.finish(scope.expiredError?.()));
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.finished) {
      const error = this.failure;
      this.failure = undefined;
      return error ? Promise.reject(error) : Promise.resolve(DONE);
    }
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      const waiter = { resolve, reject };
      this.waiting = waiter;
      this.source.next().then(
        (result) => {
          if (this.waiting === waiter) this.waiting = undefined;
          if (result.done) this.finish();
          resolve(result);
        },
        (error: Error) => {
          if (this.waiting === waiter) this.waiting = undefined;
          this.finish();
          reject(error);
        },
      );
    });
  }

  async return(): Promise<IteratorResult<T>> {
    this.finish();
    return DONE;
  }

  async throw(error: unknown): Promise<IteratorResult<T>> {
    this.finish();
    throw error;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  private finish(error?: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.scope.signal.removeEventListener('abort', this.onAbort);
    this.cancelExpiry?.();
    const waiter = this.waiting;
    this.waiting = undefined;
    if (error && waiter) waiter.reject(error);
    else if (error) this.failure = error;
    else waiter?.resolve(DONE);
    void this.source.return?.();
  }
}
