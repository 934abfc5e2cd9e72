import { CombinedGraphQLErrors, type ApolloCache, type ApolloClient, type Reference } from '@apollo/client';
import type { Client } from 'graphql-ws';
import {
  InboxConversationDocument,
  OnEventsDocument,
  type InboxConversationFieldsFragment,
  type MessageFieldsFragment,
  type ViewerEventFieldsFragment,
} from '../../operations/generated/graphql';

type Payload = ViewerEventFieldsFragment['payload'];
/** A connection as relayStylePagination stores it. */
interface StoredPage { edges: readonly { node: Reference }[] }

const conversationRef = (cache: ApolloCache, id: string) => cache.identify({ __typename: 'Conversation', id });
const messageRef = (cache: ApolloCache, id: string) => cache.identify({ __typename: 'Message', id });

/** A new message goes into its conversation's loaded page, in `seq` order, once. */
export function addMessage(cache: ApolloCache, message: MessageFieldsFragment) {
  cache.modify({
    id: conversationRef(cache, message.conversationId),
    fields: {
      lastMessage: (current: Reference | null, { readField, toReference }) =>
        current && (readField<number>('seq', current) ?? 0) > message.seq ? current : toReference(message),
      lastMessageAt: (current: string | null) => (current && current > message.createdAt ? current : message.createdAt),
      messages: (value, { readField, toReference }) => {
        const page = value as StoredPage;
        const node = toReference(message);
        if (!node || page.edges.some((edge) => readField('id', edge.node) === message.id)) return value;
        // Newest first: before the first message older than this one.
        const at = page.edges.findIndex((edge) => (readField<number>('seq', edge.node) ?? 0) < message.seq);
        const edge = { __typename: 'MessageEdge', cursor: '', node };
        const edges = [...page.edges];
        edges.splice(at === -1 ? edges.length : at, 0, edge);
        return { ...page, edges };
      },
    },
  });
}

/** A conversation the inbox did not have (created since it was loaded) joins the list. */
function addConversation(cache: ApolloCache, conversation: InboxConversationFieldsFragment) {
  cache.modify({
    id: 'ROOT_QUERY',
    fields: {
      conversations: (value, { readField, toReference, storeFieldName }) => {
        const page = value as StoredPage;
        const node = toReference(conversation);
        // The lists filtered by status are left to their next load.
        if (!node || storeFieldName.includes('"status":"')) return value;
        if (page.edges.some((edge) => readField('id', edge.node) === conversation.id)) return value;
        return { ...page, edges: [{ __typename: 'ConversationEdge', cursor: '', node }, ...page.edges] };
      },
    },
  });
}

/**
 * What an event changes in the cache. Objects an event carries with their id (an edited message,
 * its reactions, a renamed or archived conversation, a profile) are merged by Apollo as the event
 * arrives; here are the changes that are not an object's own fields: lists, counters, flags.
 */
export async function applyEvent(client: ApolloClient, payload: Payload) {
  const { cache } = client;
  switch (payload.__typename) {
    case 'MessageAddedEvent':
      return addMessage(cache, payload.message);
    case 'MessageDeletedEvent':
      cache.modify({ id: messageRef(cache, payload.messageId), fields: { isDeleted: () => true, content: () => '', attachments: () => [], reactions: () => [] } });
      return;
    case 'MessageReadEvent':
    case 'MessageUnreadEvent': {
      const readAt = payload.__typename === 'MessageReadEvent' ? payload.readAt : null;
      for (const id of payload.messageIds) cache.modify({ id: messageRef(cache, id), fields: { readAt: () => readAt } });
      return;
    }
    case 'UnreadCountEvent':
      cache.modify({ id: conversationRef(cache, payload.conversationId), fields: { unreadCount: () => payload.conversationUnread } });
      cache.modify({ id: 'ROOT_QUERY', fields: { unreadCount: () => payload.totalUnread } });
      return;
    case 'ConversationUpdatedEvent': {
      if (!payload.created) return;
      const { data } = await client.query({ query: InboxConversationDocument, variables: { id: payload.conversation.id }, fetchPolicy: 'network-only' });
      if (data?.conversation) addConversation(cache, data.conversation);
      return;
    }
    case 'ConversationDeletedEvent':
      cache.evict({ id: conversationRef(cache, payload.conversationId) });
      cache.gc();
      return;
    default:
  }
}

const isExpired = (error: unknown) =>
  CombinedGraphQLErrors.is(error) && error.errors.some((e) => e.extensions?.code === 'CURSOR_EXPIRED');

/**
 * Follows the viewer's event stream from `cursor` (the `eventCursor` loaded with the inbox),
 * remembering the cursor of the last event applied. After a drop it subscribes again from that
 * cursor, so what happened meanwhile is replayed once; on CURSOR_EXPIRED (too long away) `reload`
 * loads the data again and returns a fresh cursor. Returns a function that stops following.
 */
export function followEvents(client: ApolloClient, ws: Client, cursor: string, reload: () => Promise<string>): () => void {
  let current: { unsubscribe(): void } | undefined;
  let generation = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Events are applied one after another, in the stream's order, even when one awaits a query.
  let applying = Promise.resolve();

  const subscribe = () => {
    current?.unsubscribe();
    const mine = ++generation;
    const failed = (error: unknown) => {
      if (mine !== generation) return;
      generation++;
      current = undefined;
      if (isExpired(error)) {
        reload().then((fresh) => { cursor = fresh; subscribe(); }, () => { timer = setTimeout(subscribe, 2_000); });
      } else {
        timer = setTimeout(subscribe, 1_000);
      }
    };
    current = client.subscribe({ query: OnEventsDocument, variables: { after: cursor } }).subscribe({
      next: ({ data, error }) => {
        if (error) return failed(error);
        if (!data || mine !== generation) return;
        const event = data.events;
        applying = applying.then(() => applyEvent(client, event.payload)).catch(() => undefined);
        cursor = event.cursor;
      },
      error: failed,
      complete: () => failed(new Error('The event stream ended')),
    });
  };

  // graphql-ws re-sends a subscription as it was first sent (with the first `after`) when its
  // socket comes back; start it again from the last event applied instead.
  const offClosed = ws.on('closed', () => {
    if (current) subscribe();
  });
  subscribe();
  return () => {
    generation++;
    clearTimeout(timer);
    offClosed();
    current?.unsubscribe();
    current = undefined;
  };
}
