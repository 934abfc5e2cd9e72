import { useQuery } from '@apollo/client/react';
import { useCallback, useEffect, useState } from 'react';
import { InboxDocument } from '../../operations/generated/graphql';
import type { Api } from './apollo';
import { Conversation } from './Conversation';
import { PresenceFeed, TypingFeed } from './feeds';
import { LanguageSwitch, useT } from './i18n';
import { Inbox } from './Inbox';
import { followEvents } from './live';
import type { Session } from './session';

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

const INBOX_VARIABLES = { first: 50 };

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

export function Messenger({ session, api, onSignOut }: { session: Session; api: Api; onSignOut(): void }) {
  const t = useT();
  const online = useOnline();
  const [openId, open] = useOpenConversation();
  // The inbox and `eventCursor` in one request: the stream is followed from that very moment.
  const inbox = useQuery(InboxDocument, { variables: INBOX_VARIABLES });
  const firstCursor = inbox.data?.eventCursor;

  useEffect(() => {
    if (!firstCursor) return;
    // CURSOR_EXPIRED (away for longer than the API keeps events): reload what is on screen,
    // the inbox with a new cursor among it.
    return followEvents(api.apollo, api.ws, firstCursor, async () => {
      await api.apollo.refetchQueries({ include: 'active' });
      const reloaded = api.apollo.readQuery({ query: InboxDocument, variables: INBOX_VARIABLES });
      if (!reloaded) throw new Error('Inbox reload failed');
      return reloaded.eventCursor;
    });
    // Started once, from the first load: the follower keeps its own cursor from then on.
  }, [firstCursor !== undefined, api]);

  const conversations = inbox.data?.conversations.edges.map((edge) => edge.node) ?? [];
  const totalUnread = inbox.data?.unreadCount ?? 0;
  return (
    <div className="app" data-view={openId ? 'conversation' : 'inbox'}>
      <header className="bar">
        <h1>
          {t.appName}
          {totalUnread > 0 && <span className="badge" aria-label={t.unread(totalUnread)}>{totalUnread}</span>}
        </h1>
        <span className="who">
          <span className="visually-hidden">{t.signedInAs} </span>
          {session.user.displayName}
        </span>
        <LanguageSwitch />
        <button type="button" onClick={onSignOut}>{t.signOut}</button>
      </header>
      {!online && <p className="offline-banner" role="status">{t.networkOffline}</p>}
      <div className="panes">
        <Inbox conversations={conversations} role={session.user.role} openId={openId} onOpen={open} />
        <main className="conversation-pane">
          {openId ? (
            <Conversation key={openId} id={openId} viewer={session.user} onBack={() => open(null)} />
          ) : (
            <p className="placeholder">{t.chooseConversation}</p>
          )}
        </main>
      </div>
      {conversations.map((conversation) => (
        <TypingFeed key={conversation.id} conversationId={conversation.id} viewerId={session.user.id} />
      ))}
      <PresenceFeed />
    </div>
  );
}
