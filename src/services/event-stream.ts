import { db, direct } from '../db.js';
import { logger } from '../logger.js';
import type { EventBus } from '../events/bus.js';
import { cursorExpired, encodeCursor, positionFromCursor } from '../events/cursor.js';
import { readEvents, streamState, toLoggedEvent, type LoggedEvent } from '../events/log.js';
import { letGo, releasing } from '../events/release.js';
import type { MessageWithAttachments } from '../events/publish.js';
import { topics, type EventsWakeUp } from '../events/topics.js';
import { Prisma, type Conversation } from '../generated/prisma/client.js';

/** What `ViewerEventPayload` members are built from; `__typename` names the member. */
export type ViewerEventPayloadShape =
  | { __typename: 'MessageAddedEvent'; messageId: string; message?: MessageWithAttachments }
  | { __typename: 'MessageDeletedEvent'; conversationId: string; messageId: string }
  | { __typename: 'MessageEditedEvent'; conversationId: string; messageId: string; editedAt: Date }
  | { __typename: 'MessageUnreadEvent'; conversationId: string; messageIds: string[]; readerId: string }
  | { __typename: 'ReactionChangedEvent'; conversationId: string; messageId: string; emoji: string; userId: string; added: boolean }
  | { __typename: 'MessageReadEvent'; conversationId: string; messageIds: string[]; readAt: Date; readerId: string }
  | { __typename: 'UnreadCountEvent'; conversationId: string; conversationUnread: number; totalUnread: number }
  | { __typename: 'ConversationUpdatedEvent'; conversationId: string; created: boolean; conversation?: Conversation }
  | { __typename: 'ConversationDeletedEvent'; conversationId: string }
  | { __typename: 'AppointmentCreatedEvent'; appointmentId: string }
  | { __typename: 'AppointmentUpdatedEvent'; appointmentId: string }
  | { __typename: 'UserUpdatedEvent'; userId: string }
  | { __typename: 'WebhookEndpointDisabledEvent'; endpointId: string; reason: string };

/** One event of the viewer's stream as the API delivers it. */
export interface ViewerEventShape {
  cursor: string;
  position: bigint;
  occurredAt: Date;
  conversationId: string | null;
  payload: ViewerEventPayloadShape;
}

/** Events read from the log per query, when catching up. */
const CATCH_UP_PAGE = 100;

function payloadOf(event: FollowedEvent): ViewerEventPayloadShape {
  const payload = event.payload;
  switch (payload.type) {
    case 'message.created':
      return { __typename: 'MessageAddedEvent', messageId: payload.messageId, message: event.message };
    case 'message.deleted':
      return { __typename: 'MessageDeletedEvent', conversationId: payload.conversationId, messageId: payload.messageId };
    case 'message.edited':
      return {
        __typename: 'MessageEditedEvent',
        conversationId: payload.conversationId,
        messageId: payload.messageId,
        editedAt: new Date(payload.editedAt),
      };
    case 'message.unread':
      return { __typename: 'MessageUnreadEvent', conversationId: payload.conversationId, messageIds: payload.messageIds, readerId: payload.readerId };
    case 'reaction.changed':
      return {
        __typename: 'ReactionChangedEvent',
        conversationId: payload.conversationId,
        messageId: payload.messageId,
        emoji: payload.emoji,
        userId: payload.userId,
        added: payload.added,
      };
    case 'message.read':
      return {
        __typename: 'MessageReadEvent',
        conversationId: payload.conversationId,
        messageIds: payload.messageIds,
        readAt: new Date(payload.readAt),
        readerId: payload.readerId,
      };
    case 'unread.changed':
      return {
        __typename: 'UnreadCountEvent',
        conversationId: payload.conversationId,
        conversationUnread: payload.conversationUnread,
        totalUnread: payload.totalUnread,
      };
    case 'conversation.created':
    case 'conversation.updated':
      return {
        __typename: 'ConversationUpdatedEvent',
        conversationId: payload.conversationId,
        created: payload.type === 'conversation.created',
        conversation: event.conversation,
      };
    case 'conversation.deleted':
      return { __typename: 'ConversationDeletedEvent', conversationId: payload.conversationId };
    case 'appointment.created':
      return { __typename: 'AppointmentCreatedEvent', appointmentId: payload.appointmentId };
    case 'appointment.updated':
      return { __typename: 'AppointmentUpdatedEvent', appointmentId: payload.appointmentId };
    case 'user.updated':
      return { __typename: 'UserUpdatedEvent', userId: payload.userId };
    case 'webhook_endpoint.disabled':
      return { __typename: 'WebhookEndpointDisabledEvent', endpointId: payload.endpointId, reason: payload.reason };
  }
}

/**
 * The events of `page` a client can apply, in order. An event whose subject is gone when it is
 * read — a message or a conversation deleted since, an appointment deleted with its client — is
 * skipped rather than delivered with a null in a non-null field: a message row only disappears
 * with its conversation, and the `conversation.deleted` event that removed it follows in the same
 * log, so the client ends in the same state. Its position still counts as read.
 */
async function deliverable(page: readonly FollowedEvent[]): Promise<ViewerEventShape[]> {
  const events = page.map((event) => ({
    cursor: encodeCursor(event.userId, event.position),
    position: event.position,
    occurredAt: event.occurredAt,
    conversationId: event.conversationId,
    payload: payloadOf(event),
  }));
  const ids = { message: new Set<string>(), conversation: new Set<string>(), appointment: new Set<string>() };
  // Subjects a wake-up carried were committed with the event: no need to look them up.
  for (const { payload } of events) {
    if (payload.__typename === 'MessageAddedEvent' && !payload.message) ids.message.add(payload.messageId);
    else if (payload.__typename === 'MessageEditedEvent' || payload.__typename === 'ReactionChangedEvent') ids.message.add(payload.messageId);
    else if (payload.__typename === 'ConversationUpdatedEvent' && !payload.conversation) ids.conversation.add(payload.conversationId);
    else if (payload.__typename === 'AppointmentCreatedEvent' || payload.__typename === 'AppointmentUpdatedEvent') ids.appointment.add(payload.appointmentId);
  }
  const [messages, conversations, appointments] = await Promise.all([
    ids.message.size ? db.message.findMany({ where: { id: { in: [...ids.message] } }, select: { id: true } }) : [],
    ids.conversation.size ? db.conversation.findMany({ where: { id: { in: [...ids.conversation] } }, select: { id: true } }) : [],
    ids.appointment.size ? db.appointment.findMany({ where: { id: { in: [...ids.appointment] } }, select: { id: true } }) : [],
  ]);
  const present = new Set([...messages, ...conversations, ...appointments].map((row) => row.id));
  return events.filter(({ payload }) => {
    switch (payload.__typename) {
      case 'MessageAddedEvent':
        return payload.message !== undefined || present.has(payload.messageId);
      case 'MessageEditedEvent':
      case 'ReactionChangedEvent':
        return present.has(payload.messageId);
      case 'ConversationUpdatedEvent':
        return payload.conversation !== undefined || present.has(payload.conversationId);
      case 'AppointmentCreatedEvent':
      case 'AppointmentUpdatedEvent':
        return present.has(payload.appointmentId);
      default:
        return true;
    }
  });
}

/**
 * The log's events after `after`, or, when the first one is not `after + 1`, CURSOR_EXPIRED:
 * positions have no gap (src/events/log.ts), so a hole means the retention job deleted events
 * the reader had not read while it was reading.
 */
async function readAfter(viewerId: string, after: bigint, limit: number): Promise<LoggedEvent[]> {
  const page = await readEvents(viewerId, after, limit);
  if (page.length > 0 && page[0]!.position !== after + 1n) {
    const { prunedThrough } = await streamState(viewerId);
    if (prunedThrough > after) throw cursorExpired();
  }
  return page;
}

export interface ViewerEventPage {
  events: ViewerEventShape[];
  hasNextPage: boolean;
  /** Whether retained events come before this page (at or before `after`). */
  hasPreviousPage: boolean;
  /** The cursor of the last event read (delivered or skipped), or `after` when none was. */
  endCursor: string;
}

/** `Query.events`: at most `first` events after the cursor, oldest first. */
export async function eventPage(viewerId: string, after: string, first: number): Promise<ViewerEventPage> {
  const { position: from, lastPosition, prunedThrough } = await positionFromCursor(viewerId, after);
  const hasPreviousPage = from > prunedThrough;
  if (first === 0) return { events: [], hasNextPage: lastPosition > from, hasPreviousPage, endCursor: after };
  const read = await readAfter(viewerId, from, first + 1);
  const page = read.slice(0, first);
  const last = page.at(-1);
  return {
    events: await deliverable(page),
    hasNextPage: read.length > first,
    hasPreviousPage,
    endCursor: last ? encodeCursor(viewerId, last.position) : after,
  };
}

/** A log row, with its subject when a wake-up carried it (as committed). */
export interface FollowedEvent extends LoggedEvent {
  message?: MessageWithAttachments;
  conversation?: Conversation;
}

/**
 * Messages a wake-up carried as their send committed them: no reaction yet. Delivered live, they
 * are shown "as sent" (Message.reactions answers [] without a query, one statement less per
 * delivery and per subscriber); a reaction added since is a `reaction.changed` later in the log.
 */
const justSent = new WeakSet<object>();

/** Whether `message` is a just-sent message carried by a wake-up (see justSent). */
export const carriedAsSent = (message: object): boolean => justSent.has(message);

/** The rows of a wake-up, with the subjects it carried attached. */
function fromWakeUp(userId: string, wakeUp: EventsWakeUp): FollowedEvent[] {
  const messages = new Map(wakeUp.messages.map((message) => [message.id, message]));
  for (const message of messages.values()) justSent.add(message);
  const conversations = new Map(wakeUp.conversations.map((conversation) => [conversation.id, conversation]));
  return wakeUp.events.map((wire) => {
    const event = toLoggedEvent({
      userId,
      position: BigInt(wire.position),
      type: wire.type,
      conversationId: wire.conversationId,
      payload: wire.payload,
      occurredAt: new Date(wire.occurredAt),
    });
    const { payload } = event;
    if (payload.type === 'message.created') {
      return { ...event, message: messages.get(payload.messageId), conversation: conversations.get(payload.conversationId) };
    }
    if (payload.type === 'conversation.created' || payload.type === 'conversation.updated') {
      return { ...event, conversation: conversations.get(payload.conversationId) };
    }
    return event;
  });
}

/** A log reader as the periodic check sees it: whose log, how far it has read, how to send it back to the log. */
interface Watcher {
  userId: string;
  last(): bigint;
  check(): void;
}

/** Users whose stream state one statement of the check reads. */
const CHECK_BATCH = 1000;

/**
 * The periodic check of every reader of the process with one period: ONE statement per tick per
 * thousand users reads their committed last positions, and only the readers that are behind go
 * back to the log. (A query per reader per tick, as before, sent ten thousand statements at the
 * same instant with ten thousand sockets open: a spike that queued every send behind it.)
 */
class LogChecker {
  private readonly watchers = new Set<Watcher>();
  private readonly timer: NodeJS.Timeout;
  private running = false;

  constructor(periodMs: number) {
    this.timer = setInterval(() => void this.run(), periodMs);
    this.timer.unref();
  }

  add(watcher: Watcher): () => boolean {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher) && this.watchers.size === 0;
  }

  stop() {
    clearInterval(this.timer);
  }

  /** Sends back to the log every reader whose user's committed position is past what it read. */
  async run(): Promise<void> {
    if (this.running || this.watchers.size === 0) return;
    this.running = true;
    try {
      const byUser = new Map<string, Watcher[]>();
      for (const watcher of this.watchers) {
        const list = byUser.get(watcher.userId);
        if (list) list.push(watcher);
        else byUser.set(watcher.userId, [watcher]);
      }
      const users = [...byUser.keys()];
      for (let i = 0; i < users.length; i += CHECK_BATCH) {
        const batch = users.slice(i, i + CHECK_BATCH);
        // Straight on the pool (`direct`): through Prisma's runtime, a thousand rows each period
        // took most of the check's time, and an instance with 5,000 idle readers promoted twice
        // as much as with no check at all.
        const rows = await direct<{ userId: string; lastPosition: string }>(Prisma.sql`/* background: event log check */
          SELECT "userId"::text AS "userId", "lastPosition"::text AS "lastPosition" FROM "UserEventStream" WHERE "userId" = ANY(${batch}::uuid[])`);
        for (const row of rows) {
          const position = BigInt(row.lastPosition);
          for (const watcher of byUser.get(row.userId) ?? []) if (watcher.last() < position) watcher.check();
        }
      }
    } catch (error) {
      // The next tick tries again; a reader misses nothing meanwhile, it only learns later.
      logger.warn({ err: (error as Error).message }, 'event log check failed');
    } finally {
      this.running = false;
    }
  }
}

const checkers = new Map<number, LogChecker>();

function watchLog(periodMs: number, watcher: Watcher): () => void {
  let checker = checkers.get(periodMs);
  if (!checker) {
    checker = new LogChecker(periodMs);
    checkers.set(periodMs, checker);
  }
  const remove = checker.add(watcher);
  return () => {
    if (remove() && checkers.get(periodMs) === checker) {
      checker.stop();
      checkers.delete(periodMs);
    }
  };
}

/**
 * Redis back after an outage: wake-ups published meanwhile are lost, so every reader of the
 * process is checked at once — through the same batched statement, not a query each.
 */
function checkAllNow() {
  for (const checker of checkers.values()) void checker.run();
}

type InboxItem = { kind: 'wake-up'; wakeUp: EventsWakeUp } | { kind: 'check' } | { kind: 'end' } | { kind: 'error'; error: unknown };

/**
 * What a log reader waits for, in arrival order: wake-ups, and a `check` (read the log) when the
 * periodic check every `pollMs`, or the one run when Redis comes back after an outage, finds its
 * user's log past what it has read. One queue per reader, so a wait never
 * leaves a pending reaction behind on a promise that lives longer than it (a leak per wait on an
 * idle subscription otherwise).
 */
function readerInbox(bus: EventBus, wake: AsyncIterator<EventsWakeUp>, pollMs: number, userId: string, last: () => bigint) {
  const items: InboxItem[] = [];
  let waiter: ((item: InboxItem) => void) | undefined;
  const push = (item: InboxItem) => {
    if (item.kind === 'check' && items.some((queued) => queued.kind === 'check')) return;
    const take = waiter;
    waiter = undefined;
    if (take) take(item);
    else items.push(item);
  };
  // Callbacks, not an async loop: a suspended async function keeps its last result in its frame,
  // so each idle subscription would hold its last wake-up (message, author, conversation) until
  // the next one, and each delivery would move that wake-up into the old generation.
  const pump = (): void =>
    void wake.next().then(
      (next) => {
        if (next.done) return push({ kind: 'end' });
        push({ kind: 'wake-up', wakeUp: next.value });
        letGo(next);
        pump();
      },
      // The operation's bus ended it (the token expired): the reader rethrows it.
      (error: unknown) => push({ kind: 'error', error }),
    );
  pump();
  const offTick = watchLog(pollMs, { userId, last, check: () => push({ kind: 'check' }) });
  const offReconnect = bus.onReconnect(() => checkAllNow());
  return {
    next: (): Promise<InboxItem> => {
      const item = items.shift();
      return item ? Promise.resolve(item) : new Promise((resolve) => (waiter = resolve));
    },
    close() {
      offTick();
      offReconnect();
    },
  };
}

/** The events of a wake-up that follow on from `last`; `skipped` when one jumped past `last + 1`. */
type Continuation = FollowedEvent[] & { skipped?: boolean };

function continuing(events: readonly FollowedEvent[], last: bigint): Continuation {
  const batch: Continuation = [];
  for (const event of events) {
    // Rows already delivered: a wake-up queued while we read the log.
    if (event.position <= last) continue;
    if (event.position !== last + 1n) {
      batch.skipped = true;
      break;
    }
    batch.push(event);
    last = event.position;
  }
  return batch;
}

/**
 * A user's log from position `from` (exclusive; null: from now), oldest first, then live, in
 * batches. No gap and no duplicate, because positions have no gap and the log decides:
 *
 * 1. the starting position is fixed (`from`, or the current last position), then the wake-up
 *    topic is subscribed, so a commit after that point always wakes us;
 * 2. the log is read from the last delivered position until a page comes back empty (which
 *    also delivers what committed between 1's two steps);
 * 3. then each wake-up whose rows continue exactly at the last delivered position is delivered
 *    as it came (no query); one that skips ahead — a wake-up lost or overtaken — sends us back to
 *    2, and so do Redis coming back after an outage and the periodic check every `pollMs` (a
 *    publish that failed). Redis only says "look": a lost wake-up delays delivery, never loses
 *    an event.
 *
 * Every subscription that reads the stream (`events` and the per-type ones) is built on this.
 * The wake-up subscription comes from the operation's scoped bus: it ends when the socket or
 * the request does, which also ends the wait below.
 */
export async function* followLog(
  bus: EventBus,
  userId: string,
  from: bigint | null,
  pollMs: number,
): AsyncGenerator<FollowedEvent[]> {
  // "From now" is the position read BEFORE subscribing: a change that commits while the
  // subscription is being set up is then after it, and the first read of the log delivers it.
  // (Read after subscribing, such a change would count as "before now" and never be delivered.)
  let last = from ?? (await streamState(userId)).lastPosition;
  const wake = await bus.subscribe(topics.userEvents(userId));
  const inbox = readerInbox(bus, wake, pollMs, userId, () => last);
  let item: InboxItem | undefined;
  let batch: Continuation | undefined;
  try {
    for (;;) {
      for (;;) {
        const page = await readAfter(userId, last, CATCH_UP_PAGE);
        if (page.length === 0) break;
        last = page.at(-1)!.position;
        yield page;
      }
      for (;;) {
        // Cleared before the wait: a suspended generator keeps every variable of its frame, so an
        // idle subscription would hold its last wake-up and batch until the next one.
        item = batch = undefined;
        item = await inbox.next();
        if (item.kind === 'end') return;
        if (item.kind === 'error') throw item.error;
        if (item.kind === 'check') break;
        batch = continuing(fromWakeUp(userId, item.wakeUp), last);
        // The wait that `item` resolved is old (see events/release.ts): it must not keep the wake-up.
        (item as { wakeUp?: EventsWakeUp }).wakeUp = undefined;
        item = undefined;
        if (batch.length > 0) {
          last = batch.at(-1)!.position;
          yield batch;
        }
        // A wake-up that skips ahead (one lost or overtaken): back to the log.
        if (batch.skipped) break;
      }
    }
  } finally {
    inbox.close();
    await wake.return?.();
  }
}

/**
 * `Subscription.events`: with `after`, every event after it, oldest first, then live; without,
 * live from the current position (see followLog).
 */
export async function viewerEvents(
  bus: EventBus,
  viewerId: string,
  after: string | null | undefined,
  pollMs: number,
): Promise<AsyncIterableIterator<ViewerEventShape>> {
  // Checked before the stream starts, so a bad or expired cursor is the subscription's result
  // (an error, then complete), as for every other subscription argument.
  const from = after != null ? (await positionFromCursor(viewerId, after)).position : null;
  return picked(followLog(bus, viewerId, from, pollMs), deliverable);
}

/**
 * What `pick` makes of each batch of a log reader, one at a time: `Subscription.events` and the
 * per-type subscriptions. Explicit steps rather than for-of loops, each variable cleared before
 * the wait for the next batch: a suspended generator keeps its frame, and an idle subscription
 * would hold its last batch until its next event.
 */
export function picked<T>(log: AsyncGenerator<FollowedEvent[]>, pick: (batch: FollowedEvent[]) => T[] | Promise<T[]>): AsyncIterableIterator<T> {
  return releasing(pickedItems(log, pick));
}

async function* pickedItems<T>(log: AsyncGenerator<FollowedEvent[]>, pick: (batch: FollowedEvent[]) => T[] | Promise<T[]>): AsyncGenerator<T> {
  let batch: IteratorResult<FollowedEvent[]> | undefined;
  let items: T[] | undefined;
  try {
    for (;;) {
      batch = items = undefined;
      batch = await log.next();
      if (batch.done) return;
      items = await pick(batch.value);
      letGo(batch);
      batch = undefined;
      for (let i = 0; i < items.length; i++) yield items[i]!;
    }
  } finally {
    await log.return(undefined);
  }
}

/*
 * The per-type subscriptions (messageAdded, messageRead, …) are views of the same log: each
 * keeps the events of its kind and turns them into what its field has always delivered.
 */

const inConversation = (only: string | null) => (event: FollowedEvent) => only === null || event.conversationId === only;

/** The messages of `message.created` events, as they are now (carried by the wake-up, or read); gone ones skipped. */
export async function messagesOf(batch: readonly FollowedEvent[], only: string | null): Promise<MessageWithAttachments[]> {
  const created = batch.filter(inConversation(only)).flatMap((event) =>
    event.payload.type === 'message.created' ? [{ id: event.payload.messageId, carried: event.message }] : [],
  );
  const missing = created.filter((entry) => !entry.carried).map((entry) => entry.id);
  const read = missing.length
    ? new Map((await db.message.findMany({ where: { id: { in: missing } }, include: { attachments: true } })).map((m) => [m.id, m]))
    : new Map<string, MessageWithAttachments>();
  return created.flatMap((entry) => {
    const message = entry.carried ?? read.get(entry.id);
    return message ? [message] : [];
  });
}

/**
 * `conversationUpdated`: the conversation of each `conversation.created`/`updated` and
 * `message.created` event (a new message changes its conversation's last message), as it is
 * now; deleted ones skipped.
 */
export async function conversationsOf(batch: readonly FollowedEvent[]): Promise<Conversation[]> {
  const changed = batch.flatMap((event) =>
    ['conversation.created', 'conversation.updated', 'message.created'].includes(event.payload.type) && event.conversationId
      ? [{ id: event.conversationId, carried: event.conversation }]
      : [],
  );
  const missing = changed.filter((entry) => !entry.carried).map((entry) => entry.id);
  const read = missing.length
    ? new Map((await db.conversation.findMany({ where: { id: { in: missing } } })).map((c) => [c.id, c]))
    : new Map<string, Conversation>();
  return changed.flatMap((entry) => {
    const conversation = entry.carried ?? read.get(entry.id);
    return conversation ? [conversation] : [];
  });
}

export interface MessageReadShape {
  conversationId: string;
  messageIds: string[];
  readAt: Date;
  readerId: string;
}

export function readsOf(batch: readonly FollowedEvent[], only: string | null): MessageReadShape[] {
  return batch.filter(inConversation(only)).flatMap(({ payload }) =>
    payload.type === 'message.read'
      ? [{ conversationId: payload.conversationId, messageIds: payload.messageIds, readAt: new Date(payload.readAt), readerId: payload.readerId }]
      : [],
  );
}

export interface MessageDeletedShape {
  conversationId: string;
  messageId: string;
}

export function deletionsOf(batch: readonly FollowedEvent[], only: string | null): MessageDeletedShape[] {
  return batch.filter(inConversation(only)).flatMap(({ payload }) =>
    payload.type === 'message.deleted' ? [{ conversationId: payload.conversationId, messageId: payload.messageId }] : [],
  );
}

export interface MessageEditedShape {
  conversationId: string;
  messageId: string;
  editedAt: Date;
}

export function editsOf(batch: readonly FollowedEvent[], only: string | null): MessageEditedShape[] {
  return batch.filter(inConversation(only)).flatMap(({ payload }) =>
    payload.type === 'message.edited'
      ? [{ conversationId: payload.conversationId, messageId: payload.messageId, editedAt: new Date(payload.editedAt) }]
      : [],
  );
}

export interface UnreadCountShape {
  conversationId: string;
  conversationUnread: number;
  totalUnread: number;
}

export function unreadCountsOf(batch: readonly FollowedEvent[]): UnreadCountShape[] {
  return batch.flatMap(({ payload }) =>
    payload.type === 'unread.changed'
      ? [{ conversationId: payload.conversationId, conversationUnread: payload.conversationUnread, totalUnread: payload.totalUnread }]
      : [],
  );
}

/**
 * Where `messageAdded(after:)` resumes: the position of that message's `message.created` event
 * in the viewer's log, so that every message whose event committed after it is delivered,
 * whatever its conversation and timestamp. The scan runs newest first (clients resume from a
 * recent message) and is bounded by the retention. A message whose event is no longer in the log
 * is as old as an expired cursor: CURSOR_EXPIRED, the client reloads.
 */
export async function positionOfMessage(viewerId: string, message: { id: string; conversationId: string }): Promise<bigint> {
  const [row] = await db.$queryRaw<{ position: bigint }[]>`
    SELECT "position" FROM "UserEvent"
     WHERE "userId" = ${viewerId}::uuid AND "conversationId" = ${message.conversationId}::uuid
       AND "type" = 'message.created' AND "payload"->>'messageId' = ${message.id}
     ORDER BY "position" DESC LIMIT 1`;
  if (!row) throw cursorExpired();
  return row.position;
}
