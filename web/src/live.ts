import { CombinedGraphQLErrors, type ApolloCache, type ApolloClient, type Reference } from '@apollo/client';
import type { Client } from 'graphql-ws';
import {
  InboxConversationDocument,
  InboxConversationFieldsFragmentDoc,
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

/** The status a list of conversations is filtered on, from its key (`conversations:{"status":"ACTIVE"}`). */
const listStatus = (storeFieldName: string) => /"status":"(\w+)"/.exec(storeFieldName)?.[1];

/**
 * A conversation is in the inbox list of its status, once, and in no other: a new conversation
 * joins its list, an archived or unarchived one moves between them. Each list is sorted on screen.
 */
function fileConversation(cache: ApolloCache, conversation: InboxConversationFieldsFragment) {
  cache.modify({
    id: 'ROOT_QUERY',
    fields: {
      conversations: (value, { readField, toReference, storeFieldName }) => {
        const page = value as StoredPage;
        const node = toReference(conversation);
        const status = listStatus(storeFieldName);
        if (!node || !status) return value;
        const has = page.edges.some((edge) => readField('id', edge.node) === conversation.id);
        if (status !== conversation.status) {
          return has ? { ...page, edges: page.edges.filter((edge) => readField('id', edge.node) !== conversation.id) } : value;
        }
        return has ? value : { ...page, edges: [{ __typename: 'ConversationEdge', cursor: '', node }, ...page.edges] };
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
      // The event's fields are merged already; a conversation the cache lacks (new, or never
      // loaded) is fetched as the inbox shows it.
      const { id } = payload.conversation;
      const known = cache.readFragment({ id: conversationRef(cache, id), fragment: InboxConversationFieldsFragmentDoc, fragmentName: 'InboxConversationFields' });
      const conversation = known ?? (await client.query({ query: InboxConversationDocument, variables: { id }, fetchPolicy: 'network-only' })).data?.conversation;
      if (conversation) fileConversation(cache, conversation);
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
 * remembering the cursor of the last event applied. After a drop, or an event that could not be
 * applied, it subscribes again from that cursor, so what was missed is replayed once; on
 * CURSOR_EXPIRED (too long away) `reload` loads the data again and returns a fresh cursor.
 * Returns a function that stops following.
 */
export function followEvents(client: ApolloClient, ws: Client, cursor: string, reload: () => Promise<string>): () => void {
  let current: { unsubscribe(): void } | undefined;
  let generation = 0;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Events are applied one after another, in the stream's order, even when one awaits a query.
  let applying = Promise.resolve();
  // A timer or a reload may end after the stop: then nothing starts again.
  const later = (ms: number) => {
    if (!stopped) timer = setTimeout(subscribe, ms);
  };

  function subscribe() {
    if (stopped) return;
    current?.unsubscribe();
    const mine = ++generation;
    const failed = (error: unknown) => {
      if (mine !== generation) return;
      generation++;
      current?.unsubscribe();
      current = undefined;
      if (isExpired(error)) {
        reload().then((fresh) => {
          if (stopped) return;
          cursor = fresh;
          subscribe();
        }, (reloadError: unknown) => {
          console.error('Reload after CURSOR_EXPIRED failed', reloadError);
          later(2_000);
        });
      } else {
        later(1_000);
      }
    };
    current = client.subscribe({ query: OnEventsDocument, variables: { after: cursor } }).subscribe({
      next: ({ data, error }) => {
        if (error) return failed(error);
        if (!data || mine !== generation) return;
        const event = data.events;
        applying = applying.then(async () => {
          // After a failure this subscription is over: its later events come again from `cursor`.
          if (mine !== generation) return;
          try {
            await applyEvent(client, event.payload);
            if (mine === generation) cursor = event.cursor;
          } catch (error) {
            console.error(`Event ${event.cursor} not applied: following again from the last one applied`, error);
            failed(error);
          }
        });
      },
      error: failed,
      complete: () => failed(new Error('The event stream ended')),
    });
  }

  // graphql-ws re-sends a subscription as it was first sent (with the first `after`) when its
  // socket comes back; start it again from the last event applied instead.
  const offClosed = ws.on('closed', () => {
    if (current) subscribe();
  });
  subscribe();
  return () => {
    stopped = true;
    generation++;
    clearTimeout(timer);
    offClosed();
    current?.unsubscribe();
    current = undefined;
  };
}
