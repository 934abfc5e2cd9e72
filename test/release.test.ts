import { describe, expect, it } from 'vitest';
import { releaseSent, releasing } from '../src/events/release.js';
import { picked, type FollowedEvent } from '../src/services/event-stream.js';

/**
 * A subscription's consumer asks for its next item right after the last and waits: the promise of
 * that wait is old when an item resolves it, and keeps the item until a major collection unless
 * the item is let go of (src/events/release.ts). These pin down when each layer lets go.
 */

async function* source<T>(...items: T[]) {
  for (const item of items) yield item;
}

describe('releasing', () => {
  it('lets go of each value once the next one is asked for, not before', async () => {
    const first = { message: 'first' };
    const iterator = releasing(source(first, { message: 'second' }));
    const got = await iterator.next();
    // The consumer is still working with it.
    expect(got.value).toBe(first);
    const next = iterator.next();
    expect(got.value).toBeUndefined();
    expect((await next).value).toEqual({ message: 'second' });
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it('ends its source at once on return(), as the operation ending does', async () => {
    let ended = false;
    const iterator = releasing(
      (async function* () {
        try {
          yield 1;
          yield 2;
        } finally {
          ended = true;
        }
      })(),
    );
    await iterator.next();
    expect(await iterator.return?.()).toEqual({ done: true, value: undefined });
    expect(ended).toBe(true);
  });
});

describe('picked (what the log subscriptions hand to GraphQL)', () => {
  it('lets go of each delivered item once the next is asked for', async () => {
    const event = (position: bigint) => ({ position }) as unknown as FollowedEvent;
    const items = picked(source([event(1n), event(2n)], [event(3n)]), (batch) => batch.map((e) => ({ position: e.position })));
    const first = await items.next();
    expect(first.value).toEqual({ position: 1n });
    const second = await items.next();
    expect(first.value).toBeUndefined();
    expect(second.value).toEqual({ position: 2n });
    const third = await items.next();
    expect(second.value).toBeUndefined();
    expect(third.value).toEqual({ position: 3n });
    expect((await items.next()).done).toBe(true);
  });
});

describe('releaseSent', () => {
  it('empties the data that every copy of a sent result shares', () => {
    const result = { data: { events: { cursor: 'c', payload: { message: { content: 'hello' } } } } };
    const copy = { ...result, errors: [] };
    releaseSent(copy);
    expect(result.data).toEqual({});
    expect(copy.data).toBe(result.data);
  });

  it('leaves a result without data as it is', () => {
    const failed = { data: null, errors: [{ message: 'no' }] };
    releaseSent(failed);
    expect(failed).toEqual({ data: null, errors: [{ message: 'no' }] });
    expect(() => releaseSent(undefined)).not.toThrow();
  });
});
