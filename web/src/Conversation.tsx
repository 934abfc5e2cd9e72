import { CombinedGraphQLErrors } from '@apollo/client';
import { useMutation, useQuery } from '@apollo/client/react';
import { Fragment, useEffect, useLayoutEffect, useRef, useState, type FormEvent } from 'react';
import {
  AddReactionDocument,
  ConversationViewDocument,
  MarkConversationReadDocument,
  RemoveReactionDocument,
  SendMessageDocument,
  SetTypingDocument,
  type MeQuery,
  type MessageFieldsFragment,
} from '../../operations/generated/graphql';
import { markFailed, useFailedSends, useTyping } from './feeds';
import { dayKey, dayLabel, newId, time } from './format';
import { useT } from './i18n';
import { PresenceDot } from './Inbox';
import { addMessage } from './live';
import { LoadFailed } from './status';

const PAGE = 30;
const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '🙏'];
/** Typing is re-announced at most this often while keys are pressed (the server forgets it after 5 s). */
const TYPING_REFRESH_MS = 3_000;
type Message = MessageFieldsFragment;
type Viewer = NonNullable<MeQuery['me']>;

const hasCode = (error: unknown, code: string) =>
  CombinedGraphQLErrors.is(error) && error.errors.some((e) => e.extensions?.code === code);

function Reactions({ message }: { message: Message }) {
  const t = useT();
  const [add] = useMutation(AddReactionDocument);
  const [remove] = useMutation(RemoveReactionDocument);
  const [picking, setPicking] = useState(false);
  const [problem, setProblem] = useState<string>();
  const toggle = (emoji: string, mine: boolean) => {
    setPicking(false);
    setProblem(undefined);
    (mine ? remove : add)({ variables: { messageId: message.id, emoji } }).catch((error: unknown) => {
      console.error('Reaction not saved', error);
      setProblem(hasCode(error, 'RATE_LIMITED') ? t.rateLimited : t.reactionFailed);
    });
  };
  return (
    <div className="reactions">
      {message.reactions.map(({ emoji, count, reactedByMe }) => (
        <button key={emoji} type="button" className="reaction" aria-pressed={reactedByMe} aria-label={t.reaction(emoji, count, reactedByMe)} onClick={() => toggle(emoji, reactedByMe)}>
          {emoji} {count}
        </button>
      ))}
      <button type="button" className="reaction add" aria-expanded={picking} aria-label={t.react} title={t.react} onClick={() => setPicking(!picking)}>
        +
      </button>
      {picking && (
        <span className="picker" role="group" aria-label={t.react}>
          {QUICK_REACTIONS.map((emoji) => (
            <button key={emoji} type="button" onClick={() => toggle(emoji, message.reactions.some((r) => r.emoji === emoji && r.reactedByMe))}>
              {emoji}
            </button>
          ))}
        </span>
      )}
      {problem && <span className="problem" role="alert">{problem}</span>}
    </div>
  );
}

function Bubble({ message, mine }: { message: Message; mine: boolean }) {
  const t = useT();
  if (message.kind === 'SYSTEM') {
    return <p className="system" role="note" data-seq={message.seq}>{message.content}</p>;
  }
  const pending = message.id.startsWith('pending:');
  const status = pending ? t.sending : message.readAt ? t.read : t.sent;
  return (
    <article className={`message ${mine ? 'mine' : 'theirs'}`} data-seq={message.seq} aria-label={`${message.author?.displayName ?? ''}, ${time(message.createdAt, t.language)}`}>
      {message.isDeleted ? (
        <p className="deleted">{t.deleted}</p>
      ) : (
        <>
          {message.content && <p className="content">{message.content}</p>}
          {message.attachments.map((attachment) =>
            attachment.type.startsWith('image/') ? (
              <a key={attachment.url} href={attachment.url} target="_blank" rel="noreferrer">
                <img className="attachment" src={attachment.url} alt={t.attachment} />
              </a>
            ) : (
              <a key={attachment.url} className="file" href={attachment.url} target="_blank" rel="noreferrer">{t.attachment} · {attachment.type.split('/')[1]?.toUpperCase()}</a>
            ),
          )}
        </>
      )}
      <footer className="meta">
        <time dateTime={message.createdAt}>{time(message.createdAt, t.language)}</time>
        {message.editedAt && <span> · {t.edited}</span>}
        {mine && (
          <span className={`ticks${message.readAt ? ' read' : ''}`} title={status}>
            <span aria-hidden="true">{pending ? '🕓' : message.readAt ? '✓✓' : '✓'}</span>
            <span className="visually-hidden">{status}</span>
          </span>
        )}
      </footer>
      {!message.isDeleted && !pending && <Reactions message={message} />}
    </article>
  );
}

/** Announces typing while keys are pressed; the server ends it by itself and when a message is sent. */
function useTypingAnnouncer(conversationId: string) {
  const [setTyping] = useMutation(SetTypingDocument);
  const last = useRef(0);
  const announce = (isTyping: boolean) => {
    const now = Date.now();
    if (isTyping && now - last.current < TYPING_REFRESH_MS) return;
    if (!isTyping && last.current === 0) return;
    last.current = isTyping ? now : 0;
    // Typing is a hint that the server forgets by itself: a failure is only logged.
    setTyping({ variables: { conversationId, isTyping } }).catch((error: unknown) => console.error('setTyping failed', error));
  };
  return { typing: () => announce(true), stopped: () => announce(false), sent: () => { last.current = 0; } };
}

export function Conversation({ id, viewer, onBack }: { id: string; viewer: Viewer; onBack(): void }) {
  const t = useT();
  const { data, error, fetchMore, refetch } = useQuery(ConversationViewDocument, { variables: { id, first: PAGE } });
  const [markRead] = useMutation(MarkConversationReadDocument);
  const [sendMessage] = useMutation(SendMessageDocument);
  const [draft, setDraft] = useState('');
  const failed = useFailedSends(id);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const typingName = useTyping(id);
  const announcer = useTypingAnnouncer(id);
  const listRef = useRef<HTMLDivElement>(null);
  const topRef = useRef<HTMLDivElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const heightBeforeOlder = useRef<number | null>(null);

  const conversation = data?.conversation;
  const page = conversation?.messages;
  const messages = (page?.edges.map((edge) => edge.node) ?? []).toReversed();
  const newest = messages.at(-1);
  const unread = conversation?.unreadCount ?? 0;

  // Opened: the focus goes to its title, so keyboard and screen reader users start there.
  const loaded = conversation !== undefined;
  useEffect(() => {
    if (loaded) headingRef.current?.focus();
  }, [loaded]);

  // Read means seen: the tab visible and focused, the list at its newest messages. Checked now,
  // for each message that arrives, and when the tab, the window or the list changes.
  useEffect(() => {
    const list = listRef.current;
    if (unread === 0 || !list) return;
    let asked = false;
    const check = () => {
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 200;
      if (asked || document.visibilityState !== 'visible' || !document.hasFocus() || !atBottom) return;
      asked = true;
      markRead({ variables: { id } }).catch((error: unknown) => console.error('markConversationRead failed', error));
    };
    check();
    document.addEventListener('visibilitychange', check);
    window.addEventListener('focus', check);
    list.addEventListener('scroll', check, { passive: true });
    return () => {
      document.removeEventListener('visibilitychange', check);
      window.removeEventListener('focus', check);
      list.removeEventListener('scroll', check);
    };
  }, [unread, id, markRead, loaded]);

  // Older messages went in above: keep what the reader was looking at in place.
  useLayoutEffect(() => {
    const list = listRef.current;
    if (!list) return;
    if (heightBeforeOlder.current !== null) {
      list.scrollTop += list.scrollHeight - heightBeforeOlder.current;
      heightBeforeOlder.current = null;
    }
  }, [messages[0]?.id]);

  // A new message at the bottom: follow it when the reader was at the bottom (or sent it).
  useLayoutEffect(() => {
    const list = listRef.current;
    if (!list || !newest) return;
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 200;
    if (nearBottom || newest.author?.id === viewer.id || heightBeforeOlder.current === null) list.scrollTop = list.scrollHeight;
  }, [newest?.id]);

  // Scrolling up to the top loads the page before: infinite scroll through the connection.
  useEffect(() => {
    const top = topRef.current;
    if (!top || !page?.pageInfo.hasNextPage) return;
    const observer = new IntersectionObserver(([entry]) => {
      if (!entry?.isIntersecting || loadingOlder || !listRef.current) return;
      heightBeforeOlder.current = listRef.current.scrollHeight;
      setLoadingOlder(true);
      fetchMore({ variables: { after: page.pageInfo.endCursor } })
        .catch((error: unknown) => console.error('Loading earlier messages failed', error))
        .finally(() => setLoadingOlder(false));
    }, { root: listRef.current });
    observer.observe(top);
    return () => observer.disconnect();
  }, [page?.pageInfo.endCursor, page?.pageInfo.hasNextPage, loadingOlder, fetchMore]);

  if (!conversation) {
    if (error && !hasCode(error, 'NOT_FOUND')) return <LoadFailed onRetry={() => void refetch().catch(() => undefined)} />;
    if (error || data) return <p className="placeholder" role="alert">{t.notFound}</p>;
    return <p className="placeholder">{t.loading}</p>;
  }
  const other = viewer.role === 'SALON' ? conversation.client : conversation.salon;
  const archived = conversation.status === 'ARCHIVED';

  /** Shown at once (optimistic), replaced by the stored message; kept with a retry button if it fails. */
  const send = async (content: string, clientMessageId = newId()) => {
    markFailed(id, { clientMessageId, content }, false);
    announcer.sent();
    // Typenames, which the generated types leave out: the cache needs them to store the message.
    const author = { __typename: 'User' as const, id: viewer.id, displayName: viewer.displayName, firstName: viewer.firstName, lastName: viewer.lastName };
    const optimistic = {
      __typename: 'Message' as const, id: `pending:${clientMessageId}`, conversationId: id, seq: (newest?.seq ?? 0) + 1,
      kind: 'USER' as const, content, isDeleted: false, readAt: null, clientMessageId, createdAt: new Date().toISOString(),
      editedAt: null, author, attachments: [], reactions: [],
    };
    try {
      await sendMessage({
        variables: { input: { conversationId: id, content, clientMessageId } },
        optimisticResponse: { sendMessage: optimistic satisfies Message },
        update: (cache, { data: sent }) => {
          if (sent) addMessage(cache, sent.sendMessage);
        },
      });
    } catch (error) {
      // The same clientMessageId on retry: if the first attempt did reach the server, no duplicate.
      console.error('sendMessage failed', error);
      markFailed(id, { clientMessageId, content }, true);
    }
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const content = draft.trim();
    if (!content) return;
    setDraft('');
    void send(content);
  };

  return (
    <section className="conversation" aria-labelledby="conversation-title">
      <header className="conversation-head">
        <button type="button" className="back" onClick={onBack} aria-label={t.back}>←</button>
        <PresenceDot online={other.online} />
        <div>
          <h2 id="conversation-title" ref={headingRef} tabIndex={-1}>{other.displayName}</h2>
          <p className="subject">{conversation.subject}</p>
        </div>
      </header>
      <div className="messages" ref={listRef} role="log" aria-label={t.messages} tabIndex={0}>
        <div ref={topRef} className="top">{page?.pageInfo.hasNextPage ? (loadingOlder ? t.loadingOlder : '') : t.beginning}</div>
        {messages.map((message, index) => (
          <Fragment key={message.id}>
            {dayKey(message.createdAt) !== dayKey(messages[index - 1]?.createdAt ?? '') && (
              <h3 className="day"><span>{dayLabel(message.createdAt, t.language, t)}</span></h3>
            )}
            <Bubble message={message} mine={message.author?.id === viewer.id} />
          </Fragment>
        ))}
        {failed.map((message) => (
          <article key={message.clientMessageId} className="message mine failed">
            <p className="content">{message.content}</p>
            <footer className="meta" role="alert">
              {t.notSent} <button type="button" onClick={() => void send(message.content, message.clientMessageId)}>{t.retry}</button>
            </footer>
          </article>
        ))}
      </div>
      <p className="typing-line" aria-live="polite">{typingName ? t.typing(typingName) : ''}</p>
      {archived ? (
        <p className="placeholder">{t.archivedNotice}</p>
      ) : (
        <form className="composer" onSubmit={submit}>
          <label htmlFor="composer-input" className="visually-hidden">{t.messageLabel}</label>
          <textarea
            id="composer-input"
            rows={1}
            value={draft}
            placeholder={t.messageLabel}
            onChange={(event) => {
              setDraft(event.target.value);
              if (event.target.value.trim()) announcer.typing();
              else announcer.stopped();
            }}
            onBlur={() => announcer.stopped()}
            onKeyDown={(event) => {
              // Enter sends, Shift+Enter starts a new line.
              if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) submit(event);
            }}
          />
          <button type="submit" disabled={!draft.trim()}>{t.send}</button>
        </form>
      )}
    </section>
  );
}
