import { contextCacheSymbol, createContextCache, initContextCache } from '@pothos/core';
import { RequestCache } from '@pothos/plugin-scope-auth';
import type { GraphQLSchema } from 'graphql';
import { createSchema, createYoga, type Plugin } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { freshCachesPerEvent, useFreshRequestCaches } from '../src/request-caches.js';

/**
 * A per-request cache as Pothos' plugins keep theirs (scope-auth, the Prisma plugin's plans):
 * in a long-lived WeakMap keyed by the context's cache key, holding the context.
 */
function probeServer(plugins: Plugin[], prepare: (schema: GraphQLSchema) => GraphQLSchema = (schema) => schema) {
  const perRequest = createContextCache((context: object) => ({ context }));
  const seen: { context: Record<symbol, unknown>; key: unknown; first: unknown; second: unknown; authCache: RequestCache<AuthTypes> }[] = [];
  const probe = (_root: unknown, _args: unknown, context: Record<symbol, unknown>) => {
    const authCache = RequestCache.fromContext(context, authBuilder);
    seen.push({ context, key: context[contextCacheSymbol], first: perRequest(context), second: perRequest(context), authCache });
    return 'ok';
  };
  const schema = createSchema<Record<symbol, unknown>>({
    typeDefs: 'type Query { probe: String! } type Event { probe: String! } type Subscription { events: Event! }',
    resolvers: {
      Query: { probe },
      Event: { probe },
      Subscription: {
        events: {
          // Two events, the second only once the first has been delivered.
          subscribe: async function* () {
            yield { events: {} };
            await delivered;
            yield { events: {} };
          },
        },
      },
    },
  });
  let firstOut: () => void = () => {};
  const delivered = new Promise<void>((resolve) => (firstOut = resolve));
  const yoga = createYoga({ schema: prepare(schema), plugins, context: (): Record<symbol, unknown> => initContextCache(), logging: false });
  const query = async () => {
    const response = await yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ probe }' }),
    });
    expect(await response.json()).toEqual({ data: { probe: 'ok' } });
    return seen.at(-1)!;
  };
  /** The events of `subscription { events { probe } }` over SSE, each as its resolver saw its context, and that context once the event is out. */
  const subscribe = async () => {
    const response = await yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { events { probe } }' }),
    });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const events: { seen: (typeof seen)[number]; keyAfter: unknown }[] = [];
    let text = '';
    while (events.length < 2) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += chunk.value;
      while (events.length < 2 && (text.match(/event: next/g) ?? []).length > events.length) {
        const event = seen.at(-1)!;
        events.push({ seen: event, keyAfter: event.context[contextCacheSymbol] });
        firstOut();
      }
    }
    await reader.cancel();
    return events;
  };
  return { query, subscribe, perRequest };
}

/** What scope-auth's per-request cache reads of its builder (the API's resolvers under `withAuth` fill that cache). */
type AuthTypes = PothosSchemaTypes.ExtendDefaultTypes<{ AuthScopes: { viewer: boolean } }>;
const authBuilder = { options: { scopeAuth: { authScopes: () => ({ viewer: true }) } } } as unknown as PothosSchemaTypes.SchemaBuilder<AuthTypes>;

describe('Pothos request caches end with their request', () => {
  it('a request keeps one cache while it runs, and its context has a fresh key once its result is out', async () => {
    const { query, perRequest } = probeServer([useFreshRequestCaches()]);
    const done = await query();
    expect(done.second).toBe(done.first);
    // Nothing reaches the key the cache entry was stored under: the next scavenge drops the entry.
    expect(done.context[contextCacheSymbol]).not.toBe(done.key);
    expect(perRequest(done.context)).not.toBe(done.first);
    const next = await query();
    expect(next.key).not.toBe(done.key);
  });

  it("scope-auth's entry is deleted once the result is out, not only left under the old key", async () => {
    const { query } = probeServer([useFreshRequestCaches()]);
    const done = await query();
    // Under the key the request ran with, the cache has no entry any more: a new one is made.
    // An entry left there kept the request's whole graph through scavenges (`{ me { id } }` promoted
    // 14.7 KB to the old generation, 7.6 KB once deleted).
    done.context[contextCacheSymbol] = done.key;
    expect(RequestCache.fromContext(done.context, authBuilder)).not.toBe(done.authCache);
  });

  it("each subscription event runs under a key of its own, renewed once the event is out", async () => {
    const { subscribe } = probeServer([useFreshRequestCaches()], freshCachesPerEvent);
    const [first, second] = await subscribe();
    expect(first!.seen.second).toBe(first!.seen.first);
    expect(second!.seen.key).not.toBe(first!.seen.key);
    expect(first!.keyAfter).not.toBe(first!.seen.key);
    // The second event did not reuse the key the first one left behind: that one had waited, and grown old.
    expect(second!.seen.key).not.toBe(first!.keyAfter);
    expect(second!.keyAfter).not.toBe(second!.seen.key);
  });

  it('without it, the finished context still reaches its cache entry (what kept every request alive until a major GC)', async () => {
    const { query, perRequest } = probeServer([]);
    const done = await query();
    expect(done.context[contextCacheSymbol]).toBe(done.key);
    expect(perRequest(done.context)).toBe(done.first);
  });
});
