import { useState, type KeyboardEvent } from 'react';
import type { InboxConversationFieldsFragment } from '../../operations/generated/graphql';
import { useTyping } from './feeds';
import { when } from './format';
import { useT } from './i18n';

type Conversation = InboxConversationFieldsFragment;

export function PresenceDot({ online }: { online: boolean }) {
  const t = useT();
  return <span className={`dot ${online ? 'on' : 'off'}`} role="img" aria-label={online ? t.online : t.offline} />;
}

function Row({ conversation, role, current, onOpen }: { conversation: Conversation; role: 'SALON' | 'CLIENT'; current: boolean; onOpen(): void }) {
  const t = useT();
  const typing = useTyping(conversation.id);
  const other = role === 'SALON' ? conversation.client : conversation.salon;
  const last = conversation.lastMessage;
  const unread = conversation.unreadCount;
  return (
    <li>
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
          <span className="preview" aria-live="polite">
            {typing ? <em className="typing">{t.typing(typing)}</em> : last && (last.isDeleted ? t.deleted : last.content || (last.attachments.length > 0 ? t.attachment : ''))}
          </span>
        </span>
        {unread > 0 && <span className="badge" aria-label={t.unread(unread)}>{unread}</span>}
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

/** The conversations by latest activity; a salon's or a client's, each seeing the other side. */
export function Inbox({ conversations, role, openId, onOpen }: { conversations: Conversation[]; role: 'SALON' | 'CLIENT'; openId: string | null; onOpen(id: string): void }) {
  const t = useT();
  const [archived, setArchived] = useState(false);
  const shown = conversations
    .filter((conversation) => (conversation.status === 'ARCHIVED') === archived)
    .sort((a, b) => (b.lastMessageAt ?? '').localeCompare(a.lastMessageAt ?? ''));
  return (
    <nav className="inbox" aria-labelledby="inbox-title">
      <div className="inbox-head">
        <h2 id="inbox-title">{t.inbox}</h2>
        <fieldset className="filter">
          <legend className="visually-hidden">{t.filter}</legend>
          {[false, true].map((value) => (
            <label key={String(value)}>
              <input type="radio" name="status" checked={archived === value} onChange={() => setArchived(value)} />
              {value ? t.archived : t.active}
            </label>
          ))}
        </fieldset>
      </div>
      {shown.length === 0 ? (
        <p className="placeholder">{t.noConversations}</p>
      ) : (
        <ul className="conversations" onKeyDown={arrows}>
          {shown.map((conversation) => (
            <Row key={conversation.id} conversation={conversation} role={role} current={conversation.id === openId} onOpen={() => onOpen(conversation.id)} />
          ))}
        </ul>
      )}
    </nav>
  );
}
