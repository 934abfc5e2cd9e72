import { initContextCache } from '@pothos/core';
import { RequestCache } from '@pothos/plugin-scope-auth';
import { defaultFieldResolver, type GraphQLSchema } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/**
 * Pothos keys its per-request caches (scope-auth's, the Prisma plugin's plans, selection mappings)
 * by `context[contextCacheSymbol]`, in long-lived WeakMaps, and what it caches holds the context,
 * and so the key. V8's scavenger keeps every value of an old WeakMap alive while its key is, and
 * drops the entries of young keys only: a value that holds its own key is never freed by a
 * scavenge, and an entry under an old key is not looked at before a major collection. Either way
 * the request's whole graph (context, request, rows) was promoted to the old generation, where
 * only a major collection frees it.
 *
 * So a context's caches live under a key of its own that is young while they are used and
 * unreachable once they are done: a fresh key when an execution is done (the next scavenge drops
 * the old key's entries, the one after frees what they held), and, since a subscription waits long
 * enough between events for its key to grow old, a fresh key as each event starts and another
 * when its result is out.
 */
export const freshRequestCaches = (context: unknown) => {
  // A fresh key was not enough for scope-auth's entry, which every field under `withAuth` makes:
  // left under the old key, it still kept the request's graph through scavenges (one instance, no
  // subscriber, 50 requests a second: `sendMessage` promoted 11.3 KB a request, 4.3 KB with the
  // entry deleted; a `withAuth` field that only waits 3 ms, 8.0 KB against 1.5 KB). Deleting it is
  // what scope-auth offers; the other Pothos caches are not reachable from here.
  RequestCache.clearForContext(context as object);
  Object.assign(context as object, initContextCache());
};

/** Renews the cache key of an operation's context (and deletes scope-auth's entry) when its result, or each event's, is complete. */
export function useFreshRequestCaches(): Plugin {
  return {
    onExecute: () => ({
      onExecuteDone: ({ args, result }) => {
        if (!isAsyncIterable(result)) return freshRequestCaches(args.contextValue);
        return { onEnd: () => freshRequestCaches(args.contextValue) };
      },
    }),
    onSubscribe: () => ({
      onSubscribeResult: ({ args, result }) => {
        // Started (or refused): what its subscribe step cached is done with.
        freshRequestCaches(args.contextValue);
        if (!isAsyncIterable(result)) return undefined;
        return { onNext: () => freshRequestCaches(args.contextValue) };
      },
    }),
  };
}

/**
 * A subscription event's execution starts with its root field's resolver: a fresh key there makes
 * the event's caches young (see above). Wraps the Subscription fields of `schema` in place.
 */
export function freshCachesPerEvent(schema: GraphQLSchema): GraphQLSchema {
  for (const field of Object.values(schema.getSubscriptionType()?.getFields() ?? {})) {
    const resolve = field.resolve ?? defaultFieldResolver;
    field.resolve = (payload, args, context, info) => {
      freshRequestCaches(context);
      return resolve(payload, args, context, info);
    };
  }
  return schema;
}
