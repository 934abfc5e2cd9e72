import { makeVar } from '@apollo/client';
import { useReactiveVar, useSubscription } from '@apollo/client/react';
import { OnPresenceDocument, OnTypingDocument } from '../../operations/generated/graphql';

/** Who is typing in each conversation (not in the cache: it belongs to no object of the schema). */
const typingVar = makeVar<Readonly<Record<string, string>>>({});

export function useTyping(conversationId: string): string | undefined {
  return useReactiveVar(typingVar)[conversationId];
}

/** Follows typing in one conversation; renders nothing. */
export function TypingFeed({ conversationId, viewerId }: { conversationId: string; viewerId: string }) {
  useSubscription(OnTypingDocument, {
    variables: { conversationId },
    onData: ({ data }) => {
      const typing = data.data?.typing;
      if (!typing || typing.user.id === viewerId) return;
      const { [conversationId]: _, ...others } = typingVar();
      typingVar(typing.isTyping ? { ...others, [conversationId]: typing.user.displayName } : others);
    },
  });
  return null;
}

/** Follows the presence of the viewer's contacts into `User.online`; renders nothing. */
export function PresenceFeed() {
  useSubscription(OnPresenceDocument, {
    onData: ({ client, data }) => {
      const presence = data.data?.presence;
      if (!presence) return;
      client.cache.modify({
        id: client.cache.identify({ __typename: 'User', id: presence.user.id }),
        fields: { online: () => presence.online },
      });
    },
  });
  return null;
}

/** A send that failed, kept with its `clientMessageId` so that a retry cannot duplicate it. */
export interface FailedSend {
  clientMessageId: string;
  content: string;
}

/**
 * Failed sends per conversation, outside the conversation's component: switching conversations
 * and back keeps them. (Sends still pending are the cache's optimistic messages, kept there too.)
 */
const failedSendsVar = makeVar<Readonly<Record<string, readonly FailedSend[]>>>({});
const NONE: readonly FailedSend[] = [];

export function useFailedSends(conversationId: string): readonly FailedSend[] {
  return useReactiveVar(failedSendsVar)[conversationId] ?? NONE;
}

/** Adds a failed send to its conversation, or with `failed` false takes it away (retried). */
export function markFailed(conversationId: string, send: FailedSend, failed: boolean) {
  const all = failedSendsVar();
  const others = (all[conversationId] ?? NONE).filter((item) => item.clientMessageId !== send.clientMessageId);
  failedSendsVar({ ...all, [conversationId]: failed ? [...others, send] : others });
}
