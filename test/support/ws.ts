import { expect } from 'vitest';
import type { Socket } from 'node:net';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client, type ExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';

export interface Subscription<T> {
  /** Every event received so far. */
  events: T[];
  /** Resolves once `count` events have arrived in total (rejects after `timeoutMs`, a hang guard sized for a busy machine). */
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

export function subscribe<T = Record<string, unknown>, V = Record<string, unknown>>(
  client: Client,
  query: string | TypedDocumentNode<T, V>,
  variables: V | Record<string, unknown> = {},
): Subscription<T> {
  const events: T[] = [];
  const errors: unknown[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  const dispose = client.subscribe<T>(
    { query: typeof query === 'string' ? query : print(query), variables: variables as Record<string, unknown> },
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
    waitFor(count, timeoutMs = 15_000) {
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

/** A `ws` WebSocket that keeps its TCP socket, so a test can cut it as a network would. */
export class TrackedWebSocket extends WebSocket {
  tcp?: Socket;
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    this.once('upgrade', (response) => (this.tcp = response.socket));
  }
}

/** A graphql-ws client as an app tab holds it, connected, with the socket under it. */
export async function connectTab(url: string, connectionParams: Record<string, unknown>): Promise<{ client: Client; socket: TrackedWebSocket }> {
  let socket: TrackedWebSocket | undefined;
  const client = createClient({
    url,
    webSocketImpl: TrackedWebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {},
  });
  await new Promise<void>((resolve, reject) => {
    client.on('connected', (connected) => {
      socket = connected as TrackedWebSocket;
      resolve();
    });
    client.on('closed', (event) => reject(new Error(`closed before connecting: ${JSON.stringify(event)}`)));
  });
  return { client, socket: socket! };
}

/** A value of the server's Prometheus text at /metrics (`name` without labels). */
export async function metric(graphqlUrl: string, name: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', graphqlUrl))).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

export interface RawMessage {
  type: string;
  id?: string;
  payload?: unknown;
}

/**
 * A graphql-transport-ws socket driven by hand, for what a library client never does: stay
 * silent to pings, close without `complete`, send oversized frames.
 */
export async function rawSocket(
  url: string,
  connectionParams: Record<string, unknown>,
  options: WebSocket.ClientOptions = {},
): Promise<{ socket: WebSocket; messages: RawMessage[]; subscribe(id: string, query: string, variables?: Record<string, unknown>): void; closed: Promise<number> }> {
  const socket = new WebSocket(url, 'graphql-transport-ws', options);
  const messages: RawMessage[] = [];
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as RawMessage;
      messages.push(message);
      if (message.type === 'connection_ack') resolve();
    });
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: connectionParams })));
    socket.once('error', reject);
    void closed.then((code) => reject(new Error(`closed (${code}) before connection_ack`)));
  });
  return {
    socket,
    messages,
    closed,
    subscribe: (id, query, variables = {}) => socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } })),
  };
}

/** Event-bus topic subscriptions live on an instance (`salon_live_topic_subscriptions`). */
export const liveTopics = (app: { url(): string }) => metric(app.url(), 'salon_live_topic_subscriptions');

/**
 * Waits until `count` more topic subscriptions than `before` (read before subscribing) are live on
 * the instance: the subscriptions just opened can now receive. A subscription's resolver only
 * subscribes its topic once graphql-ws starts reading it, so nothing the client sees says when.
 */
export async function untilLive(app: { url(): string }, before: number, count: number): Promise<void> {
  await expect.poll(() => liveTopics(app)).toBeGreaterThanOrEqual(before + count);
}
