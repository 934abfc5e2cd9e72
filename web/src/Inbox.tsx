import type { KeyboardEvent } from 'react';
import type { ConversationStatus, InboxConversationFieldsFragment, Role } from '../../operations/generated/graphql';
import { TypingFeed, useTyping } from './feeds';
import { when } from './format';
import { useT } from './i18n';
import { Badge, LoadFailed } from './status';

type Conversation = InboxConversationFieldsFragment;

export function PresenceDot({ online }: { online: boolean }) {
  const t = useT();
  return <span className={`dot ${online ? 'on' : 'off'}`} role="img" aria-label={online ? t.online : t.offline} />;
}

function Row({ conversation, viewerId, role, current, onOpen }: { conversation: Conversation; viewerId: string; role: Role; current: boolean; onOpen(): void }) {
  const t = useT();
  const typing = useTyping(conversation.id);
  const other = role === 'SALON' ? conversation.client : conversation.salon;
  const last = conversation.lastMessage;
  const unread = conversation.unreadCount;
  return (
    <li>
      {/* The typing subscription (per conversation in the API) lives as long as its row is shown. */}
      {conversation.status === 'ACTIVE' && <TypingFeed conversationId={conversation.id} viewerId={viewerId} />}
      <a
        href={`?conversation=${conversation.id}`}
        className={`row${unread > 0 ? ' unread' : ''}`}
        aria-current={current ? 'page' : undefined}
        data-conversation={conversation.id}
        onClick={(event) => {
          event.preventDefault();
          onOpen();
        }}
      >
        <PresenceDot online={other.online} />
        <span className="row-main">
          <span className="row-top">
            <strong className="name">{other.displayName}</strong>
            {conversation.lastMessageAt && <time dateTime={conversation.lastMessageAt}>{when(conversation.lastMessageAt, t.language)}</time>}
          </span>
          <span className="subject">{conversation.subject}</span>
          <span className="preview">
            {typing ? <em className="typing">{t.typing(typing)}</em> : last && (last.isDeleted ? t.deleted : last.content || (last.attachments.length > 0 ? t.attachment : ''))}
          </span>
        </span>
        {unread > 0 && <Badge count={unread} />}
      </a>
    </li>
  );
}

/** Up and down arrows move between conversations, as in a list box; Tab leaves the list. */
function arrows(event: KeyboardEvent<HTMLUListElement>) {
  if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
  const links = [...event.currentTarget.querySelectorAll<HTMLAnchorElement>('a.row')];
  const at = links.indexOf(document.activeElement as HTMLAnchorElement);
  const next = links[Math.max(0, Math.min(links.length - 1, at + (event.key === 'ArrowDown' ? 1 : -1)))];
  if (next) {
    event.preventDefault();
    next.focus();
  }
}

export interface InboxProps {
  /** The loaded pages of the list of `status`; undefined while the first one loads. */
  conversations: Conversation[] | undefined;
  status: ConversationStatus;
  onStatus(status: ConversationStatus): void;
  /** Set when there are more pages: loads the next one. */
  onLoadMore: (() => void) | undefined;
  loadingMore: boolean;
  /** Set when the list failed to load: loads it again. */
  onRetry: (() => void) | undefined;
  viewer: { id: string; role: Role };
  openId: string | null;
  onOpen(id: string): void;
}

/** The conversations of one status by latest activity; a salon's or a client's, each seeing the other side. */
export function Inbox({ conversations, status, onStatus, onLoadMore, loadingMore, onRetry, viewer, openId, onOpen }: InboxProps) {
  const t = useT();
  // By id: a conversation moved in by an event may come again in a later page.
  const shown = [...new Map(conversations?.map((conversation) => [conversation.id, conversation])).values()]
    .sort((a, b) => (b.lastMessageAt ?? '').localeCompare(a.lastMessageAt ?? ''));
  return (
    <nav className="inbox" aria-labelledby="inbox-title">
      <div className="inbox-head">
        <h2 id="inbox-title">{t.inbox}</h2>
        <fieldset className="filter">
          <legend className="visually-hidden">{t.filter}</legend>
          {(['ACTIVE', 'ARCHIVED'] as const).map((value) => (
            <label key={value}>
              <input type="radio" name="status" checked={status === value} onChange={() => onStatus(value)} />
              {value === 'ARCHIVED' ? t.archived : t.active}
            </label>
          ))}
        </fieldset>
      </div>
      {onRetry ? (
        <LoadFailed onRetry={onRetry} />
      ) : !conversations ? (
        <p className="placeholder">{t.loading}</p>
      ) : shown.length === 0 ? (
        <p className="placeholder">{t.noConversations}</p>
      ) : (
        <ul className="conversations" onKeyDown={arrows}>
          {shown.map((conversation) => (
            <Row key={conversation.id} conversation={conversation} viewerId={viewer.id} role={viewer.role} current={conversation.id === openId} onOpen={() => onOpen(conversation.id)} />
          ))}
        </ul>
      )}
      {onLoadMore && (
        <p className="more">
          <button type="button" disabled={loadingMore} onClick={onLoadMore}>{loadingMore ? t.loading : t.loadMore}</button>
        </p>
      )}
    </nav>
  );
}
