/**
 * Partner webhooks as a partner sees them, on one instance that may call loopback: a real
 * receiver on 127.0.0.1 verifying with `standardwebhooks`. One request per event of a subscribed
 * type with the contract's body; a receiver that is down, fails, redirects or hangs, and what the
 * delivery then records; retries exhausted and a manual retry; secret rotation; another salon and
 * a client account kept out; and what /metrics counts.
 */
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  CreateAppointmentDocument,
  CreateWebhookEndpointDocument,
  DeleteWebhookEndpointDocument,
  MarkConversationReadDocument,
  RetryWebhookDeliveryDocument,
  RotateWebhookSecretDocument,
  SendMessageDocument,
  UpdateWebhookEndpointDocument,
  WebhookDeliveriesDocument,
  WebhookEndpointsDocument,
  type WebhookDeliveriesQuery,
  type WebhookDeliveryStatus,
} from '../operations/generated/graphql.js';
import { useTestApp, type GraphQLResponse, type TestUser } from './support/app.js';
import { codes, openConversation } from './support/fixtures.js';
import { useWebhookReceivers } from './support/receivers.js';
import type { ReceivedWebhook, WebhookReceiver } from './support/webhook-receiver.js';

const TIMEOUT_MS = 1000;

// The second delay (0.5 s) is the window in which the down-then-500 test brings its receiver back
// up after the first refused attempt; the others are short so that a whole schedule runs in ~2 s.
const t = useTestApp({
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_CONCURRENCY: '16',
  JOB_POLL_MS: '500',
  WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
  WEBHOOK_RETRY_SCHEDULE: '0,0.5,0.3,0.3',
});

const ALL_TYPES = [
  'message.created',
  'message.deleted',
  'message.edited',
  'message.read',
  'message.unread',
  'reaction.changed',
  'conversation.created',
  'conversation.updated',
  'conversation.deleted',
  'appointment.created',
  'appointment.updated',
  'user.updated',
];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

type Delivery = WebhookDeliveriesQuery['webhookDeliveries']['edges'][number]['node'];

const receiver = useWebhookReceivers();

function run<R, V extends Record<string, unknown>>(document: TypedDocumentNode<R, V>, variables: V, token: string): Promise<GraphQLResponse<R>> {
  return t.gql<R>(print(document), variables, token);
}

async function ok<R, V extends Record<string, unknown>>(document: TypedDocumentNode<R, V> | string, variables: V, token: string): Promise<R> {
  const response = await t.gql<R>(typeof document === 'string' ? document : print(document), variables, token);
  if (!response.data || response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data;
}

/** The salon's endpoint at `target`, whose secret the receiver keeps, as a partner would. */
async function register(salon: TestUser, target: WebhookReceiver, eventTypes: string[]) {
  const { createWebhookEndpoint } = await ok(CreateWebhookEndpointDocument, { input: { url: target.url(), eventTypes } }, salon.token);
  target.secrets.add(createWebhookEndpoint.secret);
  return { ...createWebhookEndpoint.endpoint, secret: createWebhookEndpoint.secret };
}

async function deliveries(salon: TestUser, endpointId: string, status?: WebhookDeliveryStatus): Promise<Delivery[]> {
  const { webhookDeliveries } = await ok(WebhookDeliveriesDocument, { endpointId, status, first: 100 }, salon.token);
  return webhookDeliveries.edges.map((edge) => edge.node);
}

/** The first of the endpoint's deliveries for which `holds` is true, once there is one. */
async function deliveryWhen(salon: TestUser, endpointId: string, holds: (delivery: Delivery) => boolean): Promise<Delivery> {
  let found: Delivery | undefined;
  await expect
    .poll(async () => {
      const list = await deliveries(salon, endpointId);
      found = list.find(holds);
      // On a timeout the failure shows the list as it was.
      return found ? 'found' : list;
    })
    .toBe('found');
  return found!;
}

async function sendMessage(user: TestUser, conversationId: string, content: string) {
  const { sendMessage } = await ok(SendMessageDocument, { input: { conversationId, content } }, user.token);
  return sendMessage;
}

async function pair() {
  const salon = await t.user('SALON');
  const client = await t.user('CLIENT', 'Camille');
  return { salon, client, conversationId: await openConversation(t, salon, client) };
}

/** The request carrying the event of `type` whose `data` has `field` = `value`, once it has arrived. */
async function arrival(target: WebhookReceiver, type: string, field: string, value: unknown): Promise<ReceivedWebhook> {
  const matches = (request: ReceivedWebhook) => request.body?.type === type && request.body.data[field] === value;
  const requests = await target.waitUntil((all) => all.some(matches), { description: `${type} with ${field} ${String(value)}` });
  return requests.find(matches)!;
}

/** Samples of a metric at /metrics, keyed by their labels as printed (`{result="success"}`; '' for none). */
async function samples(name: string): Promise<Map<string, number>> {
  const text = await (await fetch(new URL('/metrics', t.app.url()))).text();
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] === name) found.set(match[2] ?? '', Number(match[3]));
  }
  return found;
}

describe('what a partner receives', () => {
  it('one signed request per event of a subscribed type, with the contract body and the listed delivery id; nothing from before the endpoint', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT', 'Camille');
    const before = await openConversation(t, salon, client, 'Before the endpoint');
    const beforeMessage = await sendMessage(client, before, 'sent before the endpoint existed');

    const everything = await receiver();
    const messagesOnly = await receiver();
    const endpoint = await register(salon, everything, ALL_TYPES);
    const messagesEndpoint = await register(salon, messagesOnly, ['message.created']);
    const startedAt = Date.now();

    // Each step waits for its event, so every body shows the row as that step left it.
    const conversationId = await openConversation(t, salon, client, 'Colour');
    const created = await arrival(everything, 'conversation.created', 'id', conversationId);
    expect(created.body!.data).toEqual({
      id: conversationId,
      salonId: salon.id,
      clientUserId: client.id,
      subject: 'Colour',
      status: 'ACTIVE',
      appointmentId: null,
      lastMessageAt: expect.stringMatching(ISO),
    });

    const fromClient = await sendMessage(client, conversationId, 'Can I come at 3 pm?');
    expect((await arrival(everything, 'message.created', 'id', fromClient.id)).body!.data).toEqual({
      id: fromClient.id,
      conversationId,
      authorId: client.id,
      kind: 'USER',
      content: 'Can I come at 3 pm?',
      seq: fromClient.seq,
      createdAt: fromClient.createdAt,
    });
    const fromSalon = await sendMessage(salon, conversationId, 'Yes, see you then');
    await arrival(everything, 'message.created', 'id', fromSalon.id);

    await ok(MarkConversationReadDocument, { id: conversationId }, client.token);
    expect((await arrival(everything, 'message.read', 'conversationId', conversationId)).body!.data).toEqual({
      conversationId,
      messageIds: [fromSalon.id],
      readerId: client.id,
      readAt: expect.stringMatching(ISO),
    });

    await ok('mutation($id: ID!) { editMessage(id: $id, content: "Can I come at 4 pm?") { id } }', { id: fromClient.id }, client.token);
    expect((await arrival(everything, 'message.edited', 'id', fromClient.id)).body!.data).toEqual({
      id: fromClient.id,
      conversationId,
      content: 'Can I come at 4 pm?',
      editedAt: expect.stringMatching(ISO),
    });
    await ok('mutation($id: ID!) { addReaction(messageId: $id, emoji: "👍") { id } }', { id: fromSalon.id }, client.token);
    expect((await arrival(everything, 'reaction.changed', 'messageId', fromSalon.id)).body!.data).toEqual({
      messageId: fromSalon.id,
      conversationId,
      emoji: '👍',
      userId: client.id,
      added: true,
    });
    await ok('mutation($id: ID!, $from: ID!) { markConversationUnread(id: $id, fromMessageId: $from) { id } }', { id: conversationId, from: fromSalon.id }, client.token);
    expect((await arrival(everything, 'message.unread', 'conversationId', conversationId)).body!.data).toEqual({
      conversationId,
      messageIds: [fromSalon.id],
      readerId: client.id,
    });

    await ok('mutation($id: ID!) { deleteMessage(id: $id) }', { id: fromSalon.id }, salon.token);
    expect((await arrival(everything, 'message.deleted', 'id', fromSalon.id)).body!.data).toEqual({ id: fromSalon.id, conversationId });

    await ok('mutation($id: ID!) { updateConversation(id: $id, input: { subject: "Colour at 3 pm" }) { id } }', { id: conversationId }, salon.token);
    expect((await arrival(everything, 'conversation.updated', 'id', conversationId)).body!.data).toMatchObject({
      id: conversationId,
      subject: 'Colour at 3 pm',
      status: 'ACTIVE',
    });

    const { createAppointment: appointment } = await ok(
      CreateAppointmentDocument,
      { input: { clientUserId: client.id, service: 'Colour', startsAt: '2030-01-02T14:00:00.000Z' } },
      salon.token,
    );
    const appointmentConversation = appointment.conversation!.id;
    expect((await arrival(everything, 'appointment.created', 'id', appointment.id)).body!.data).toEqual({
      id: appointment.id,
      salonId: salon.id,
      clientUserId: client.id,
      service: 'Colour',
      startsAt: '2030-01-02T14:00:00.000Z',
      conversationId: appointmentConversation,
    });
    // Booking opens its conversation, with a confirmation from the system (no author).
    expect((await arrival(everything, 'conversation.created', 'id', appointmentConversation)).body!.data).toMatchObject({ appointmentId: appointment.id });
    expect((await arrival(everything, 'message.created', 'conversationId', appointmentConversation)).body!.data).toMatchObject({
      kind: 'SYSTEM',
      authorId: null,
    });
    // Moving it: appointment.updated with the new start, the subject booking gave its conversation
    // (conversation.updated), and its notice as a SYSTEM message.created.
    await ok('mutation($id: ID!) { rescheduleAppointment(id: $id, startsAt: "2030-01-03T15:00:00.000Z") { id } }', { id: appointment.id }, client.token);
    expect((await arrival(everything, 'appointment.updated', 'id', appointment.id)).body!.data).toEqual({
      id: appointment.id,
      salonId: salon.id,
      clientUserId: client.id,
      service: 'Colour',
      startsAt: '2030-01-03T15:00:00.000Z',
      status: 'SCHEDULED',
      cancelledAt: null,
      conversationId: appointmentConversation,
    });
    // The client moved it: the notice is read for the client at once, a second message.read.
    await everything.waitUntil((all) => all.filter((request) => request.body?.type === 'message.read').length === 2, {
      description: 'the notice of the move, read at once',
    });

    await ok('mutation { updateProfile(input: { displayName: "Atelier Élise" }) { id } }', {}, salon.token);
    expect((await arrival(everything, 'user.updated', 'id', salon.id)).body!.data).toEqual({ id: salon.id, role: 'SALON', displayName: 'Atelier Élise', hasAvatar: false });

    await ok('mutation($id: ID!) { deleteConversation(id: $id) }', { id: conversationId }, salon.token);
    expect((await arrival(everything, 'conversation.deleted', 'id', conversationId)).body!.data).toEqual({ id: conversationId });

    const listed = await deliveries(salon, endpoint.id);
    const requests = [...everything.requests];
    expect(requests.map((request) => request.body!.type).sort()).toEqual(
      [
        'conversation.created',
        'message.created',
        'message.created',
        'message.read',
        'message.edited',
        'reaction.changed',
        'message.unread',
        'message.deleted',
        'conversation.updated',
        'appointment.created',
        'conversation.created',
        'message.created',
        'appointment.updated',
        'conversation.updated',
        'message.created',
        'message.read',
        'user.updated',
        'conversation.deleted',
      ].sort(),
    );
    expect(listed).toHaveLength(requests.length);
    const byId = new Map(listed.map((delivery) => [delivery.id, delivery]));
    for (const request of requests) {
      expect(request.verifiedWith).toEqual([endpoint.secret]);
      expect(request.method).toBe('POST');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['user-agent']).toBe('salon-messaging-webhooks/1');
      expect(Math.abs(request.timestamp - request.receivedAt / 1000)).toBeLessThan(60);
      // webhook-id is the delivery listed by the API, and the body is byte for byte its payload.
      const delivery = byId.get(request.webhookId!);
      expect(delivery?.payload).toBe(request.raw);
      expect(delivery?.eventType).toBe(request.body!.type);
      expect(Object.keys(request.body!)).toEqual(['type', 'timestamp', 'data']);
      const happened = Date.parse(request.body!.timestamp);
      expect(happened).toBeGreaterThanOrEqual(startedAt - 1000);
      expect(happened).toBeLessThanOrEqual(request.receivedAt + 1000);
    }
    expect(new Set(requests.map((request) => request.webhookId)).size).toBe(requests.length);

    // The endpoint of one type got that type only; neither got what happened before it existed.
    const messageRequests = await messagesOnly.waitFor(4);
    const fourMessages = ['message.created', 'message.created', 'message.created', 'message.created'];
    expect(messageRequests.map((request) => request.body!.type)).toEqual(fourMessages);
    expect(messageRequests.every((request) => request.verifiedWith.length === 1 && request.verifiedWith[0] === messagesEndpoint.secret)).toBe(true);
    expect((await deliveries(salon, messagesEndpoint.id)).map((delivery) => delivery.eventType)).toEqual(fourMessages);
    for (const request of [...requests, ...messageRequests]) {
      expect(request.raw).not.toContain(before);
      expect(request.raw).not.toContain(beforeMessage.id);
    }
  });

  it('a receiver down, then answering 500, then up: delivered in the end, the same webhook-id and body on every attempt, each attempt recorded', async () => {
    const { salon, client, conversationId } = await pair();
    const partner = await receiver();
    const endpoint = await register(salon, partner, ['message.created']);
    await partner.down();

    const message = await sendMessage(client, conversationId, 'while the partner was down');
    // The second attempt comes 0.5 s after the first is recorded: looked for in PostgreSQL every
    // 20 ms, so the receiver is back by then (and fails once).
    await expect
      .poll(() => t.sql('SELECT 1 FROM "WebhookAttempt" a JOIN "WebhookDelivery" d ON d.id = a."deliveryId" WHERE d."endpointId" = $1', [endpoint.id]), {
        interval: 20,
      })
      .toHaveLength(1);
    partner.respond(() => (partner.requests.length === 0 ? 500 : 200), { body: 'warming up' });
    await partner.up();

    const delivered = await deliveryWhen(salon, endpoint.id, (delivery) => delivery.status === 'SUCCEEDED');
    expect(delivered).toMatchObject({ attemptCount: 3, nextAttemptAt: null, eventType: 'message.created' });
    expect(delivered.attempts.map((attempt) => attempt.responseStatus)).toEqual([null, 500, 200]);
    const [refused, failed, succeeded] = delivered.attempts;
    expect(refused!.error).toMatch(/ECONNREFUSED/);
    expect(failed!.error).toMatch(/500/);
    expect(failed!.responseBody).toBe('warming up');
    expect(succeeded!.error).toBeNull();
    const times = delivered.attempts.map((attempt) => Date.parse(String(attempt.attemptedAt)));
    expect(times).toEqual([...times].sort((a, b) => a - b));

    const requests = await partner.waitFor(2);
    expect(requests.map((request) => request.webhookId)).toEqual([delivered.id, delivered.id]);
    expect(requests.map((request) => request.raw)).toEqual([delivered.payload, delivered.payload]);
    expect(requests.every((request) => request.verified)).toBe(true);
    expect(requests[0]!.body!.data.id).toBe(message.id);
  });

  it('a 302 is a failed attempt and its Location is not followed', async () => {
    const { salon, client, conversationId } = await pair();
    const partner = await receiver();
    const endpoint = await register(salon, partner, ['message.created']);
    partner.respond(() => (partner.requests.length === 0 ? 302 : 200));

    await sendMessage(client, conversationId, 'to a moved endpoint');
    const delivered = await deliveryWhen(salon, endpoint.id, (delivery) => delivery.status === 'SUCCEEDED');
    expect(delivered.attempts.map((attempt) => attempt.responseStatus)).toEqual([302, 200]);
    expect(delivered.attempts[0]!.error).toMatch(/302/);
    // A followed redirect would have reached /redirected before the second attempt came.
    expect(partner.requests.map((request) => request.path)).toEqual(['/hooks', '/hooks']);
  });

  it('a receiver that hangs: the attempt fails at the timeout and is recorded as such', async () => {
    const { salon, client, conversationId } = await pair();
    const partner = await receiver();
    const endpoint = await register(salon, partner, ['message.created']);
    partner.hang();

    await sendMessage(client, conversationId, 'to a hanging endpoint');
    await partner.waitFor(1);
    partner.respond(200);
    const delivered = await deliveryWhen(salon, endpoint.id, (delivery) => delivery.status === 'SUCCEEDED');
    expect(delivered.attemptCount).toBe(2);
    const [hung] = delivered.attempts;
    expect(hung!.responseStatus).toBeNull();
    expect(hung!.error).toMatch(new RegExp(`${TIMEOUT_MS} ms`));
    // A Node timer counts from the event loop's cached clock, which can be a few ms behind the
    // attempt's own start reading: the recorded duration may fall that much short of the timeout.
    expect(hung!.durationMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(partner.requests.map((request) => request.webhookId)).toEqual([delivered.id, delivered.id]);
  });

  it('retries exhausted: FAILED and listed as such; retryWebhookDelivery once the receiver is fixed sends the same id and bytes', async () => {
    const { salon, client, conversationId } = await pair();
    const partner = await receiver();
    const endpoint = await register(salon, partner, ['message.created']);
    partner.respond(500, { body: 'down for maintenance' });

    await sendMessage(client, conversationId, 'during maintenance');
    const failed = await deliveryWhen(salon, endpoint.id, (delivery) => delivery.status === 'FAILED');
    expect(failed).toMatchObject({ attemptCount: 4, nextAttemptAt: null });
    expect(failed.attempts.map((attempt) => attempt.responseStatus)).toEqual([500, 500, 500, 500]);
    expect((await deliveries(salon, endpoint.id, 'FAILED')).map((delivery) => delivery.id)).toEqual([failed.id]);
    expect(await deliveries(salon, endpoint.id, 'SUCCEEDED')).toEqual([]);
    expect(partner.requests).toHaveLength(4);

    partner.respond(200);
    const { retryWebhookDelivery } = await ok(RetryWebhookDeliveryDocument, { id: failed.id }, salon.token);
    expect(retryWebhookDelivery.id).toBe(failed.id);
    const delivered = await deliveryWhen(salon, endpoint.id, (delivery) => delivery.status === 'SUCCEEDED');
    expect(delivered.attempts.map((attempt) => attempt.responseStatus)).toEqual([500, 500, 500, 500, 200]);
    const requests = await partner.waitFor(5);
    expect(new Set(requests.map((request) => request.webhookId))).toEqual(new Set([failed.id]));
    expect(requests[4]!.raw).toBe(requests[0]!.raw);
    expect(requests[4]!.verified).toBe(true);
    expect(await deliveries(salon, endpoint.id, 'FAILED')).toEqual([]);
  });
});

describe('secret rotation', () => {
  it('the next delivery carries two signatures, one from the old secret and one from the new, for 24 h', async () => {
    const { salon, client, conversationId } = await pair();
    const partner = await receiver();
    const endpoint = await register(salon, partner, ['message.created']);
    await sendMessage(client, conversationId, 'before the rotation');
    const [first] = await partner.waitFor(1);
    expect(first!.signatureHeader!.split(' ')).toHaveLength(1);

    const { rotateWebhookSecret } = await ok(RotateWebhookSecretDocument, { id: endpoint.id }, salon.token);
    const rotatedAt = Date.now();
    expect(rotateWebhookSecret.secret).toMatch(/^whsec_/);
    expect(rotateWebhookSecret.secret).not.toBe(endpoint.secret);
    const expiresAt = Date.parse(String(rotateWebhookSecret.endpoint.previousSecretExpiresAt));
    expect(Math.abs(expiresAt - (rotatedAt + 86_400_000))).toBeLessThan(60_000);

    partner.secrets.add(rotateWebhookSecret.secret);
    await sendMessage(client, conversationId, 'after the rotation');
    const [, second] = await partner.waitFor(2);
    const signatures = second!.signatureHeader!.split(' ');
    expect(signatures).toHaveLength(2);
    expect(signatures.every((signature) => signature.startsWith('v1,'))).toBe(true);
    // Each secret alone verifies it: a receiver still on the old one and one already on the new.
    expect(new Set(second!.verifiedWith)).toEqual(new Set([endpoint.secret, rotateWebhookSecret.secret]));
    const signedAt = new Date(second!.timestamp * 1000);
    const expected = [rotateWebhookSecret.secret, endpoint.secret].map((secret) => new Webhook(secret).sign(second!.webhookId!, signedAt, second!.raw));
    expect(new Set(signatures)).toEqual(new Set(expected));
  });
});

describe('who can see and touch endpoints', () => {
  it('a client account is FORBIDDEN; another salon gets NOT_FOUND for every id and sees no endpoint', async () => {
    const { salon, client, conversationId } = await pair();
    const partner = await receiver();
    const endpoint = await register(salon, partner, ['message.created']);
    await sendMessage(client, conversationId, 'for the partner');
    const delivery = await deliveryWhen(salon, endpoint.id, (candidate) => candidate.status === 'SUCCEEDED');

    expect(codes(await run(CreateWebhookEndpointDocument, { input: { url: partner.url(), eventTypes: ['message.created'] } }, client.token))).toEqual(['FORBIDDEN']);
    expect(codes(await run(WebhookEndpointsDocument, {}, client.token))).toEqual(['FORBIDDEN']);
    expect(await t.sql('SELECT 1 FROM "WebhookEndpoint" WHERE "ownerId" = $1', [client.id])).toEqual([]);

    const other = await t.user('SALON', 'Other');
    const attempts: [string, GraphQLResponse<unknown>][] = [
      ['updateWebhookEndpoint', await run(UpdateWebhookEndpointDocument, { id: endpoint.id, input: { url: 'http://127.0.0.1:9/stolen' } }, other.token)],
      ['rotateWebhookSecret', await run(RotateWebhookSecretDocument, { id: endpoint.id }, other.token)],
      ['deleteWebhookEndpoint', await run(DeleteWebhookEndpointDocument, { id: endpoint.id }, other.token)],
      ['webhookDeliveries', await run(WebhookDeliveriesDocument, { endpointId: endpoint.id }, other.token)],
      ['retryWebhookDelivery', await run(RetryWebhookDeliveryDocument, { id: delivery.id }, other.token)],
    ];
    expect(attempts.map(([name, response]) => [name, codes(response)])).toEqual(attempts.map(([name]) => [name, ['NOT_FOUND']]));
    expect((await ok(WebhookEndpointsDocument, {}, other.token)).webhookEndpoints.edges).toEqual([]);

    // Nothing of the owner's changed: same URL, same secret, no new attempt.
    const { webhookEndpoints } = await ok(WebhookEndpointsDocument, {}, salon.token);
    expect(webhookEndpoints.edges.map((edge) => edge.node)).toEqual([expect.objectContaining({ id: endpoint.id, url: endpoint.url, previousSecretExpiresAt: null })]);
    expect((await deliveries(salon, endpoint.id)).map((one) => one.attemptCount)).toEqual([1]);
    expect(partner.requests).toHaveLength(1);
  });
});

describe('observability', () => {
  it('/metrics counts attempts and deliveries by result, and the queue lag', async () => {
    const { salon, client, conversationId } = await pair();
    const flaky = await receiver();
    const dead = await receiver();
    const flakyEndpoint = await register(salon, flaky, ['message.created']);
    const deadEndpoint = await register(salon, dead, ['message.created']);
    flaky.respond(() => (flaky.requests.length === 0 ? 503 : 200));
    await dead.down();
    const attemptsBefore = await samples('salon_webhook_attempts_total');
    const deliveriesBefore = await samples('salon_webhook_deliveries_total');
    const lagBefore = (await samples('salon_webhook_queue_lag_seconds_count')).get('') ?? 0;

    await sendMessage(client, conversationId, 'counted');
    await deliveryWhen(salon, flakyEndpoint.id, (delivery) => delivery.status === 'SUCCEEDED');
    await deliveryWhen(salon, deadEndpoint.id, (delivery) => delivery.status === 'FAILED');

    // At least: counters move after the attempt is recorded, and the API shows it first.
    const grew = (after: Map<string, number>, before: Map<string, number>, labels: string) => (after.get(labels) ?? 0) - (before.get(labels) ?? 0);
    await expect
      .poll(async () => {
        const attempts = await samples('salon_webhook_attempts_total');
        const finished = await samples('salon_webhook_deliveries_total');
        return {
          success: grew(attempts, attemptsBefore, '{result="success"}') >= 1,
          httpError: grew(attempts, attemptsBefore, '{result="http_error"}') >= 1,
          error: grew(attempts, attemptsBefore, '{result="error"}') >= 4,
          succeeded: grew(finished, deliveriesBefore, '{result="succeeded"}') >= 1,
          failed: grew(finished, deliveriesBefore, '{result="failed"}') >= 1,
        };
      })
      .toEqual({ success: true, httpError: true, error: true, succeeded: true, failed: true });
    expect((await samples('salon_webhook_queue_lag_seconds_count')).get('')! - lagBefore).toBeGreaterThanOrEqual(6);
  });
});
