/**
 * Letting go of a subscription's items once they are delivered.
 *
 * A subscription asks for its next item as soon as it has delivered the last, then waits, often
 * for seconds: the promise of that wait is in the old generation by the time an item resolves it.
 * A resolved promise keeps its result, so every layer an item passes through (the Redis message,
 * the log reader's batch, the picked item, the execution result) stays reachable from an old
 * promise until the next major collection, and each scavenge it survives copies it until it is
 * promoted: most of what a delivery promoted (bench:promotion). Once a consumer asks for the next
 * item it is done with the last, so these cut what the old promises hold then.
 */

/** Drops the value of an iterator result its consumer is done with. */
export function letGo(result: IteratorResult<unknown>): void {
  if (!result.done) (result as { value: unknown }).value = undefined;
}

/**
 * `iterator`, letting go of each result (`release`, by default its value) when the next one is
 * asked for. For a consumer that asks for the next item only once it is done with the last
 * (graphql-js' and graphql-tools' subscription mapping, graphql-ws' `for await`).
 */
export function releasing<T>(iterator: AsyncIterator<T>, release: (result: IteratorResult<T>) => void = letGo): AsyncIterableIterator<T> {
  return new Releasing(iterator, release);
}

/**
 * An iterator layer over `source` whose `next()` subclasses define; `return()` and `throw()` go
 * straight to the source, even while a `next()` is pending (ending a subscription must not wait
 * for its next event). A class, not an object of closures: every live subscription holds several
 * such layers for its life, and methods on a prototype cost a socket nothing (an object literal's
 * cost each layer four closures, their context and, for `[Symbol.asyncIterator]`, a name string).
 */
export abstract class IteratorLayer<T> implements AsyncIterableIterator<T> {
  protected readonly source: AsyncIterator<T>;

  constructor(source: AsyncIterator<T>) {
    this.source = source;
  }

  abstract next(): Promise<IteratorResult<T>>;

  return(value?: unknown): Promise<IteratorResult<T>> {
    return this.source.return?.(value) ?? Promise.resolve({ done: true, value: undefined });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    return this.source.throw?.(error) ?? Promise.reject(error);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

/** See `releasing`; a class of its own for layers that also let go of what they pass on. */
export class Releasing<T> extends IteratorLayer<T> {
  private readonly release: (result: IteratorResult<T>) => void;
  private last: IteratorResult<T> | undefined;
  private readonly keep = (result: IteratorResult<T>) => (this.last = result);

  constructor(source: AsyncIterator<T>, release: (result: IteratorResult<T>) => void) {
    super(source);
    this.release = release;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.last) this.release(this.last);
    this.last = undefined;
    return this.source.next().then(this.keep);
  }
}

/**
 * After graphql-ws has written an execution result to its socket: empties its `data`, which every
 * layer above the executor shares (each may hold its own copy of the result object, not of
 * `data`), so that the result tree dies young whatever holds the result.
 */
export function releaseSent(result: unknown): void {
  const data = (result as { data?: unknown } | null)?.data;
  if (data === null || typeof data !== 'object') return;
  for (const key of Object.keys(data)) delete (data as Record<string, unknown>)[key];
}
