/**
 * Partner webhooks where several processes share the work: an endpoint created on one instance
 * is fanned out by a commit on the other at once; two API instances on one database deliver each
 * event once, both taking part; a process SIGKILLed in the middle of an attempt costs a retry (same
 * `webhook-id`), never the event; a partner that hangs does not hold up another partner; and the
 * README's receiver (examples/webhook-receiver.mjs) works as written against a real delivery.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateWebhookEndpointDocument,
  MeDocument,
  SendMessageDocument,
  WebhookDeliveriesDocument,
  type WebhookDeliveryStatus,
  type WebhookDeliveriesQuery,
} from '../operations/generated/graphql.js';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { freePort } from '../src/ports.js';
import { endpointInFlightLimit } from '../src/webhooks/deliver.js';
import { signToken, TEST_SECRET, useTestApp, type TestContext, type TestUser } from './support/app.js';
import { createTestDatabase, sql } from './support/database.js';
import { openConversation } from './support/fixtures.js';
import { REDIS_URL } from './support/redis.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from './support/webhook-receiver.js';

type Delivery = WebhookDeliveriesQuery['webhookDeliveries']['edges'][number]['node'];

/** Where a GraphQL operation goes: an in-process instance of this file, or a spawned server's URL. */
type Target = { t: TestContext; instance: number } | { url: string };

async function run<R, V extends Record<string, unknown>>(target: Target, document: TypedDocumentNode<R, V>, variables: V, token: string): Promise<R> {
  const url = 'url' in target ? target.url : target.t.apps[target.instance]!.url();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data?: R | null; errors?: unknown[] };
  if (!body.data || body.errors) throw new Error(`${response.status} ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function createEndpoint(target: Target, salon: TestUser, url: string, eventTypes: string[]) {
  const { createWebhookEndpoint } = await run(target, CreateWebhookEndpointDocument, { input: { url, eventTypes } }, salon.token);
  return { id: createWebhookEndpoint.endpoint.id, secret: createWebhookEndpoint.secret };
}

async function sendMessage(target: Target, user: TestUser, conversationId: string, content: string): Promise<string> {
  const { sendMessage } = await run(target, SendMessageDocument, { input: { conversationId, content } }, user.token);
  return sendMessage.id;
}

/** One page of an endpoint's deliveries (at most 100, the API's page bound: enough for every test here). */
async function deliveries(target: Target, salon: TestUser, endpointId: string, status?: WebhookDeliveryStatus): Promise<Delivery[]> {
  const { webhookDeliveries } = await run(target, WebhookDeliveriesDocument, { endpointId, status, first: 100 }, salon.token);
  return webhookDeliveries.edges.map((edge) => edge.node);
}

/** `salon_webhook_attempts_total` of one instance, all results summed, as its /metrics shows it. */
async function attemptsCounted(app: App): Promise<number> {
  const text = await (await fetch(new URL('/metrics', app.url()))).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('salon_webhook_attempts_total{'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** A user of a server this file did not build (useTestApp's `user`, for a URL): a token, then `me` creates the row. */
async function userAt(url: string, role: 'SALON' | 'CLIENT'): Promise<TestUser> {
  const id = randomUUID();
  const email = `${role.toLowerCase()}-${id.slice(0, 8)}@example.test`;
  const token = await signToken({ sub: id, email, role: role.toLowerCase(), firstName: role, lastName: 'Test' });
  const { me } = await run({ url }, MeDocument, {}, token);
  if (me?.id !== id) throw new Error(`user creation failed at ${url}`);
  return { id, email, role, token };
}

async function openConversationAt(url: string, salon: TestUser, client: TestUser): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${salon.token}` },
    body: JSON.stringify({
      query: 'mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }',
      variables: { input: { clientUserId: client.id, subject: 'Rendez-vous' } },
    }),
  });
  const body = (await response.json()) as { data?: { createConversation: { id: string } } };
  if (!body.data) throw new Error(`createConversation failed at ${url}: ${JSON.stringify(body)}`);
  return body.data.createConversation.id;
}

const messageIdOf = (request: ReceivedWebhook) => request.body?.data.id as string | undefined;

interface Spawned {
  child: ChildProcess;
  /** Every line of its stdout and stderr, in arrival order. */
  lines: string[];
  /** Resolves with the first line (already printed or to come) that `match` accepts; rejects if the process exits first. */
  line(match: (line: string) => boolean, what: string): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const spawned = new Set<Spawned>();

function start(args: string[], env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, args, { cwd: process.cwd(), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (text) => {
      lines.push(text);
      for (const waiter of waiters) waiter();
    });
  }
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const line = (match: (text: string) => boolean, what: string) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.find(match);
        if (found === undefined) return;
        waiters.delete(check);
        resolve(found);
      };
      waiters.add(check);
      void exit.then(({ code, signal }) => {
        check();
        if (waiters.delete(check)) reject(new Error(`exited (${code ?? signal}) before ${what}:\n${lines.join('\n')}`));
      });
      check();
    });
  const handle = { child, lines, line, exit };
  spawned.add(handle);
  void exit.then(() => spawned.delete(handle));
  return handle;
}

/** The real API process as deployed (dist/, built for the run by test/support/global-setup.ts); resolves once it listens. */
async function startServer(env: Record<string, string>): Promise<Spawned & { url: string }> {
  const server = start(['dist/server.js'], {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    PORT: '0',
    JWT_SECRET: TEST_SECRET,
    ...env,
  });
  const ready = await server.line((text) => text.includes('GraphQL API ready'), 'being ready');
  const { port } = JSON.parse(ready) as { port: number };
  return { ...server, url: `http://127.0.0.1:${port}/graphql` };
}

/**
 * The crash scenario's own database, and the server that will be killed on it, started now: it
 * boots while the other tests run. No process of this file uses that database before the kill,
 * so the spawned server's workers are the only ones that can take the delivery.
 */
const CRASH_TIMEOUT_MS = '1000';
let crashDatabase: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
let crashServer: Promise<Spawned & { url: string }>;
let replacement: App | undefined;

beforeAll(async () => {
  crashDatabase = await createTestDatabase();
  crashServer = startServer({
    DATABASE_URL: crashDatabase.url,
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_CONCURRENCY: '16',
    JOB_POLL_MS: '500',
    WEBHOOK_TIMEOUT_MS: CRASH_TIMEOUT_MS,
  });
  // Awaited by its test; a failed start must not be an unhandled rejection before then.
  crashServer.catch(() => {});
});

afterAll(async () => {
  await replacement?.stop();
  // Processes still running after a failed test: SIGKILL, nothing of theirs is asserted any more.
  await Promise.all(
    [...spawned].map(async (running) => {
      running.child.kill('SIGKILL');
      await running.exit;
    }),
  );
  await crashDatabase?.drop();
});

describe('two API instances on one database and Redis', () => {
  const t = useTestApp(
    {
      REDIS_URL,
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_CONCURRENCY: '16',
      JOB_POLL_MS: '500',
      // Short: on a busy machine an attempt may run over a second, which marks its endpoint slow,
      // and a burst's waiting deliveries then back off about a lease (WEBHOOK_TIMEOUT_MS + 2 s).
      WEBHOOK_TIMEOUT_MS: '3000',
      // Out of the way: what these tests deliver comes from the commits' own fan-outs.
      WEBHOOK_SWEEP_MS: '600000',
    },
    { instances: 2 },
  );
  let partner: WebhookReceiver | undefined;
  afterAll(async () => {
    await partner?.close();
  });

  it('an endpoint created on one instance gets its first attempt for an event committed on the other at once, not at the next sweep', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const receiver = await startWebhookReceiver();
    try {
      const endpoint = await createEndpoint({ t, instance: 0 }, salon, receiver.url(), ['message.created']);
      receiver.secrets.add(endpoint.secret);
      const sent = await sendMessage({ t, instance: 1 }, client, conversationId, 'Bonjour');
      // The sweep is ten minutes away: only instance 1's own fan-out, which needs to know that
      // the salon has an endpoint, can make this delivery.
      await expect.poll(() => receiver.requests.map(messageIdOf), { timeout: 20_000 }).toEqual([sent]);
      expect(receiver.requests[0]!.verified).toBe(true);
    } finally {
      await receiver.close();
    }
  });

  it('100 messages sent through both instances at once reach the partner once each, signed, and both instances deliver', async () => {
    const salon = await t.user('SALON');
    const clients = await Promise.all([1, 2, 3, 4, 5].map((n) => t.user('CLIENT', `Client${n}`)));
    const conversations = await Promise.all(clients.map((client) => openConversation(t, salon, client)));
    partner = await startWebhookReceiver();
    // Attempts this file's other tests made on these instances.
    const countedBefore = await Promise.all(t.apps.map(attemptsCounted));
    const endpoint = await createEndpoint({ t, instance: 0 }, salon, partner.url(), ['message.created']);
    partner.secrets.add(endpoint.secret);

    // Alternately through each instance, ten at a time: both fan out and both enqueue.
    const sent: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const ids = await Promise.all(
        Array.from({ length: 10 }, (_, k) => {
          const n = batch * 10 + k;
          const c = n % clients.length;
          return sendMessage({ t, instance: n % 2 }, clients[c]!, conversations[c]!, `Message ${n}`);
        }),
      );
      sent.push(...ids);
    }

    // Every delivery finished: an attempt is recorded after its answer, so every request ever
    // made for these deliveries has reached the receiver by now, duplicates included.
    await expect
      .poll(async () => (await deliveries({ t, instance: 1 }, salon, endpoint.id, 'SUCCEEDED')).length, { timeout: 45_000 })
      .toBe(100);
    const delivered = await deliveries({ t, instance: 0 }, salon, endpoint.id);
    expect(delivered.every((d) => d.status === 'SUCCEEDED' && d.attemptCount === 1)).toBe(true);

    const requests = partner.requests;
    expect(requests).toHaveLength(100);
    expect(requests.filter((r) => !r.verified)).toEqual([]);
    expect(new Set(requests.map((r) => r.body?.type))).toEqual(new Set(['message.created']));
    expect(new Set(requests.map((r) => r.webhookId))).toEqual(new Set(delivered.map((d) => d.id)));
    expect(new Set(requests.map(messageIdOf))).toEqual(new Set(sent));

    // Each instance's workers made some of the attempts (its own /metrics).
    const counted = (await Promise.all(t.apps.map(attemptsCounted))).map((n, i) => n - countedBefore[i]!);
    expect(counted.every((n) => n > 0), `attempts per instance: ${counted.join(', ')}`).toBe(true);
    expect(counted.reduce((a, b) => a + b, 0)).toBe(100);
  });

  it("the README's receiver (examples/webhook-receiver.mjs) verifies a real delivery, answers 204 and prints its type; a forged request gets 400", async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const port = await freePort();
    const endpoint = await createEndpoint({ t, instance: 0 }, salon, `http://127.0.0.1:${port}/webhooks`, ['message.created']);
    // As the README runs it: the secret createWebhookEndpoint returned, and a port.
    const example = start(['examples/webhook-receiver.mjs'], { WEBHOOK_SECRET: endpoint.secret, PORT: String(port) });
    const post = (headers: Record<string, string>, body: string) =>
      fetch(`http://127.0.0.1:${port}/webhooks`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }).then(
        (response) => response.status,
        () => 0,
      );
    // Listening once an unsigned request is refused (0: not listening yet).
    await expect.poll(() => post({}, '{}')).toBe(400);

    const first = await sendMessage({ t, instance: 1 }, salon, conversationId, 'Votre rendez-vous est confirmé');
    await example.line((text) => text.startsWith('message.created'), 'printing the delivery');
    await expect.poll(async () => (await deliveries({ t, instance: 0 }, salon, endpoint.id))[0]?.status).toBe('SUCCEEDED');
    const [delivery] = await deliveries({ t, instance: 0 }, salon, endpoint.id);
    expect(delivery!.attempts).toMatchObject([{ responseStatus: 204, error: null }]);

    // Forged: signed with a secret that is not the endpoint's; tampered: the real signature over another body.
    const now = new Date();
    const timestamp = String(Math.floor(now.getTime() / 1000));
    const forger = new Webhook(`whsec_${Buffer.from('not-the-endpoint-secret-24b').toString('base64')}`);
    const forged = await post(
      { 'webhook-id': delivery!.id, 'webhook-timestamp': timestamp, 'webhook-signature': forger.sign(delivery!.id, now, delivery!.payload) },
      delivery!.payload,
    );
    expect(forged).toBe(400);
    const genuine = new Webhook(endpoint.secret).sign(delivery!.id, now, delivery!.payload);
    const tampered = await post(
      { 'webhook-id': delivery!.id, 'webhook-timestamp': timestamp, 'webhook-signature': genuine },
      delivery!.payload.replace('Votre rendez-vous est confirmé', 'Votre rendez-vous est annulé'),
    );
    expect(tampered).toBe(400);

    // The receiver handles requests in order: once the next delivery is printed, anything the
    // forgeries printed would be there before it.
    const second = await sendMessage({ t, instance: 0 }, salon, conversationId, 'À demain');
    await example.line((text) => text.includes(second), 'printing the second delivery');
    expect(example.lines).toEqual([`message.created ${first}`, `message.created ${second}`]);

    example.child.kill('SIGTERM');
    await example.exit;
  });
});

describe('a partner that hangs beside a healthy one', () => {
  // Far longer than this test takes: every attempt at the hanging partner is still open when the
  // healthy one has everything, so "not held up" needs no clock.
  const t = useTestApp({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_CONCURRENCY: '16', JOB_POLL_MS: '500', WEBHOOK_TIMEOUT_MS: '30000' });
  let hanging: WebhookReceiver | undefined;
  let healthy: WebhookReceiver | undefined;
  // Registered after useTestApp's, so it runs before the instance stops: the hung requests are
  // dropped here, and the instance does not wait for them to time out.
  afterAll(async () => {
    await Promise.all([hanging?.close(), healthy?.close()]);
  });

  it('a burst of 20: B receives them all while every attempt at A is still hanging, and A holds no more than its in-flight bound', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    hanging = await startWebhookReceiver();
    healthy = await startWebhookReceiver();
    hanging.hang();
    const a = await createEndpoint({ t, instance: 0 }, salon, hanging.url(), ['message.created']);
    const b = await createEndpoint({ t, instance: 0 }, salon, healthy.url(), ['message.created']);
    hanging.secrets.add(a.secret);
    healthy.secrets.add(b.secret);

    // A burst, as a busy salon makes one: A's 20 attempts are due at once, before anything marks
    // A as slow. Without a bound that holds from its first attempt, they take every worker
    // (WEBHOOK_CONCURRENCY) for WEBHOOK_TIMEOUT_MS and B stops receiving; the wait below gives up
    // long before that timeout.
    const sent = await Promise.all(
      Array.from({ length: 20 }, (_, n) => sendMessage({ t, instance: 0 }, client, conversationId, `Message ${n}`)),
    );
    const toB = await healthy.waitUntil((all) => new Set(all.map(messageIdOf)).size === 20, { description: '20 distinct messages at B' });
    expect(toB).toHaveLength(20);
    expect(toB.every((r) => r.verified && r.answeredWith === 200)).toBe(true);
    expect(new Set(toB.map(messageIdOf))).toEqual(new Set(sent));

    // At this moment none of A's attempts has ended (each hangs until WEBHOOK_TIMEOUT_MS): all 20
    // of its deliveries are PENDING with nothing recorded, and every request its partner has
    // received is still open, so their number is the most A ever held at once: its bound.
    const pendingAtA = await deliveries({ t, instance: 0 }, salon, a.id, 'PENDING');
    expect(pendingAtA).toHaveLength(20);
    expect(pendingAtA.flatMap((d) => d.attempts)).toEqual([]);
    const bound = endpointInFlightLimit(t.config.webhooks);
    await hanging.waitFor(1, { description: 'an attempt at A' });
    expect(hanging.requests.length).toBeLessThanOrEqual(bound);
    expect(hanging.requests.every((r) => r.answeredWith === null && r.verified)).toBe(true);

    await expect.poll(async () => (await deliveries({ t, instance: 0 }, salon, b.id, 'SUCCEEDED')).length).toBe(20);
  });
});

describe('a crash in the middle of an attempt', () => {
  let partner: WebhookReceiver | undefined;
  afterAll(async () => {
    await partner?.close();
  });

  it('a server SIGKILLed while the partner holds its request: the delivery is made again with the same webhook-id and ends SUCCEEDED', async () => {
    partner = await startWebhookReceiver();
    const server = await crashServer;
    const target = { url: server.url };
    const salon = await userAt(server.url, 'SALON');
    const client = await userAt(server.url, 'CLIENT');
    const conversationId = await openConversationAt(server.url, salon, client);
    const endpoint = await createEndpoint(target, salon, partner.url(), ['message.created']);
    partner.secrets.add(endpoint.secret);
    partner.hang();

    const messageId = await sendMessage(target, client, conversationId, 'Je serai là à 15 h');
    const [held] = await partner.waitFor(1, { description: "the spawned server's attempt" });
    expect(held!.verified).toBe(true);
    server.child.kill('SIGKILL');
    expect(await server.exit).toEqual({ code: null, signal: 'SIGKILL' });

    // The killed attempt got no answer, and an attempt is recorded once it has one: nothing of it
    // is in the history, and the delivery still waits for its first attempt (read directly: no
    // instance runs on this database now).
    const rows = await sql<{ status: string; attemptCount: number; attempts: string }>(
      crashDatabase!.url,
      `SELECT d."status", d."attemptCount", (SELECT count(*) FROM "WebhookAttempt" a WHERE a."deliveryId" = d."id")::text AS "attempts"
         FROM "WebhookDelivery" d WHERE d."id" = $1`,
      [held!.webhookId],
    );
    expect(rows).toEqual([{ status: 'PENDING', attemptCount: 0, attempts: '0' }]);

    // The partner is back, and an instance with workers comes up (the killed one restarted, or
    // another node): the job the dead process held expires and is retried.
    partner.respond(200);
    const config = loadConfig({
      NODE_ENV: 'test',
      JWT_SECRET: TEST_SECRET,
      DATABASE_URL: crashDatabase!.url,
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_CONCURRENCY: '16',
      JOB_POLL_MS: '500',
      WEBHOOK_TIMEOUT_MS: CRASH_TIMEOUT_MS,
    });
    replacement = buildApp({ ...config, databaseUrl: crashDatabase!.url });
    await replacement.start(0);

    const [, again] = await partner.waitFor(2, { timeoutMs: 30_000, description: 'the retry of the killed attempt' });
    expect(again).toMatchObject({ webhookId: held!.webhookId, verified: true, answeredWith: 200, raw: held!.raw });
    expect(messageIdOf(again!)).toBe(messageId);

    const survivor = { url: replacement.url() };
    await expect.poll(async () => (await deliveries(survivor, salon, endpoint.id))[0]?.status).toBe('SUCCEEDED');
    const [done] = await deliveries(survivor, salon, endpoint.id);
    // One attempt in the history, the answered one: the killed one never had a result to record.
    expect(done).toMatchObject({ id: held!.webhookId, attemptCount: 1, attempts: [{ responseStatus: 200, error: null }] });
    expect(partner.requests).toHaveLength(2);
  });
});
