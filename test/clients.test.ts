/**
 * The API as its frontends meet it: Apollo Client (HttpLink behind the persisted-query link,
 * GraphQLWsLink for subscriptions) and urql (@urql/core with the persisted exchange and
 * subscriptionExchange over graphql-ws), against a running server, with the typed documents
 * codegen makes from operations/.
 */
import { createHash } from 'node:crypto';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { cacheExchange, Client as UrqlClient, fetchExchange, subscriptionExchange } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  InboxDocument,
  MarkConversationReadDocument,
  OnMessageAddedDocument,
  SendMessageDocument,
} from '../operations/generated/graphql.js';
import { loadManifest } from '../src/persisted.js';
import { useTestApp, type TestUser } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';
import { liveTopics, untilLive, wsClient } from './support/ws.js';

const t = useTestApp();
let salon: TestUser;
let client: TestUser;
let conversationId: string;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

beforeAll(async () => {
  salon = await t.user('SALON');
  client = await t.user('CLIENT');
  conversationId = await openConversation(t, salon, client);
  await send(t, salon, conversationId, 'Bienvenue');
});

/** Counts what travels on the wire: whether a request carried a document or only a hash. */
function recordingFetch(log: { hasQuery: boolean; hash?: string }[]): typeof fetch {
  return async (input, init) => {
    const body = JSON.parse(String(init?.body ?? '{}')) as { query?: string; extensions?: { persistedQuery?: { sha256Hash?: string } } };
    log.push({ hasQuery: Boolean(body.query), hash: body.extensions?.persistedQuery?.sha256Hash });
    return fetch(input, init);
  };
}

describe('Apollo Client', () => {
  it('reads the inbox and sends with variables through APQ, and receives messageAdded over GraphQLWsLink', async () => {
    const wire: { hasQuery: boolean; hash?: string }[] = [];
    const ws = wsClient(t.app.wsUrl(), { authorization: `Bearer ${client.token}` });
    const http = ApolloLink.from([
      new PersistedQueryLink({ sha256 }),
      new HttpLink({ uri: t.app.url(), headers: { authorization: `Bearer ${client.token}` }, fetch: recordingFetch(wire) }),
    ]);
    const link = ApolloLink.split(
      ({ query }) => query.definitions.some((d) => d.kind === 'OperationDefinition' && d.operation === 'subscription'),
      new GraphQLWsLink(ws),
      http,
    );
    const apollo = new ApolloClient({ link, cache: new InMemoryCache() });

    const inbox = await apollo.query({ query: InboxDocument, variables: { first: 10 }, fetchPolicy: 'network-only' });
    expect(inbox.data?.conversations.edges[0]?.node).toMatchObject({ id: conversationId, unreadCount: 1, lastMessage: { content: 'Bienvenue' } });
    // APQ: the hash first, PersistedQueryNotFound, then hash + document; the next time the hash alone.
    expect(wire.slice(0, 2).map((r) => r.hasQuery)).toEqual([false, true]);
    await apollo.query({ query: InboxDocument, variables: { first: 5 }, fetchPolicy: 'network-only' });
    expect(wire[wire.length - 1]).toMatchObject({ hasQuery: false });

    const topicsBefore = await liveTopics(t.app);
    const received = new Promise<string>((resolve) => {
      const subscription = apollo.subscribe({ query: OnMessageAddedDocument, variables: { conversationId } }).subscribe({
        next: (result) => {
          if (result.data?.messageAdded) {
            subscription.unsubscribe();
            resolve(result.data.messageAdded.content);
          }
        },
      });
    });
    await untilLive(t.app, topicsBefore, 1);
    const sent = await apollo.mutate({
      mutation: SendMessageDocument,
      variables: { input: { conversationId, content: 'Merci, à mardi', clientMessageId: 'apollo-1' } },
    });
    expect(sent.data?.sendMessage).toMatchObject({ content: 'Merci, à mardi', author: { id: client.id } });
    await send(t, salon, conversationId, 'Parfait');
    expect(await received).toBe('Merci, à mardi');
    await apollo.mutate({ mutation: MarkConversationReadDocument, variables: { id: conversationId } });
    await ws.dispose();
  });
});

describe('urql', () => {
  it('reads the inbox and sends by manifest hash, and receives messageAdded over graphql-ws', async () => {
    const wire: { hasQuery: boolean; hash?: string }[] = [];
    const ws = wsClient(t.app.wsUrl(), { token: salon.token });
    const urql = new UrqlClient({
      url: t.app.url(),
      fetch: recordingFetch(wire),
      fetchOptions: { headers: { authorization: `Bearer ${salon.token}` } },
      exchanges: [
        cacheExchange,
        // Hashes from the codegen manifest: the server knows them without any registration.
        persistedExchange({
          preferGetForPersistedQueries: false,
          generateHash: async (_query, document) =>
            ((document as { __meta__?: { hash?: string } }).__meta__?.hash ?? '').replace(/^sha256:/, ''),
        }),
        fetchExchange,
        subscriptionExchange({
          forwardSubscription: (request) => ({
            subscribe: (sink) => ({
              unsubscribe: ws.subscribe({ query: request.query ?? '', variables: request.variables ?? {} }, sink),
            }),
          }),
        }),
      ],
    });

    const inbox = await urql.query(InboxDocument, { first: 10 }, { requestPolicy: 'network-only' }).toPromise();
    expect(inbox.error).toBeUndefined();
    expect(inbox.data?.conversations.totalCount).toBe(1);
    // Only the manifest hash went over the wire, and it is the sha256 of the manifest's document.
    const inboxHash = (InboxDocument as unknown as { __meta__: { hash: string } }).__meta__.hash.replace(/^sha256:/, '');
    expect(wire[0]).toEqual({ hasQuery: false, hash: inboxHash });
    expect(sha256(loadManifest().get(inboxHash) ?? '')).toBe(inboxHash);

    const topicsBefore = await liveTopics(t.app);
    const received = new Promise<string>((resolve) => {
      const { unsubscribe } = urql.subscription(OnMessageAddedDocument, { conversationId }).subscribe((result) => {
        if (result.data?.messageAdded) {
          unsubscribe();
          resolve(result.data.messageAdded.content);
        }
      });
    });
    await untilLive(t.app, topicsBefore, 1);
    const sent = await urql.mutation(SendMessageDocument, { input: { conversationId, content: 'Depuis urql' } }).toPromise();
    expect(sent.error).toBeUndefined();
    expect(sent.data?.sendMessage.content).toBe('Depuis urql');
    expect(await received).toBe('Depuis urql');
    await ws.dispose();
  });
});
