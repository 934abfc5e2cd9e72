/**
 * `npm run bench:promotion -- [--sockets 2000] [--rate 50] [--seconds 30] [--warmup 300] [--no-subscribers] [--no-redis] [--query '{ me { id } }']`
 *
 * What fills one API instance's old generation: the built server (`node dist/server.js`, with
 * `--trace-gc-nvp`) with `--sockets` subscribed `OnEvents` sockets (held by a client process of
 * its own, as in bench:fanout), then `sendMessage` over HTTP at `--rate` for `--seconds`, each to
 * the next socket's conversation. Prints the bytes its scavenges promoted to the old generation
 * and copied within the young one, per second and per message, and the collections in the measured.
 * With `--no-subscribers` no socket connects: what the send path alone leaves. With `--no-redis`
 * the server runs without Redis (the in-process bus and presence). With `--query`, the salon posts
 * that document (no variables) instead of `sendMessage`: what a read promotes. It also prints the
 * server's CPU over the window per message (every thread's, idle work included: the heartbeat, the
 * timers) and the answers' p50 and p99 from the request's start, which move with the rate on a
 * shared machine (see "A tenth session" in bench/results/fanout-history.md). Extra node flags for
 * the server: BENCH_NODE_FLAGS.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { migrateDatabase } from '../src/db/migrations.js';
import {
  connectSubscribers,
  createDatabase,
  describeCommit,
  describeMachine,
  graphqlPost,
  killProcesses,
  percentile,
  salonSubscribers,
  seedSalon,
  SEND_MESSAGE,
  sendAtRate,
  signToken,
  sleep,
  startApi,
  startClients,
  threadCpuSeconds,
} from './support.js';

const { values } = parseArgs({
  options: {
    sockets: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '30' },
    'no-subscribers': { type: 'boolean', default: false },
    'no-redis': { type: 'boolean', default: false },
    query: { type: 'string' },
    warmup: { type: 'string', default: '300' },
  },
});
const SOCKETS = Number(values.sockets);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const SUBSCRIBERS = !values['no-subscribers'];
/**
 * Sends before the window, one after the other: JIT, pools and caches warm up. 300 is enough for
 * what a message promotes; its CPU is still falling then (V8 compiling the send path: 3.27 and
 * 3.51 ms a send at 50 a second with no socket after 300, 2.32 and 2.71 after 3,000; see "A tenth
 * session").
 */
const WARMUP = Number(values.warmup);

const database = await createDatabase(migrateDatabase);
const salon = await seedSalon(database.url, SOCKETS);
const salonToken = await signToken(salon.salonId, 'salon');

const measured = { counting: false, promoted: 0, copied: 0, scavenges: 0, major: 0 };
/** One `--trace-gc-nvp` line: `pause=… gc=s … promoted=… new_space_survived=…`. */
function countCollection(line: string) {
  if (!measured.counting || !line.includes('pause=')) return;
  const fields = Object.fromEntries(line.split(' ').flatMap((part) => (part.includes('=') ? [part.split('=') as [string, string]] : [])));
  if (fields.gc !== 's') return void measured.major++;
  measured.scavenges++;
  measured.promoted += Number(fields.promoted ?? 0);
  measured.copied += Number(fields.new_space_survived ?? 0);
}

const nodeFlags = ['--trace-gc-nvp', ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)];
const { child, port } = await startApi({ databaseUrl: database.url, nodeFlags, onLine: countCollection, env: values['no-redis'] ? { REDIS_URL: '' } : {} });
const clients = startClients();
try {
  if (SUBSCRIBERS) await connectSubscribers(clients, port, await salonSubscribers(salon));
  const send = (n: number) =>
    values.query
      ? graphqlPost(port, salonToken, values.query, {})
      : graphqlPost(port, salonToken, SEND_MESSAGE, {
          input: { conversationId: salon.conversations[n % SOCKETS], content: `-1:${Date.now()}`, clientMessageId: randomUUID() },
        });
  for (let n = 0; n < WARMUP; n++) await send(n);
  await sleep(2000);

  measured.counting = true;
  const cpuBefore = threadCpuSeconds(child.pid);
  const { answers } = await sendAtRate(RATE, SECONDS, (k) => send(WARMUP + k));
  const cpu = threadCpuSeconds(child.pid) - cpuBefore;
  measured.counting = false;

  const messages = SECONDS * RATE;
  const mb = (bytes: number) => (bytes / 1e6).toFixed(2);
  console.log(`promotion: ${describeMachine()}, commit ${describeCommit()}, ${new Date().toISOString().slice(0, 16)} UTC`);
  console.log(
    `${SUBSCRIBERS ? SOCKETS.toLocaleString('en') : 'no'} subscribed sockets, ${values['no-redis'] ? 'no Redis, ' : ''}${RATE} ${values.query ? `'${values.query}'` : 'sends'}/s for ${SECONDS} s: ` +
      `promoted ${mb(measured.promoted / SECONDS)} MB/s (${(measured.promoted / messages / 1024).toFixed(1)} KB per ${values.query ? 'request' : 'message'}), ` +
      `copied ${mb(measured.copied / SECONDS)} MB/s; ${measured.scavenges} scavenges, ${measured.major} major collections`,
  );
  console.log(
    `server CPU ${((cpu * 1000) / messages).toFixed(2)} ms per ${values.query ? 'request' : 'message'} (${cpu.toFixed(2)} s over the window, idle work included); ` +
      `answers p50 ${percentile(answers, 50).toFixed(1)} ms, p99 ${percentile(answers, 99).toFixed(1)} ms`,
  );
} finally {
  clients.kill('SIGKILL');
  killProcesses();
  await database.drop();
}
process.exit(0);
