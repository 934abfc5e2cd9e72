import type { AddressInfo } from 'node:net';
import { buildSchema } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { serveGraphqlWs } from '../src/ws-transport.js';

/**
 * The heartbeat of src/ws-transport.ts pings each socket once per interval, a slot of the sockets
 * at each tick, so that thousands of sockets are not pinged in one event-loop turn (bench:fanout
 * found the sends and deliveries that waited behind such a turn among its slowest).
 */
const INTERVAL_MS = 1000;
const SOCKETS = 40;

const schema = buildSchema('type Query { ok: Boolean }');
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function heartbeatServer(): Promise<string> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  // No connection_init from these sockets: they only answer pings.
  const served = serveGraphqlWs({ schema, connectionInitWaitTimeout: 60_000 }, wss, INTERVAL_MS);
  cleanups.push(() => {
    served.stop();
    for (const client of wss.clients) client.terminate();
    return new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
}

function connect(url: string, options: { autoPong?: boolean } = {}): Promise<{ socket: WebSocket; pings: number[]; closed: Promise<void> }> {
  const socket = new WebSocket(url, 'graphql-transport-ws', options);
  const pings: number[] = [];
  socket.on('ping', () => pings.push(performance.now()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  cleanups.push(() => socket.terminate());
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ socket, pings, closed }));
    socket.once('error', reject);
  });
}

describe('WebSocket heartbeat (src/ws-transport.ts)', () => {
  it('pings every socket once per interval, spread over the interval rather than all at once', async () => {
    const url = await heartbeatServer();
    const sockets = await Promise.all(Array.from({ length: SOCKETS }, () => connect(url)));
    // Two pings each: the second a whole interval after the first.
    await expect.poll(() => sockets.every(({ pings }) => pings.length >= 2), { timeout: 4 * INTERVAL_MS, interval: 50 }).toBe(true);
    const first = sockets.map(({ pings }) => pings[0]!);
    // One tick per slot of 100 ms: forty sockets fill ten slots, about 900 ms apart from the first
    // to the last; all in one turn, as each socket's own interval would have it when they connect
    // together, would be ~0.
    expect(Math.max(...first) - Math.min(...first)).toBeGreaterThan(INTERVAL_MS / 2);
    for (const { pings } of sockets) {
      expect(pings[1]! - pings[0]!).toBeGreaterThan(INTERVAL_MS / 2);
      expect(pings[1]! - pings[0]!).toBeLessThan(INTERVAL_MS * 2);
    }
  });

  it('drops a socket that has not answered its ping by the next one, and only that socket', async () => {
    const url = await heartbeatServer();
    const mute = await connect(url, { autoPong: false });
    const alive = await connect(url);
    await mute.closed;
    expect(mute.pings.length).toBeGreaterThanOrEqual(1);
    expect(alive.socket.readyState).toBe(WebSocket.OPEN);
    await expect.poll(() => alive.pings.length, { timeout: 3 * INTERVAL_MS }).toBeGreaterThanOrEqual(2);
    expect(alive.socket.readyState).toBe(WebSocket.OPEN);
  });
});
