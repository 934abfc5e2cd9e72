import { print, type GraphQLObjectType } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { MeDocument, OnPresenceDocument, OnUnreadCountDocument, SendMessageDocument } from '../operations/generated/graphql.js';
import { buildSchema } from '../src/schema/index.js';
import { useTestApp, type TestUser } from './support/app.js';
import { openConversation } from './support/fixtures.js';
import { liveTopics, rawSocket } from './support/ws.js';

const t = useTestApp();

/** What a refused call answers today, and answered when each resolver called requireViewer. */
const refusedAt = (field: string) => ({
  message: 'Authentication required',
  path: [field],
  extensions: { code: 'UNAUTHENTICATED' },
});

let salon: TestUser;
let client: TestUser;
let conversationId: string;

beforeAll(async () => {
  salon = await t.user('SALON');
  client = await t.user('CLIENT');
  conversationId = await openConversation(t, salon, client);
});

/** Every table's row count: a refused call leaves all of them as they were. */
async function stored() {
  const tables = ['User', 'Appointment', 'Conversation', 'Message', 'MessageAttachment', 'MessageNotification', 'UserEventStream', 'UserEvent'];
  const [row] = await t.sql<Record<string, number>>(`SELECT ${tables.map((name) => `(SELECT count(*) FROM "${name}")::int AS "${name}"`).join(', ')}`);
  return row;
}

describe('every root field needs a viewer, declared as data', () => {
  it('each Query, Mutation and Subscription field carries authScopes { viewer: true }', () => {
    const schema = buildSchema();
    const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()] as GraphQLObjectType[];
    const unprotected = roots.flatMap((root) =>
      Object.values(root.getFields())
        .filter((field) => JSON.stringify((field.extensions.pothosOptions as { authScopes?: unknown }).authScopes) !== '{"viewer":true}')
        .map((field) => `${root.name}.${field.name}`),
    );
    expect(unprotected).toEqual([]);
  });
});

describe('without a token', () => {
  it('a protected query: UNAUTHENTICATED, the same message at the same path, HTTP 401, nothing stored', async () => {
    const before = await stored();
    const response = await t.gql(print(MeDocument));
    expect(response.status).toBe(401);
    expect(response.data).toBeNull();
    expect(response.errors).toEqual([expect.objectContaining(refusedAt('me'))]);
    expect(await stored()).toEqual(before);
  });

  it('a protected mutation: UNAUTHENTICATED, and no message, notification or event stored', async () => {
    const before = await stored();
    const response = await t.gql(print(SendMessageDocument), { input: { conversationId, content: 'no token' } });
    expect(response.status).toBe(401);
    expect(response.errors).toEqual([expect.objectContaining(refusedAt('sendMessage'))]);
    expect(await stored()).toEqual(before);
  });

  it('a protected subscription over graphql-ws (a socket of the API\'s own GraphiQL page): the operation alone is refused', async () => {
    const before = await stored();
    const host = new URL(t.app.wsUrl()).host;
    const { socket, messages, subscribe } = await rawSocket(t.app.wsUrl(), {}, { origin: `http://${host}` });
    subscribe('1', print(OnUnreadCountDocument));
    await expect.poll(() => messages.find((message) => message.id === '1')).toEqual({
      id: '1',
      type: 'error',
      payload: [{ message: 'Authentication required', extensions: { code: 'UNAUTHENTICATED' } }],
    });
    socket.close();
    expect(await stored()).toEqual(before);
  });

  it('a protected subscription over server-sent events is refused before it starts: no topic subscribed', async () => {
    const topics = await liveTopics(t.app);
    // presence subscribes a topic as its first step: the check has to come before that step.
    const response = await fetch(t.app.url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: print(OnPresenceDocument) }),
    });
    expect(response.status).toBe(401);
    const text = await response.text();
    const events = text.split('\n\n').filter((block) => block.startsWith('event:'));
    expect(events).toHaveLength(2);
    expect(events[1]).toBe('event: complete\ndata:');
    const next = JSON.parse(events[0]!.replace('event: next\ndata: ', '')) as { errors: unknown[] };
    expect(next.errors).toEqual([expect.objectContaining(refusedAt('presence'))]);
    expect(await liveTopics(t.app)).toBe(topics);
  });

  it('what needs no viewer still answers: __typename and introspection', async () => {
    const response = await t.gql('{ __typename __schema { queryType { name } } }');
    expect(response.status).toBe(200);
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({ __typename: 'Query', __schema: { queryType: { name: 'Query' } } });
  });
});

describe('with a token', () => {
  it('the same fields resolve with the viewer the token names', async () => {
    const response = await t.gql<{ me: { id: string } }>(print(MeDocument), {}, client.token);
    expect(response.errors).toBeUndefined();
    expect(response.data?.me.id).toBe(client.id);
  });
});
