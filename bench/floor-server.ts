/**
 * The floors for bench/fanout.ts: a bare `ws` server that relays the same payloads through the
 * same Redis with no GraphQL, no auth, no database. Sockets say which conversation they follow
 * in the URL (?c=<id>); POST /send publishes { conversationId, message }.
 *
 * With FLOOR_DATABASE_URL, the durable floor: the same relay, but each message is first stored
 * by one INSERT in PostgreSQL (autocommit, the server's own commit settings) and published once
 * it has committed. The least a server that loses no message does before it delivers one.
 */
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';

const port = Number(process.env.PORT ?? 0);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const publisher = new Redis(redisUrl);
const subscriber = new Redis(redisUrl);
const followers = new Map<string, Set<WebSocket>>();
const databaseUrl = process.env.FLOOR_DATABASE_URL;
// The API instances' pool size, which bench/fanout.ts passes to both.
const pool = databaseUrl ? new pg.Pool({ connectionString: databaseUrl, max: Number(process.env.DATABASE_POOL_SIZE ?? 20) }) : null;

/**
 * The durable floor's one statement per message (createFloorTable in bench/support.ts creates
 * its table); resolves to whether the message is new. A message id already stored is a request
 * sent twice (postJson in bench/support.ts), not a second message: it is neither stored nor
 * published again.
 */
async function store(conversationId: string, message: { id: string; seq: number; content: string }): Promise<boolean> {
  if (!pool) return true;
  const { rowCount } = await pool.query({
    name: 'floor-store',
    text: 'INSERT INTO floor_message (id, conversation_id, seq, content) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING',
    values: [message.id, conversationId, message.seq, message.content],
  });
  return rowCount === 1;
}

subscriber.on('message', (channel: string, payload: string) => {
  for (const socket of followers.get(channel) ?? []) socket.send(payload);
});

const server = createServer((request, response) => {
  if (request.method !== 'POST') return void response.writeHead(404).end();
  let body = '';
  request.on('data', (chunk: Buffer) => (body += chunk.toString()));
  request.on('end', () => {
    const { conversationId, message } = JSON.parse(body) as { conversationId: string; message: { id: string; seq: number; content: string } };
    store(conversationId, message)
      .then((stored) => (stored ? publisher.publish(`floor:${conversationId}`, JSON.stringify({ data: { messageAdded: message } })) : 0))
      .then(
        () => response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
  });
});

const wss = new WebSocketServer({ server });
wss.on('connection', (socket, request) => {
  const channel = `floor:${new URL(request.url ?? '/', 'http://x').searchParams.get('c')}`;
  let set = followers.get(channel);
  if (!set) {
    set = new Set();
    followers.set(channel, set);
    void subscriber.subscribe(channel);
  }
  set.add(socket);
  socket.on('close', () => set.delete(socket));
  socket.send('ready');
});

// As the API does (src/server.ts): a full collection first under --expose-gc, then what is held.
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  console.log(JSON.stringify({ msg: 'memory report', memory: process.memoryUsage() }));
});

// The same accept queue as the API's (src/app.ts).
server.listen({ port, backlog: 4096 }, () => {
  const address = server.address();
  console.log(JSON.stringify({ port: typeof address === 'object' && address ? address.port : port }));
});
