/**
 * A recording proxy for PostgreSQL's wire protocol: a server opened in front of the real one that
 * passes every byte through and reads, from what the clients send, each statement they run with
 * its parameters. The benches use it to learn which statements a request of the API (whichever
 * checkout) really runs — its Prisma pool and its job queue's pool alike — without changing the
 * API: to replay them as a floor (bench/send.ts) and to count them (the inbox).
 *
 * Only the frontend side is parsed (Query, Parse, Bind, Execute); the server's answers pass
 * through untouched. Plain TCP only (no TLS), which is what a local PostgreSQL with trust
 * auth is reached with.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface Execution {
  /** Which proxied connection ran it (a pool's connection), in order of connection. */
  connection: number;
  /** application_name of that connection ('' when not set): tells the pools apart. */
  application: string;
  /** Order of execution across all connections (as the proxy saw the requests). */
  order: number;
  /** The prepared statement's name ('' for the unnamed one, or a simple Query). */
  name: string;
  sql: string;
  /** Text-format parameters as strings; a binary one as a Buffer; SQL NULL as null. */
  params: (string | Buffer | null)[];
  /** True for a simple-protocol Query message (no parameters, possibly several statements). */
  simple: boolean;
  /** performance.now() in this process when the proxy read the request. */
  at: number;
}

export interface RecordingProxy {
  port: number;
  /** Starts keeping executions (from now on); `stop()` returns those kept since and stops. */
  record(): void;
  /**
   * Holds every answer of the server this long before passing it on (0: none). With answers late
   * by D, a statement the client waited for cannot have started less than D before the client's
   * own answer: that tells the statements a request waits for from those it only starts.
   */
  delay(ms: number): void;
  stop(): Execution[];
  close(): Promise<void>;
}

const PROTOCOL_3 = 196608;

/** One client connection's frontend stream, read message by message as chunks arrive. */
class FrontendReader {
  private buffer: Buffer = Buffer.alloc(0);
  private startup = true;
  application = '';
  /** Prepared statements of this connection, by name ('' the unnamed one). */
  private statements = new Map<string, string>();
  /** Bound portals: statement name and parameters, by portal name. */
  private portals = new Map<string, { name: string; params: (string | Buffer | null)[] }>();

  constructor(private readonly onExecute: (name: string, sql: string, params: (string | Buffer | null)[], simple: boolean) => void) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.startup) {
        if (this.buffer.length < 8) return;
        const length = this.buffer.readInt32BE(0);
        if (this.buffer.length < length) return;
        const code = this.buffer.readInt32BE(4);
        if (code === PROTOCOL_3) {
          // key\0value\0 … \0: application_name tells the Prisma pool from the job queue's.
          const fields = this.buffer.subarray(8, length - 1).toString('utf8').split('\0');
          for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'application_name') this.application = fields[i + 1] ?? '';
          this.startup = false;
        }
        // SSLRequest / GSSENCRequest: the server answers 'N' and the real startup follows.
        this.buffer = this.buffer.subarray(length);
        continue;
      }
      if (this.buffer.length < 5) return;
      const type = String.fromCharCode(this.buffer[0]!);
      const length = this.buffer.readInt32BE(1);
      if (this.buffer.length < 1 + length) return;
      this.message(type, this.buffer.subarray(5, 1 + length));
      this.buffer = this.buffer.subarray(1 + length);
    }
  }

  private message(type: string, body: Buffer): void {
    let at = 0;
    const cstring = () => {
      const end = body.indexOf(0, at);
      const value = body.subarray(at, end).toString('utf8');
      at = end + 1;
      return value;
    };
    const int16 = () => {
      const value = body.readInt16BE(at);
      at += 2;
      return value;
    };
    const int32 = () => {
      const value = body.readInt32BE(at);
      at += 4;
      return value;
    };
    switch (type) {
      case 'Q':
        this.onExecute('', cstring(), [], true);
        return;
      case 'P': {
        const name = cstring();
        this.statements.set(name, cstring());
        return;
      }
      case 'B': {
        const portal = cstring();
        const name = cstring();
        const formats = Array.from({ length: int16() }, int16);
        const params = Array.from({ length: int16() }, (_, i) => {
          const size = int32();
          if (size < 0) return null;
          const bytes = body.subarray(at, at + size);
          at += size;
          // One format code applies to all; none means text.
          const format = formats.length === 1 ? formats[0] : (formats[i] ?? 0);
          return format === 1 ? Buffer.from(bytes) : bytes.toString('utf8');
        });
        this.portals.set(portal, { name, params });
        return;
      }
      case 'E': {
        const bound = this.portals.get(cstring());
        if (bound) this.onExecute(bound.name, this.statements.get(bound.name) ?? '', bound.params, false);
        return;
      }
      case 'C': {
        // Close of a statement ('S') or a portal ('P').
        const kind = String.fromCharCode(body[0]!);
        at = 1;
        if (kind === 'S') this.statements.delete(cstring());
        return;
      }
      default:
    }
  }
}

/** Listens on a free loopback port and forwards to `target` (host:port). */
export async function startRecordingProxy(target: { host: string; port: number }): Promise<RecordingProxy> {
  let recording = false;
  let kept: Execution[] = [];
  let connections = 0;
  let order = 0;
  let delayMs = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const connection = ++connections;
    const upstream = createConnection(target);
    sockets.add(client).add(upstream);
    const reader = new FrontendReader((name, sql, params, simple) => {
      order++;
      if (recording) kept.push({ connection, application: reader.application, order, name, sql, params, simple, at: performance.now() });
    });
    client.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      upstream.write(chunk);
    });
    // Equal delays keep the order: timers of one duration fire in the order they were set.
    upstream.on('data', (chunk: Buffer) => (delayMs > 0 ? setTimeout(() => client.write(chunk), delayMs) : client.write(chunk)));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy did not bind');
  return {
    port: address.port,
    record() {
      kept = [];
      recording = true;
    },
    delay(ms) {
      delayMs = ms;
    },
    stop() {
      recording = false;
      return kept;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
