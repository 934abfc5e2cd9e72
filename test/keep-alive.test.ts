import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';

/**
 * Kept-alive HTTP connections (HTTP_KEEP_ALIVE_TIMEOUT_MS). A load balancer or a partner's HTTP
 * client pools connections and sends the next request on one that has been idle; if the server
 * closes it first, a request sent as it closes fails (bench:fanout's sender lost two of its 11,000
 * sends to our servers so against Node's default of 5 s). Raw sockets, so that nothing between the test and the
 * server opens, reuses or closes connections on its own.
 */

const sockets: Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});

interface Connection {
  socket: Socket;
  /** Resolves when the server ends the connection. */
  ended: Promise<void>;
  /** Sends `{ __typename }` and resolves with the answer's status line and headers (lower-cased names) once its body is in. */
  post(): Promise<{ status: string; headers: Map<string, string> }>;
}

async function open(url: string): Promise<Connection> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const ended = new Promise<void>((resolve) => socket.once('end', resolve));
  let buffered = '';
  let waiting: (() => void) | undefined;
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    waiting?.();
  });
  return {
    socket,
    ended,
    async post() {
      const body = JSON.stringify({ query: '{ __typename }' });
      socket.write(`POST /graphql HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end >= 0) {
          const [status = '', ...lines] = buffered.slice(0, end).split('\r\n');
          const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
          const length = Number(headers.get('content-length'));
          if (buffered.length >= end + 4 + length) {
            buffered = buffered.slice(end + 4 + length);
            return { status, headers };
          }
        }
        await new Promise<void>((resolve) => (waiting = resolve));
      }
    },
  };
}

describe('kept-alive HTTP connections, by default', () => {
  const t = useTestApp();

  it('are advertised as kept 65 s between requests (Keep-Alive: timeout=65), longer than the 60 s after which load balancers retire theirs', async () => {
    const connection = await open(t.app.url());
    const first = await connection.post();
    expect(first.status).toBe('HTTP/1.1 200 OK');
    expect(first.headers.get('connection')).toBe('keep-alive');
    expect(first.headers.get('keep-alive')).toBe('timeout=65');
    // The same connection carries the next request.
    expect((await connection.post()).status).toBe('HTTP/1.1 200 OK');
  });
});

describe('kept-alive HTTP connections with HTTP_KEEP_ALIVE_TIMEOUT_MS', () => {
  const t = useTestApp({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000' });

  it('are closed by the server once idle that long, not before, and the answers say so', async () => {
    const connection = await open(t.app.url());
    // Before the request: the server's wait starts when its answer is out, later still.
    const requestedAt = performance.now();
    const answer = await connection.post();
    expect(answer.headers.get('keep-alive')).toBe('timeout=1');
    await connection.ended;
    // Node's timer may fire a little late, never early (a margin for the clocks' granularity).
    expect(performance.now() - requestedAt).toBeGreaterThan(900);
  });
});
