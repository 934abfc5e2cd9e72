import { useQuery } from '@apollo/client/react';
import { useCallback, useEffect, useState } from 'react';
import { EventCursorDocument, InboxDocument, MeDocument, type ConversationStatus } from '../../operations/generated/graphql';
import type { Api } from './apollo';
import { Conversation } from './Conversation';
import { PresenceFeed, TypingFeed } from './feeds';
import { LanguageSwitch, useT } from './i18n';
import { Inbox } from './Inbox';
import { followEvents } from './live';
import { Badge, LoadFailed } from './status';

/** The open conversation is in the URL (`?conversation=<id>`, as the API's notification links say). */
function useOpenConversation(): [string | null, (id: string | null) => void] {
  const read = () => new URLSearchParams(location.search).get('conversation');
  const [id, setId] = useState(read);
  useEffect(() => {
    const onPop = () => setId(read());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const open = useCallback((next: string | null) => {
    history.pushState(null, '', next ? `?conversation=${encodeURIComponent(next)}` : location.pathname);
    setId(next);
  }, []);
  return [id, open];
}

/** Conversations per page of the inbox; "Load more" asks for the next. */
const PAGE = 30;

function useOnline() {
  const [online, setOnline] = useState(navigator.onLine);
  useEffect(() => {
    const update = () => setOnline(navigator.onLine);
    window.addEventListener('online', update);
    window.addEventListener('offline', update);
    return () => {
      window.removeEventListener('online', update);
      window.removeEventListener('offline', update);
    };
  }, []);
  return online;
}

/** A failed load is said on screen; a refetch that fails again shows there too, so its rejection is not news. */
const retry = (refetch: () => Promise<unknown>) => () => void refetch().catch(() => undefined);

export function Messenger({ api, onSignOut }: { api: Api; onSignOut(): void }) {
  const t = useT();
  const online = useOnline();
  const [openId, open] = useOpenConversation();
  const [status, setStatus] = useState<ConversationStatus>('ACTIVE');
  const [loadingMore, setLoadingMore] = useState(false);
  // Who the token is: the dev sign-in only gave the token.
  const me = useQuery(MeDocument);
  const viewer = me.data?.me;
  // The inbox of one status, with `eventCursor` in the same request: the stream is followed from that very moment.
  const inbox = useQuery(InboxDocument, { variables: { first: PAGE, status } });

  // Followed from the first inbox loaded; the follower keeps its own cursor from then on.
  const [from, setFrom] = useState<string>();
  if (!from && inbox.data) setFrom(inbox.data.eventCursor);
  useEffect(() => {
    if (!from) return;
    // CURSOR_EXPIRED (away for longer than the API keeps events): reload what is on screen,
    // the inbox with a new cursor among it.
    return followEvents(api.apollo, api.ws, from, async () => {
      await api.apollo.refetchQueries({ include: 'active' });
      const reloaded = api.apollo.readQuery({ query: EventCursorDocument });
      if (!reloaded) throw new Error('Inbox reload failed');
      return reloaded.eventCursor;
    });
  }, [from, api]);

  const connection = inbox.data?.conversations;
  const loadMore = () => {
    setLoadingMore(true);
    inbox.fetchMore({ variables: { after: connection?.pageInfo.endCursor } })
      .catch((error: unknown) => console.error('Loading more conversations failed', error))
      .finally(() => setLoadingMore(false));
  };
  const totalUnread = inbox.data?.unreadCount ?? 0;
  return (
    <div className="app" data-view={openId ? 'conversation' : 'inbox'}>
      <header className="bar">
        <h1>
          {t.appName}
          {totalUnread > 0 && <Badge count={totalUnread} />}
        </h1>
        {viewer && (
          <span className="who">
            <span className="visually-hidden">{t.signedInAs} </span>
            {viewer.displayName}
          </span>
        )}
        <LanguageSwitch />
        <button type="button" onClick={onSignOut}>{t.signOut}</button>
      </header>
      {!online && <p className="offline-banner" role="status">{t.networkOffline}</p>}
      {me.error && !viewer ? (
        <LoadFailed onRetry={retry(me.refetch)} />
      ) : !viewer ? (
        <p className="placeholder">{t.loading}</p>
      ) : (
        <div className="panes">
          <Inbox
            conversations={connection?.edges.map((edge) => edge.node)}
            status={status}
            onStatus={setStatus}
            onLoadMore={connection?.pageInfo.hasNextPage ? loadMore : undefined}
            loadingMore={loadingMore}
            onRetry={inbox.error && !inbox.data ? retry(inbox.refetch) : undefined}
            viewer={viewer}
            openId={openId}
            onOpen={open}
          />
          <main className="conversation-pane">
            {openId ? (
              <Conversation key={openId} id={openId} viewer={viewer} onBack={() => open(null)} />
            ) : (
              <p className="placeholder">{t.chooseConversation}</p>
            )}
          </main>
          {/* The open conversation's typing, when its row is not shown (another filter or page). */}
          {openId && <TypingFeed conversationId={openId} viewerId={viewer.id} />}
        </div>
      )}
      <PresenceFeed />
    </div>
  );
}
