import { createClient, type Client, type ExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';

export interface Subscription<T> {
  /** Every event received so far. */
  events: T[];
  /** Resolves once `count` events have arrived in total (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<T[]>;
  errors: unknown[];
  dispose(): void;
}

export function wsClient(url: string, connectionParams: Record<string, unknown> | (() => Record<string, unknown>), options: { retryAttempts?: number } = {}): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: options.retryAttempts ?? 0,
    lazy: false,
    onNonLazyError: () => {},
  });
}

export function subscribe<T = Record<string, unknown>>(client: Client, query: string, variables: Record<string, unknown> = {}): Subscription<T> {
  const events: T[] = [];
  const errors: unknown[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  const dispose = client.subscribe<T>(
    { query, variables },
    {
      next: (result: ExecutionResult<T>) => {
        if (result.errors) errors.push(...result.errors);
        if (result.data) events.push(result.data);
        notify();
      },
      error: (error) => {
        errors.push(error);
        notify();
      },
      complete: () => notify(),
    },
  );
  return {
    events,
    errors,
    dispose,
    waitFor(count, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (events.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(events);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`waited ${timeoutMs} ms for ${count} events, got ${events.length}: ${JSON.stringify(errors)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

/** The close event of a socket that the server is expected to refuse or end. */
export function closeOf(url: string, connectionParams?: Record<string, unknown>, sendInit = true): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, 'graphql-transport-ws');
    socket.on('open', () => {
      if (sendInit) socket.send(JSON.stringify({ type: 'connection_init', payload: connectionParams }));
    });
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
