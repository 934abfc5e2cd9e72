/**
 * Partner webhooks where the configuration or the moment matters: destinations refused when
 * private networks are not allowed (the default), at registration and at delivery; what
 * registration refuses; an endpoint disabled after failing for WEBHOOK_DISABLE_AFTER_S, then
 * re-enabled; a rotation with no overlap; an endpoint deleted while a retry is scheduled.
 *
 * The file's instance refuses private destinations and makes no attempts (WEBHOOK_WORKERS=false):
 * each test that needs attempts starts the one instance that makes them, on the same database,
 * with its own settings (refusing loopback for the SSRF check at delivery, allowing it to reach
 * the receiver). Between two such instances no attempt can start, which makes "nothing more is
 * sent" checkable without racing the retry schedule.
 */
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { describe, expect, it } from 'vitest';
import {
  CreateWebhookEndpointDocument,
  DeleteWebhookEndpointDocument,
  EventCursorDocument,
  EventsDocument,
  RotateWebhookSecretDocument,
  SendMessageDocument,
  UpdateWebhookEndpointDocument,
  WebhookDeliveriesDocument,
  WebhookEndpointsDocument,
  type WebhookDeliveriesQuery,
} from '../operations/generated/graphql.js';
import { buildApp, type App } from '../src/app.js';
import type { WebhookConfig } from '../src/config.js';
import { useTestApp, type GraphQLResponse, type TestUser } from './support/app.js';
import { openConversation } from './support/fixtures.js';
import { useWebhookReceivers } from './support/receivers.js';
import type { WebhookReceiver } from './support/webhook-receiver.js';

const t = useTestApp({
  JOB_POLL_MS: '500',
  WEBHOOK_TIMEOUT_MS: '1000',
  WEBHOOK_RETRY_SCHEDULE: '0,0.5,0.3,0.3',
  WEBHOOK_WORKERS: 'false',
});

type Delivery = WebhookDeliveriesQuery['webhookDeliveries']['edges'][number]['node'];

const receiver = useWebhookReceivers();

/** The instance making the attempts during `work` (loopback allowed unless `settings` say otherwise), stopped after it. */
async function withWorker<T>(settings: Partial<WebhookConfig>, work: (app: App) => Promise<T>): Promise<T> {
  const webhooks = { ...t.config.webhooks, allowPrivateNetworks: true, ...settings, workers: true };
  const app = buildApp({ ...t.config, databaseUrl: t.databaseUrl, webhooks });
  await app.start(0);
  try {
    return await work(app);
  } finally {
    await app.stop();
  }
}

/** An operation on `app` (the file's instance by default). */
async function run<R, V extends Record<string, unknown>>(document: TypedDocumentNode<R, V>, variables: V, token: string, app: App = t.app) {
  const response = await fetch(app.url(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: print(document), variables }),
  });
  return (await response.json()) as GraphQLResponse<R>;
}

async function ok<R, V extends Record<string, unknown>>(document: TypedDocumentNode<R, V>, variables: V, token: string, app: App = t.app): Promise<R> {
  const response = await run(document, variables, token, app);
  if (!response.data || response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data;
}

async function deliveries(salon: TestUser, endpointId: string, app?: App): Promise<Delivery[]> {
  const { webhookDeliveries } = await ok(WebhookDeliveriesDocument, { endpointId, first: 100 }, salon.token, app);
  return webhookDeliveries.edges.map((edge) => edge.node);
}

async function pair() {
  const salon = await t.user('SALON');
  const client = await t.user('CLIENT', 'Camille');
  return { salon, client, conversationId: await openConversation(t, salon, client) };
}

/** Sent through `app`: its commit wakes the fan-out of the instance that knows the endpoint. */
async function sendMessage(app: App, user: TestUser, conversationId: string, content: string): Promise<string> {
  return (await ok(SendMessageDocument, { input: { conversationId, content } }, user.token, app)).sendMessage.id;
}

const endpointCount = async (ownerId: string) =>
  (await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM "WebhookEndpoint" WHERE "ownerId" = $1', [ownerId]))[0]!.n;

/** What refused a registration: each error's code and the input field it names. */
const refusals = (response: GraphQLResponse<unknown>) => (response.errors ?? []).map((error) => [error.extensions?.code, error.extensions?.field]);

describe('destinations refused unless WEBHOOK_ALLOW_PRIVATE_NETWORKS=true', () => {
  it.each([
    'http://127.0.0.1/hooks',
    'http://localhost:8080/hooks',
    'http://10.0.0.1/hooks',
    'http://169.254.169.254/latest/meta-data',
    'http://[::1]/hooks',
    'http://[::ffff:127.0.0.1]/hooks',
  ])('registering %s is BAD_USER_INPUT on url, and nothing is stored', async (url) => {
    const salon = await t.user('SALON');
    const response = await run(CreateWebhookEndpointDocument, { input: { url, eventTypes: ['message.created'] } }, salon.token);
    expect(refusals(response)).toEqual([['BAD_USER_INPUT', 'url']]);
    expect(await endpointCount(salon.id)).toBe(0);
  });

  it('an endpoint whose stored URL now leads to loopback (DNS changed): the attempt is refused and the receiver gets nothing', async () => {
    const { salon, client, conversationId } = await pair();
    const partner = await receiver();
    // As if registered while the names resolved elsewhere: rows written directly, from the
    // salon's current position (what happens next), by name and by address.
    const urls = [`http://localhost:${partner.port}/hooks`, partner.url()];
    const rows = await t.sql<{ id: string }>(
      `INSERT INTO "WebhookEndpoint" ("id", "ownerId", "url", "eventTypes", "secret", "position", "updatedAt")
       SELECT gen_random_uuid(), $1::uuid, url, ARRAY['message.created'], 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', COALESCE((SELECT "lastPosition" FROM "UserEventStream" WHERE "userId" = $1::uuid), 0), now()
         FROM unnest($2::text[]) AS url
       RETURNING "id"::text`,
      [salon.id, urls],
    );
    await sendMessage(t.app, client, conversationId, 'to a rebound name');

    // The instance making attempts here refuses private destinations; it fans out on start.
    await withWorker({ allowPrivateNetworks: false }, async () => {
      for (const { id } of rows) {
        await expect.poll(async () => (await deliveries(salon, id))[0]?.attempts[0] ?? null).toMatchObject({ responseStatus: null, error: expect.stringMatching(/non-public/) });
      }
    });
    expect(partner.requests).toEqual([]);
    // Their retries must not reach the receiver through a later test's instance, which allows loopback.
    await t.sql('DELETE FROM "WebhookEndpoint" WHERE "id" = ANY($1::uuid[])', [rows.map((row) => row.id)]);
  });
});

describe('registration refuses what a partner got wrong', () => {
  it('an unknown or no event type, a non-http URL, a URL over 2048 characters, a description over 500: BAD_USER_INPUT on that field, nothing stored', async () => {
    const salon = await t.user('SALON');
    const url = 'https://8.8.8.8/hooks';
    const cases: [Record<string, unknown>, string][] = [
      [{ url, eventTypes: ['message.sent'] }, 'eventTypes'],
      [{ url, eventTypes: [] }, 'eventTypes'],
      [{ url: 'ftp://8.8.8.8/hooks', eventTypes: ['message.created'] }, 'url'],
      [{ url: `https://8.8.8.8/${'a'.repeat(2048)}`, eventTypes: ['message.created'] }, 'url'],
      [{ url, eventTypes: ['message.created'], description: 'd'.repeat(501) }, 'description'],
    ];
    for (const [input, field] of cases) {
      const response = await run(CreateWebhookEndpointDocument, { input: input as { url: string; eventTypes: string[] } }, salon.token);
      expect(refusals(response), JSON.stringify(input).slice(0, 120)).toEqual([['BAD_USER_INPUT', field]]);
    }
    expect(await endpointCount(salon.id)).toBe(0);

    // The same rules hold when an endpoint is changed; a refused change changes nothing.
    const { createWebhookEndpoint } = await ok(CreateWebhookEndpointDocument, { input: { url, eventTypes: ['message.created'], description: 'd'.repeat(500) } }, salon.token);
    const { id } = createWebhookEndpoint.endpoint;
    expect(refusals(await run(UpdateWebhookEndpointDocument, { id, input: { eventTypes: [] } }, salon.token))).toEqual([['BAD_USER_INPUT', 'eventTypes']]);
    expect(refusals(await run(UpdateWebhookEndpointDocument, { id, input: { url: 'http://127.0.0.1/hooks' } }, salon.token))).toEqual([['BAD_USER_INPUT', 'url']]);
    const { webhookEndpoints } = await ok(WebhookEndpointsDocument, {}, salon.token);
    expect(webhookEndpoints.edges.map((edge) => edge.node)).toEqual([expect.objectContaining({ id, url, eventTypes: ['message.created'] })]);
  });
});

describe('an endpoint failing everything for WEBHOOK_DISABLE_AFTER_S', () => {
  it('is disabled with an event in the salon stream, gets nothing while disabled, and after re-enabling gets what happens next', async () => {
    const { salon, client, conversationId } = await pair();
    const partner = await receiver();
    await withWorker({ disableAfterS: 1 }, async (worker) => {
      const { createWebhookEndpoint } = await ok(CreateWebhookEndpointDocument, { input: { url: partner.url(), eventTypes: ['message.created'] } }, salon.token, worker);
      const { id } = createWebhookEndpoint.endpoint;
      partner.secrets.add(createWebhookEndpoint.secret);
      const { eventCursor } = await ok(EventCursorDocument, {}, salon.token);
      await partner.down();

      // Its attempts span more than 1 s (0, 0.5, 0.3, 0.3 s apart), all refused.
      const lost = await sendMessage(worker, client, conversationId, 'while the partner is down');
      await expect
        .poll(async () => (await ok(WebhookEndpointsDocument, {}, salon.token)).webhookEndpoints.edges[0]?.node)
        .toMatchObject({ id, enabled: false, disabledAt: expect.any(String), disabledReason: expect.any(String) });
      await expect.poll(async () => (await deliveries(salon, id))[0]).toMatchObject({ status: 'FAILED', nextAttemptAt: null });

      const { events } = await ok(EventsDocument, { after: eventCursor, first: 100 }, salon.token);
      const disabledEvents = events.edges.flatMap(({ node }) => (node.payload.__typename === 'WebhookEndpointDisabledEvent' ? [node.payload] : []));
      expect(disabledEvents).toEqual([expect.objectContaining({ endpointId: id, reason: expect.any(String) })]);

      await partner.up();
      const missed = await sendMessage(worker, client, conversationId, 'while the endpoint is disabled');
      const { updateWebhookEndpoint } = await ok(UpdateWebhookEndpointDocument, { id, input: { enabled: true } }, salon.token, worker);
      expect(updateWebhookEndpoint).toMatchObject({ enabled: true, disabledAt: null, disabledReason: null });
      const later = await sendMessage(worker, client, conversationId, 'after re-enabling');

      const [request] = await partner.waitFor(1);
      expect(request!.verified).toBe(true);
      expect(request!.body!.data.id).toBe(later);
      await expect.poll(async () => (await deliveries(salon, id)).map((delivery) => [delivery.eventType, delivery.status])).toEqual([
        ['message.created', 'SUCCEEDED'],
        ['message.created', 'FAILED'],
      ]);
      const bodies = (await deliveries(salon, id)).map((delivery) => delivery.payload);
      expect(bodies.some((body) => body.includes(missed))).toBe(false);
      expect(bodies.some((body) => body.includes(lost))).toBe(true);
      expect(partner.requests).toHaveLength(1);
    });
  });
});

describe('rotation with WEBHOOK_SECRET_OVERLAP_S=0', () => {
  it('only the new secret signs from the rotation on', async () => {
    const { salon, client, conversationId } = await pair();
    const partner = await receiver();
    // The rotation runs on this instance: its WEBHOOK_SECRET_OVERLAP_S is the one applied.
    await withWorker({ secretOverlapS: 0 }, async (worker) => {
      const { createWebhookEndpoint } = await ok(CreateWebhookEndpointDocument, { input: { url: partner.url(), eventTypes: ['message.created'] } }, salon.token, worker);
      const { rotateWebhookSecret } = await ok(RotateWebhookSecretDocument, { id: createWebhookEndpoint.endpoint.id }, salon.token, worker);
      expect(rotateWebhookSecret.endpoint.previousSecretExpiresAt).toBeNull();
      partner.secrets.add(createWebhookEndpoint.secret);
      partner.secrets.add(rotateWebhookSecret.secret);

      await sendMessage(worker, client, conversationId, 'after the rotation');
      const [request] = await partner.waitFor(1);
      expect(request!.signatureHeader!.split(' ')).toHaveLength(1);
      expect(request!.verifiedWith).toEqual([rotateWebhookSecret.secret]);
    });
  });
});

describe('deleting an endpoint', () => {
  it('returns its id; neither its scheduled retry nor later events are sent', async () => {
    const { salon, client, conversationId } = await pair();
    const partner = await receiver();
    // Another endpoint of the salon: once it has an event, that event has been fanned out to all.
    const control = await receiver();
    partner.respond(500);
    // The second attempt is due 3 s after the first fails, not the file's 0.5 s: this worker must
    // stop before it is due, and stopping took longer than 0.5 s on a busy machine (the worker
    // then made the attempt itself, before the deletion).
    const endpointId = await withWorker({ retryScheduleS: [0, 3] }, async (worker) => {
      const create = async (target: WebhookReceiver) =>
        (await ok(CreateWebhookEndpointDocument, { input: { url: target.url(), eventTypes: ['message.created'] } }, salon.token, worker)).createWebhookEndpoint.endpoint.id;
      const id = await create(partner);
      await create(control);
      await sendMessage(worker, client, conversationId, 'fails once, then its endpoint is deleted');
      await expect.poll(async () => (await deliveries(salon, id))[0]).toMatchObject({ status: 'PENDING', attemptCount: 1 });
      return id;
    });
    const [failedAttempt] = partner.requests;
    const pendingDelivery = failedAttempt!.webhookId!;

    // No instance makes attempts now: the second one is scheduled, not started.
    const { deleteWebhookEndpoint } = await ok(DeleteWebhookEndpointDocument, { id: endpointId }, salon.token);
    expect(deleteWebhookEndpoint).toBe(endpointId);
    partner.respond(200);

    await withWorker({}, async (worker) => {
      const later = await sendMessage(worker, client, conversationId, 'after the deletion');
      await control.waitUntil((requests) => requests.some((request) => request.body?.data.id === later), { description: 'the later message' });
      // The scheduled second attempt has run, and found nothing to send, once its job is completed.
      await expect
        .poll(async () =>
          (
            await t.sql<{ state: string }>(
              `SELECT state::text FROM pgboss.job WHERE name = 'webhook-delivery' AND data->>'deliveryId' = $1 AND (data->>'attempt')::int = 2`,
              [pendingDelivery],
            )
          ).map((job) => job.state),
        )
        .toEqual(['completed']);
    });
    expect(partner.requests).toHaveLength(1);
    expect((await ok(WebhookEndpointsDocument, {}, salon.token)).webhookEndpoints.edges.map((edge) => edge.node.id)).not.toContain(endpointId);
    expect((await run(WebhookDeliveriesDocument, { endpointId }, salon.token)).errors?.map((error) => error.extensions?.code)).toEqual(['NOT_FOUND']);
  });
});
