import { db } from '../db.js';
import type { EventBus } from '../events/bus.js';
import { cursorExpired, encodeCursor, positionFromCursor } from '../events/cursor.js';
import { readEvents, streamState, type LoggedEvent } from '../events/log.js';
import { topics } from '../events/topics.js';

/** What `ViewerEventPayload` members are built from; `__typename` names the member. */
export type ViewerEventPayloadShape =
  | { __typename: 'MessageAddedEvent'; messageId: string }
  | { __typename: 'MessageDeletedEvent'; conversationId: string; messageId: string }
  | { __typename: 'MessageReadEvent'; conversationId: string; messageIds: string[]; readAt: Date; readerId: string }
  | { __typename: 'UnreadCountEvent'; conversationId: string; conversationUnread: number; totalUnread: number }
  | { __typename: 'ConversationUpdatedEvent'; conversationId: string; created: boolean }
  | { __typename: 'ConversationDeletedEvent'; conversationId: string }
  | { __typename: 'AppointmentCreatedEvent'; appointmentId: string };

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

function payloadOf(event: LoggedEvent): ViewerEventPayloadShape {
  const payload = event.payload;
  switch (payload.type) {
    case 'message.created':
      return { __typename: 'MessageAddedEvent', messageId: payload.messageId };
    case 'message.deleted':
      return { __typename: 'MessageDeletedEvent', conversationId: payload.conversationId, messageId: payload.messageId };
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
      return { __typename: 'ConversationUpdatedEvent', conversationId: payload.conversationId, created: payload.type === 'conversation.created' };
    case 'conversation.deleted':
      return { __typename: 'ConversationDeletedEvent', conversationId: payload.conversationId };
    case 'appointment.created':
      return { __typename: 'AppointmentCreatedEvent', appointmentId: payload.appointmentId };
  }
}

/**
 * The events of `page` a client can apply, in order. An event whose subject is gone when it is
 * read — a message or a conversation deleted since, an appointment deleted with its client — is
 * skipped rather than delivered with a null in a non-null field: a message row only disappears
 * with its conversation, and the `conversation.deleted` event that removed it follows in the same
 * log, so the client ends in the same state. Its position still counts as read.
 */
async function deliverable(page: readonly LoggedEvent[]): Promise<ViewerEventShape[]> {
  const events = page.map((event) => ({
    cursor: encodeCursor(event.userId, event.position),
    position: event.position,
    occurredAt: event.occurredAt,
    conversationId: event.conversationId,
    payload: payloadOf(event),
  }));
  const ids = { message: new Set<string>(), conversation: new Set<string>(), appointment: new Set<string>() };
  for (const { payload } of events) {
    if (payload.__typename === 'MessageAddedEvent') ids.message.add(payload.messageId);
    else if (payload.__typename === 'ConversationUpdatedEvent') ids.conversation.add(payload.conversationId);
    else if (payload.__typename === 'AppointmentCreatedEvent') ids.appointment.add(payload.appointmentId);
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
        return present.has(payload.messageId);
      case 'ConversationUpdatedEvent':
        return present.has(payload.conversationId);
      case 'AppointmentCreatedEvent':
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
  /** The cursor of the last event read (delivered or skipped), or `after` when none was. */
  endCursor: string;
}

/** `Query.events`: at most `first` events after the cursor, oldest first. */
export async function eventPage(viewerId: string, after: string, first: number): Promise<ViewerEventPage> {
  const from = await positionFromCursor(viewerId, after);
  if (first === 0) {
    const { lastPosition } = await streamState(viewerId);
    return { events: [], hasNextPage: lastPosition > from, endCursor: after };
  }
  const read = await readAfter(viewerId, from, first + 1);
  const page = read.slice(0, first);
  const last = page.at(-1);
  return {
    events: await deliverable(page),
    hasNextPage: read.length > first,
    endCursor: last ? encodeCursor(viewerId, last.position) : after,
  };
}

type Wake = IteratorResult<{ position: string }>;

/**
 * `Subscription.events`: with `after`, every event after it, oldest first, then live; without,
 * live from the current position. No gap and no duplicate, because the log is the only source:
 *
 * 1. the wake-up topic is subscribed FIRST, so a commit after that point always wakes us;
 * 2. the log is read from the last delivered position until a page comes back empty;
 * 3. then we wait for a wake-up naming a position beyond the last delivered one, or for
 *    `pollMs`, and go back to 2. Redis only says "look": a lost wake-up (Redis away, a publish
 *    that failed) delays delivery by at most `pollMs`, never loses an event.
 *
 * The wake-up subscription comes from the operation's scoped bus: it ends when the socket or
 * the request does, which also ends the wait below.
 */
export async function* viewerEvents(
  bus: EventBus,
  viewerId: string,
  after: string | null | undefined,
  pollMs: number,
): AsyncGenerator<ViewerEventShape> {
  const wake = await bus.subscribe(topics.userEvents(viewerId));
  try {
    let last = after != null ? await positionFromCursor(viewerId, after) : (await streamState(viewerId)).lastPosition;
    /** A `next()` on the wake-ups still pending from a wait that ended by the poll timer. */
    let pending: Promise<Wake> | undefined;
    for (;;) {
      for (;;) {
        const page = await readAfter(viewerId, last, CATCH_UP_PAGE);
        if (page.length === 0) break;
        for (const event of await deliverable(page)) yield event;
        last = page.at(-1)!.position;
      }
      for (;;) {
        if (!pending) {
          pending = wake.next();
          // Awaited below or on a later wait; until then a rejection (the token expired) must not
          // count as unhandled.
          pending.catch(() => {});
        }
        const woken = await untilTimeout(pending, pollMs);
        if (woken === null) break;
        pending = undefined;
        if (woken.done) return;
        // Wake-ups queued while we were reading name positions already delivered.
        if (BigInt(woken.value.position) > last) break;
      }
    }
  } finally {
    await wake.return?.();
  }
}

/** `promise`'s result, or null when `ms` pass first (the promise is left running). */
async function untilTimeout<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
