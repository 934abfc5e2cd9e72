/**
 * GraphQL runs on graphql-js' own `execute` and `subscribe` rather than graphql-tools' executor,
 * yoga's default: a message promotes 8.8–9.7 KB to the old generation instead of 14.0–14.1
 * (`npm run bench:promotion -- --sockets 5000`) and a subscribed socket holds 21.2–21.3 KB of heap
 * instead of 23.8 (`npm run bench:fanout -- --sockets 10000 --no-floor`, two runs each). What it
 * gives up, @defer/@stream and execution cancellation, we do not use.
 *
 * One thing the executor did is kept, since yoga's HTTP layer relies on it: a request refused
 * before anything executes (variables the operation cannot take, no operation to run) is marked
 * HTTP 400, so that it is answered as a bad request, as GraphQL over HTTP requires, not with 200.
 */
import { isAsyncIterable, useEngine } from '@envelop/core';
import { execute, subscribe, type ExecutionArgs, type ExecutionResult, type GraphQLError } from 'graphql';

/**
 * A result without `data` whose errors have no path is one graphql-js gave before executing:
 * a resolver's error always has a path (a subscription's too, whose result has no `data` either).
 */
function markRefusedRequest(result: ExecutionResult): ExecutionResult {
  if ('data' in result || !result.errors?.length || result.errors.some((error) => error.path !== undefined)) return result;
  for (const error of result.errors) {
    const http = (error.extensions.http ?? {}) as Record<string, unknown>;
    (error as { extensions: GraphQLError['extensions'] }).extensions = { ...error.extensions, http: { ...http, status: 400 } };
  }
  return result;
}

export function useGraphqlJsEngine() {
  return useEngine({
    // graphql-js refuses a request synchronously; what it executes it may answer with a promise.
    execute: (args: ExecutionArgs) => {
      const result = execute(args);
      return result instanceof Promise ? result : markRefusedRequest(result);
    },
    subscribe: async (args: ExecutionArgs) => {
      const result = await subscribe(args);
      return isAsyncIterable(result) ? result : markRefusedRequest(result);
    },
  });
}
