import { createECDH, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import type { Client, FormattedExecutionResult } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp, type GraphQLResponse, type TestUser } from './support/app.js';
import { codes, openConversation, send } from './support/fixtures.js';
import { wsClient } from './support/ws.js';
import { uploadAttachment } from './support/uploads.js';

// Private networks allowed: the webhook operations register an endpoint on loopback.
const t = useTestApp({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });

const MAX_COST = 10_000;

/** The documents frontends and partners send (operations/*.graphql, as codegen printed them). */
const manifest = JSON.parse(readFileSync(new URL('../operations/persisted-documents.json', import.meta.url), 'utf8')) as Record<string, string>;
const documents = Object.values(manifest).map((document) => {
  const operation = parse(document).definitions.find((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION)!;
  return {
    document,
    name: operation.name!.value,
    kind: operation.operation,
    pageVariables: (operation.variableDefinitions ?? []).map((v) => v.variable.name.value).filter((name) => name === 'first' || name === 'last'),
  };
});

type ErrorList = NonNullable<GraphQLResponse['errors']>;

/** A POST as a client sends it, with the Accept header it chooses. */
async function post(query: string, variables: Record<string, unknown>, token: string, accept = 'application/graphql-response+json') {
  const response = await fetch(t.app.url(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, ...((await response.json()) as Omit<GraphQLResponse, 'status'>) };
}

/** Runs one operation over graphql-ws and resolves with what the server answered first. */
function overSocket(client: Client, query: string, variables: Record<string, unknown> = {}) {
  return new Promise<{ errors?: ErrorList; data?: unknown }>((resolve) => {
    client.subscribe(
      { query, variables },
      {
        next: (result: FormattedExecutionResult) => resolve(result as { errors?: ErrorList; data?: unknown }),
        error: (error) => resolve({ errors: (Array.isArray(error) ? error : [{ message: String(error) }]) as ErrorList }),
        complete: () => {},
      },
    );
  });
}

/** `salon_active_subscriptions` from /metrics: a subscription counts once the server has accepted it. */
async function activeSubscriptions() {
  const text = await (await fetch(new URL('/metrics', t.app.url()))).text();
  return Number(/^salon_active_subscriptions (\d+)/m.exec(text)?.[1]);
}

const NESTED_100 = 'query($n: Int) { conversations(first: $n) { edges { node { messages(first: $n) { edges { node { id } } } } } } }';

let salon: TestUser;
let client: TestUser;
let conversationId: string;
const sockets: Client[] = [];

beforeAll(async () => {
  salon = await t.user('SALON');
  client = await t.user('CLIENT');
  conversationId = await openConversation(t, salon, client, 'Limits');
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.dispose()));
});

/** The webhook operations run as the salon, on endpoints of their own (one to delete) and a delivery of one. */
async function webhookVariables(): Promise<Record<string, Record<string, unknown>>> {
  const create = async () => {
    const response = await t.gql<{ createWebhookEndpoint: { endpoint: { id: string } } }>(
      'mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }',
      { input: { url: 'http://127.0.0.1:9/hooks', eventTypes: ['message.created'] } },
      salon.token,
    );
    return response.data!.createWebhookEndpoint.endpoint.id;
  };
  const [endpointId, doomedId] = [await create(), await create()];
  const [delivery] = await t.sql<{ id: string }>(
    `INSERT INTO "WebhookDelivery" ("id", "endpointId", "eventPosition", "eventType", "payload", "status", "updatedAt")
     VALUES (gen_random_uuid(), $1, 1, 'message.created', '{}', 'FAILED', now()) RETURNING "id"::text`,
    [endpointId],
  );
  return {
    CreateWebhookEndpoint: { input: { url: 'http://127.0.0.1:9/other', eventTypes: ['message.read'] } },
    UpdateWebhookEndpoint: { id: endpointId, input: { description: 'Back office' } },
    RotateWebhookSecret: { id: endpointId },
    DeleteWebhookEndpoint: { id: doomedId },
    WebhookEndpoints: {},
    WebhookDeliveries: { endpointId },
    RetryWebhookDelivery: { id: delivery!.id },
  };
}

/** A browser's subscription keys: a P-256 public key and 16 random bytes. */
function pushKeys() {
  const ecdh = createECDH('prime256v1');
  return { p256dh: ecdh.generateKeys().toString('base64url'), auth: randomBytes(16).toString('base64url') };
}

/** What only a salon may do (with the webhook operations). */
const SALON_OPERATIONS = new Set(['CreateConversation', 'UpdateConversation', 'ArchiveConversation', 'DeleteConversation']);

describe('query cost counts page sizes', () => {
  it('runs every operation of operations/ with every page size at 100', async () => {
    const fromSalon = await send(t, salon, conversationId, 'to be read');
    const [toEdit, toDelete] = [await send(t, client, conversationId, 'mine'), await send(t, client, conversationId, 'to delete')];
    const spare = await openConversation(t, salon, client, 'Spare');
    const cursor = (await t.gql<{ eventCursor: string }>('{ eventCursor }', {}, client.token)).data!.eventCursor;
    const book = async () =>
      (
        await t.gql<{ createAppointment: { id: string } }>(
          'mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { id } }',
          { input: { salonId: salon.id, startsAt: '2027-05-02T09:00:00Z', service: 'Coupe' } },
          client.token,
        )
      ).data!.createAppointment.id;
    const [toCancel, toMove] = [await book(), await book()];
    const variables: Record<string, Record<string, unknown>> = {
      ConversationView: { id: conversationId },
      Me: {},
      Inbox: {},
      InboxConversation: { id: conversationId },
      SendMessage: { input: { conversationId, content: 'at page 100' } },
      MarkMessageRead: { id: fromSalon.id },
      MarkConversationRead: { id: conversationId },
      SetTyping: { conversationId, isTyping: true },
      EditMessage: { id: toEdit.id, content: 'edited' },
      DeleteMessage: { id: toDelete.id },
      AddReaction: { messageId: fromSalon.id, emoji: '👍' },
      RemoveReaction: { messageId: fromSalon.id, emoji: '👍' },
      MarkConversationUnread: { id: conversationId, fromMessageId: fromSalon.id },
      CreateConversation: { input: { clientUserId: client.id, subject: 'New' } },
      UpdateConversation: { id: spare, input: { subject: 'Renamed' } },
      ArchiveConversation: { id: spare },
      DeleteConversation: { id: spare },
      OnMessageEdited: { conversationId },
      OnMessageDeleted: { conversationId },
      CreateAppointment: { input: { salonId: salon.id, startsAt: '2027-05-01T09:00:00Z', service: 'Coupe' } },
      OnMessageAdded: { conversationId },
      OnMessageRead: { conversationId },
      OnTyping: { conversationId },
      OnUnreadCount: {},
      OnPresence: {},
      OnConversationUpdated: {},
      EventCursor: {},
      Events: { after: cursor },
      OnEvents: { after: cursor },
      SearchMessages: { query: 'coupe' },
      CreateAttachmentUpload: { input: { conversationId, filename: 'photo.png', contentType: 'image/png', byteSize: 67 } },
      CreateAvatarUpload: { input: { filename: 'me.png', contentType: 'image/png', byteSize: 67 } },
      Profile: {},
      UpdateProfile: { input: { displayName: 'Camille D.' } },
      CancelAppointment: { id: toCancel },
      RescheduleAppointment: { id: toMove, startsAt: '2027-05-03T10:00:00Z' },
      NotificationSettings: {},
      UpdateNotificationSettings: { input: { quietHoursStart: '22:00', quietHoursEnd: '07:00', timeZone: 'Europe/Paris' } },
      RegisterPushSubscription: { input: { endpoint: 'http://127.0.0.1:9/push/limits', keys: pushKeys() } },
      UnregisterPushSubscription: { endpoint: 'http://127.0.0.1:9/push/limits' },
      ...(await webhookVariables()),
    };
    // A new operation must be added here, so that it is checked too.
    expect(Object.keys(variables).sort()).toEqual(documents.map((d) => d.name).sort());
    expect(documents.some((d) => d.pageVariables.length > 0)).toBe(true);
    const withPage = (d: (typeof documents)[number]) => ({ ...variables[d.name], ...Object.fromEntries(d.pageVariables.map((name) => [name, 100])) });

    for (const d of documents.filter((d) => d.kind !== 'subscription')) {
      const response = await post(d.document, withPage(d), d.name.includes('Webhook') || SALON_OPERATIONS.has(d.name) ? salon.token : client.token);
      expect({ name: d.name, status: response.status, errors: response.errors }).toEqual({ name: d.name, status: 200, errors: undefined });
      expect(response.data).toBeTruthy();
    }

    const socket = wsClient(t.app.wsUrl(), { authorization: `Bearer ${client.token}` });
    sockets.push(socket);
    const before = await activeSubscriptions();
    const refused: unknown[] = [];
    const subscriptions = documents.filter((d) => d.kind === 'subscription');
    for (const d of subscriptions) {
      socket.subscribe({ query: d.document, variables: withPage(d) }, { next: () => {}, error: (error) => refused.push({ name: d.name, error }), complete: () => {} });
    }
    await expect.poll(async () => ({ joined: (await activeSubscriptions()) - before, refused })).toEqual({ joined: subscriptions.length, refused: [] });
  });

  it('answers the inbox query for a page of 50 (salon, client, appointment, last message with author and attachments, unread count)', async () => {
    const owner = await t.user('SALON');
    const clients = await Promise.all(Array.from({ length: 5 }, () => t.user('CLIENT')));
    const book = async (i: number) => {
      const booker = clients[i % clients.length]!;
      const booked = await t.gql<{ createAppointment: { conversation: { id: string } } }>(
        'mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { conversation { id } } }',
        { input: { clientUserId: booker.id, startsAt: '2027-04-01T10:00:00Z', service: `Service ${i}` } },
        owner.token,
      );
      const conversationId = booked.data!.createAppointment.conversation.id;
      await send(t, booker, conversationId, `reply ${i}`, { attachments: [await uploadAttachment(t, booker, conversationId)] });
    };
    // Ten conversations at a time: the setup is not what this test checks.
    for (let start = 0; start < 50; start += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => book(start + k)));
    const inbox = documents.find((d) => d.name === 'Inbox')!;
    type Inbox = { conversations: { edges: { node: { unreadCount: number; appointment: unknown; salon: { id: string }; lastMessage: { author: { id: string }; attachments: unknown[] } } }[] } };
    const response = await post(inbox.document, { first: 50 }, owner.token);
    expect(response.errors).toBeUndefined();
    const edges = (response.data as Inbox).conversations.edges;
    expect(edges).toHaveLength(50);
    for (const { node } of edges) {
      expect(node).toMatchObject({ unreadCount: 1, salon: { id: owner.id }, appointment: expect.anything() });
      expect(node.lastMessage.attachments).toHaveLength(1);
      expect(clients.map((c) => c.id)).toContain(node.lastMessage.author.id);
    }
  });

  it('refuses 100 × 100 × 100 nested lists with the cost and the limit', async () => {
    const response = await post(
      '{ conversations(first: 100) { edges { node { messages(first: 100) { edges { node { conversation { messages(first: 100) { edges { node { id } } } } } } } } } } }',
      {},
      client.token,
    );
    expect(response.status).toBe(400);
    expect(response.data ?? null).toBeNull();
    const cost = response.errors?.find((error) => error.extensions?.limit === 'cost');
    expect(cost?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', maxCost: MAX_COST, max: MAX_COST });
    expect(cost?.extensions?.cost).toBeGreaterThan(1_000_000);
    // So deep a document also breaks the depth limit; each refusal carries the same code.
    expect(codes(response).every((code) => code === 'QUERY_TOO_COMPLEX')).toBe(true);
  });

  it('computes the cost from the variables of each request, as the README formula says', async () => {
    // 1 + n × (edges 1 + node 1 + messages (1 + n × (edges 1 + node 1 + id 1)))
    const cost = (n: number) => 1 + n * (3 + n * 3);
    // The same document again and again: a refusal must never be served from another request's.
    for (const n of [10, 100, 60, 10, 60, 100]) {
      const response = await post(NESTED_100, { n }, client.token);
      if (cost(n) <= MAX_COST) {
        expect(response.errors).toBeUndefined();
        expect(response.data).toEqual({ conversations: { edges: expect.any(Array) } });
      } else {
        expect(response.status).toBe(400);
        expect(response.errors).toEqual([
          expect.objectContaining({
            message: `Query cost ${cost(n)} exceeds the limit of ${MAX_COST}`,
            extensions: expect.objectContaining({ code: 'QUERY_TOO_COMPLEX', limit: 'cost', cost: cost(n), maxCost: MAX_COST }),
          }),
        ]);
      }
    }
    // The default page sizes count when no page size is given: 20 conversations × 50 messages.
    const defaults = await post('{ conversations { edges { node { messages { edges { node { id } } } } } } }', {}, client.token);
    expect(codes(defaults)).toEqual([]);
    expect(cost(20)).toBeLessThan(MAX_COST);
  });
});

describe('refusals carry a code from the catalogue', () => {
  const aliases = Array.from({ length: 16 }, (_, i) => `a${i}: unreadCount`).join(' ');
  const refusals: { name: string; query: string; code: string; limit?: string }[] = [
    {
      name: 'depth',
      query: '{ conversations { edges { node { lastMessage { conversation { lastMessage { conversation { lastMessage { conversation { client { id } } } } } } } } } } }',
      code: 'QUERY_TOO_COMPLEX',
      limit: 'depth',
    },
    { name: 'aliases', query: `{ ${aliases} }`, code: 'QUERY_TOO_COMPLEX', limit: 'aliases' },
    { name: 'directives', query: `{ ${'unreadCount @include(if: true) '.repeat(51)} }`, code: 'QUERY_TOO_COMPLEX', limit: 'directives' },
    { name: 'tokens', query: `{ ${'unreadCount '.repeat(2001)} }`, code: 'QUERY_TOO_COMPLEX', limit: 'tokens' },
    { name: 'cost', query: NESTED_100.replace('query($n: Int)', '').replaceAll('$n', '100'), code: 'QUERY_TOO_COMPLEX', limit: 'cost' },
    { name: 'page size over 100', query: '{ conversations(first: 1000) { totalCount } }', code: 'BAD_USER_INPUT' },
    { name: 'negative page size', query: '{ conversations(last: -1) { totalCount } }', code: 'BAD_USER_INPUT' },
  ];

  for (const refusal of refusals) {
    it(`${refusal.name}: ${refusal.code} over HTTP (400 for application/graphql-response+json, 200 for application/json) and over WebSocket`, async () => {
      for (const [accept, status] of [['application/graphql-response+json', 400], ['application/json', 200]] as const) {
        const response = await post(refusal.query, {}, client.token, accept);
        expect(response.status).toBe(status);
        expect(response.data ?? null).toBeNull();
        expect(response.errors).toHaveLength(1);
        expect(response.errors![0]!.message).not.toMatch(/syntax error/i);
        expect(response.errors![0]!.extensions).toMatchObject({ code: refusal.code, ...(refusal.limit ? { limit: refusal.limit } : {}) });
      }

      const socket = wsClient(t.app.wsUrl(), { authorization: `Bearer ${client.token}` });
      sockets.push(socket);
      const refused = await overSocket(socket, refusal.query);
      expect(refused.errors?.map((error) => error.extensions?.code)).toEqual([refusal.code]);
      // The refusal ends that operation only: the same socket still answers.
      expect(await overSocket(socket, '{ me { id } }')).toEqual({ data: { me: { id: client.id } } });
    });
  }

  it('messages(first: 1000) is BAD_USER_INPUT naming the argument, and nothing of the request runs', async () => {
    const response = await post(
      'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id conversation { messages(first: 1000) { totalCount } } } }',
      { input: { conversationId, content: 'must not be stored' } },
      client.token,
    );
    expect(response.status).toBe(400);
    expect(response.data ?? null).toBeNull();
    expect(response.errors).toEqual([
      expect.objectContaining({ message: '"first" must be between 0 and 100 (got 1000)', extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'first' }) }),
    ]);
    const stored = await t.sql<{ count: string }>('SELECT count(*) FROM "Message" WHERE content = $1', ['must not be stored']);
    expect(stored[0]!.count).toBe('0');
  });

  it('refuses a subscription whose document costs too much with QUERY_TOO_COMPLEX, and only that subscription', async () => {
    const socket = wsClient(t.app.wsUrl(), { authorization: `Bearer ${salon.token}` });
    sockets.push(socket);
    const before = await activeSubscriptions();
    const running = overSocket(socket, 'subscription($id: ID) { messageAdded(conversationId: $id) { content } }', { id: conversationId });
    await expect.poll(activeSubscriptions).toBe(before + 1);

    const refused = await overSocket(
      socket,
      'subscription { conversationUpdated { messages(first: 100) { edges { node { conversation { messages(first: 100) { edges { node { id } } } } } } } } }',
    );
    expect(refused.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'QUERY_TOO_COMPLEX', limit: 'cost', cost: 30_402, maxCost: MAX_COST }) }),
    ]);
    // The subscription already running on that socket still delivers.
    await send(t, client, conversationId, 'still delivered');
    expect(await running).toEqual({ data: { messageAdded: { content: 'still delivered' } } });
  });
});
