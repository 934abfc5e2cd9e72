import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache, ServerError } from '@apollo/client';
import { ErrorLink } from '@apollo/client/link/error';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { relayStylePagination } from '@apollo/client/utilities';
import { OperationTypeNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import introspection from '../../operations/generated/possible-types';

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Resolves when the browser says it is online: no reconnection attempts while it is not. */
function online(): Promise<void> {
  if (navigator.onLine) return Promise.resolve();
  return new Promise((resolve) => window.addEventListener('online', () => resolve(), { once: true }));
}

export interface Api {
  apollo: ApolloClient;
  ws: Client;
  dispose(): void;
}

/**
 * Apollo Client for one signed-in user: queries and mutations over HTTP behind Automatic Persisted
 * Queries (the hash first, the document only when the server does not know it), subscriptions over
 * one graphql-ws socket. `onUnauthorized` runs when the API refuses the token (UNAUTHENTICATED over
 * HTTP, or the socket closed with 4401).
 */
export function createApi(token: string, onUnauthorized: () => void): Api {
  const authorization = `Bearer ${token}`;
  const http = new HttpLink({ uri: '/graphql', headers: { authorization } });
  // crypto.subtle exists in secure contexts only (https, or localhost): elsewhere, whole documents.
  const httpLink = globalThis.crypto?.subtle ? new PersistedQueryLink({ sha256 }).concat(http) : http;
  const unauthorized = new ErrorLink(({ error }) => {
    const refused = CombinedGraphQLErrors.is(error)
      ? error.errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED')
      : ServerError.is(error) && error.statusCode === 401;
    if (refused) onUnauthorized();
  });

  let pongTimeout: ReturnType<typeof setTimeout> | undefined;
  const ws = createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    connectionParams: { authorization },
    // A chat keeps trying: every drop is retried, waiting for the browser to be back online first.
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: async (retries) => {
      await online();
      await new Promise((resolve) => setTimeout(resolve, Math.min(1_000 * 2 ** retries, 10_000) * (0.5 + Math.random() / 2)));
    },
    // A half-open socket (a phone leaving Wi-Fi) never closes by itself: ping, and close it
    // when no pong comes back, so that the retry above starts.
    keepAlive: 10_000,
    on: {
      ping: (received) => {
        if (!received) pongTimeout = setTimeout(() => ws.terminate(), 5_000);
      },
      pong: (received) => {
        if (received) clearTimeout(pongTimeout);
      },
      closed: (event) => {
        clearTimeout(pongTimeout);
        if ((event as CloseEvent | undefined)?.code === 4401) onUnauthorized();
      },
    },
  });
  // The browser knows before the socket does: close it at once when the network goes away.
  const goneOffline = () => ws.terminate();
  window.addEventListener('offline', goneOffline);

  const link = ApolloLink.split(
    ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
    new GraphQLWsLink(ws),
    unauthorized.concat(httpLink),
  );
  const apollo = new ApolloClient({
    link,
    cache: new InMemoryCache({
      possibleTypes: introspection.possibleTypes,
      typePolicies: {
        Query: { fields: { conversations: relayStylePagination(['status']) } },
        // Newest first: each page (`after` the oldest loaded) goes further back in time.
        Conversation: { fields: { messages: relayStylePagination([]) } },
      },
    }),
  });
  return {
    apollo,
    ws,
    dispose() {
      window.removeEventListener('offline', goneOffline);
      apollo.stop();
      void ws.dispose();
    },
  };
}
