import { getOperationAST, Kind, type DocumentNode, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import { db } from '../db.js';
import { encodeCursor } from '../events/cursor.js';
import { streamState } from '../events/log.js';
import { eventPage, viewerEvents, type ViewerEventPage, type ViewerEventPayloadShape, type ViewerEventShape } from '../services/event-stream.js';
import { builder, MAX_PAGE_SIZE, pageComplexity, pageLimit } from './builder.js';
import { ConversationRef } from './conversation.js';
import { MessageDeletedEvent, MessageEditedEvent, MessageReadEvent, MessageRef, MessageUnreadEvent, ReactionChangedEvent } from './message.js';
import { UnreadCountEvent } from './user.js';
import './webhook.js';

type Member<N extends ViewerEventPayloadShape['__typename']> = Extract<ViewerEventPayloadShape, { __typename: N }>;

const MessageAddedEvent = builder.objectRef<Member<'MessageAddedEvent'>>('MessageAddedEvent').implement({
  description: 'A message was sent in one of the viewer\'s conversations (by anyone, the viewer included, for their other devices).',
  fields: (t) => ({
    message: t.prismaField({
      type: MessageRef,
      description: 'The message (live: as it was sent; replayed: as it is now, so deleted since is `isDeleted` true, content empty).',
      // Live, the wake-up carried the message with its files and author: the selection is answered
      // from them, and Pothos loads only a relation the carried row lacks.
      resolve: (query, event) => event.message ?? db.message.findUniqueOrThrow({ ...query, where: { id: event.messageId } }),
    }),
  }),
});

const ConversationUpdatedEvent = builder.objectRef<Member<'ConversationUpdatedEvent'>>('ConversationUpdatedEvent').implement({
  description: 'A conversation of the viewer was created, renamed, archived or unarchived.',
  fields: (t) => ({
    conversation: t.field({
      type: ConversationRef,
      description: 'The conversation (live: as this change left it; replayed: as it is now).',
      resolve: (event) => event.conversation ?? db.conversation.findUniqueOrThrow({ where: { id: event.conversationId } }),
    }),
    created: t.exposeBoolean('created', { description: 'True when this event is its creation: add it to the inbox.' }),
  }),
});

const ConversationDeletedEvent = builder.objectRef<Member<'ConversationDeletedEvent'>>('ConversationDeletedEvent').implement({
  description: 'A conversation of the viewer was deleted, with its messages: remove it from the inbox.',
  fields: (t) => ({
    conversationId: t.exposeID('conversationId', { description: 'The deleted conversation.' }),
  }),
});

const AppointmentCreatedEvent = builder.objectRef<Member<'AppointmentCreatedEvent'>>('AppointmentCreatedEvent').implement({
  description: 'An appointment of the viewer was booked (by the salon or the client).',
  fields: (t) => ({
    appointment: t.prismaField({
      type: 'Appointment',
      description: 'The appointment.',
      resolve: (query, event) => db.appointment.findUniqueOrThrow({ ...query, where: { id: event.appointmentId } }),
    }),
  }),
});

const AppointmentUpdatedEvent = builder.objectRef<Member<'AppointmentUpdatedEvent'>>('AppointmentUpdatedEvent').implement({
  description: 'An appointment of the viewer was cancelled or rescheduled (by the salon or the client); its `status` and `startsAt` say which.',
  fields: (t) => ({
    appointment: t.prismaField({
      type: 'Appointment',
      description: 'The appointment as it is now.',
      resolve: (query, event) => db.appointment.findUniqueOrThrow({ ...query, where: { id: event.appointmentId } }),
    }),
  }),
});

const WebhookEndpointDisabledEvent = builder.objectRef<Member<'WebhookEndpointDisabledEvent'>>('WebhookEndpointDisabledEvent').implement({
  description: "One of the viewer's webhook endpoints was disabled after failing every attempt for 5 days; updateWebhookEndpoint(enabled: true) turns it back on.",
  fields: (t) => ({
    endpointId: t.exposeID('endpointId', { description: 'The endpoint.' }),
    reason: t.exposeString('reason', { description: 'Why it was disabled.' }),
    endpoint: t.prismaField({
      type: 'WebhookEndpoint',
      nullable: true,
      description: 'The endpoint as it is now; null if it was deleted since.',
      resolve: (query, event) => db.webhookEndpoint.findUnique({ ...query, where: { id: event.endpointId } }),
    }),
  }),
});

const UserUpdatedEvent = builder.objectRef<Member<'UserUpdatedEvent'>>('UserUpdatedEvent').implement({
  description: 'The viewer or someone they talk with changed their display name or avatar (updateProfile): refresh how you show them.',
  fields: (t) => ({
    user: t.prismaField({
      type: 'User',
      description: 'The user as they are now.',
      resolve: (query, event) => db.user.findUniqueOrThrow({ ...query, where: { id: event.userId } }),
    }),
  }),
});

const ViewerEventPayload = builder.unionType('ViewerEventPayload', {
  description: 'What happened; switch on `__typename`. Later versions add members: ignore the ones you do not know.',
  types: [
    MessageAddedEvent,
    MessageDeletedEvent,
    MessageEditedEvent,
    MessageReadEvent,
    MessageUnreadEvent,
    ReactionChangedEvent,
    UnreadCountEvent,
    ConversationUpdatedEvent,
    ConversationDeletedEvent,
    AppointmentCreatedEvent,
    AppointmentUpdatedEvent,
    UserUpdatedEvent,
    WebhookEndpointDisabledEvent,
  ],
  resolveType: (payload) => (payload as ViewerEventPayloadShape).__typename,
});

const ViewerEvent = builder.objectRef<ViewerEventShape>('ViewerEvent').implement({
  description:
    'One event of the viewer\'s stream: everything the viewer must learn of, in one order, durable (kept `EVENT_RETENTION_DAYS`). Applying an event twice is harmless: each says what is now true.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', {
      description: 'Opaque position of this event in the viewer\'s stream: keep the last one applied and pass it as `after` to resume.',
    }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime', description: 'When the change was made (a message: its `createdAt`; other changes: their transaction\'s start); the stream\'s order is the cursors\', not this.' }),
    conversationId: t.exposeID('conversationId', {
      nullable: true,
      description: 'The conversation it concerns, if any (also for a conversation deleted since).',
    }),
    payload: t.field({ type: ViewerEventPayload, description: 'What happened.', resolve: (event) => event.payload }),
  }),
});

const ViewerEventEdge = builder.objectRef<ViewerEventShape>('ViewerEventEdge').implement({
  description: 'An event in a page.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'The event\'s cursor (as `node.cursor`).' }),
    node: t.field({ type: ViewerEvent, description: 'The event.', resolve: (event) => event }),
  }),
});

const ViewerEventConnection = builder.objectRef<ViewerEventPage>('ViewerEventConnection').implement({
  description: 'A page of the viewer\'s event stream, oldest first.',
  fields: (t) => ({
    edges: t.field({
      type: [ViewerEventEdge],
      description: 'The events of this page. Fewer than `first` does not mean the end: see `pageInfo.hasNextPage`.',
      // `events` already multiplies its selection by the page size.
      complexity: { field: 1, multiplier: 1 },
      resolve: (page) => page.events,
    }),
    pageInfo: t.field({
      type: builder.pageInfoRef(),
      description: '`endCursor` is where to resume (the `after` you gave when nothing is new); `hasNextPage` whether more events are already there.',
      resolve: (page) => ({
        hasNextPage: page.hasNextPage,
        hasPreviousPage: page.hasPreviousPage,
        startCursor: page.events[0]?.cursor ?? null,
        endCursor: page.endCursor,
      }),
    }),
  }),
});

const DEFAULT_EVENT_PAGE = 50;

/** The position read by `useEventCursorFirst` for a request, before any field of it ran. */
const cursorsReadFirst = new WeakMap<object, Promise<string>>();

const viewerCursor = async (viewerId: string) => encodeCursor(viewerId, (await streamState(viewerId)).lastPosition);

builder.queryFields((t) => ({
  eventCursor: t.withAuth({ viewer: true }).string({
    description:
      'The viewer\'s current position in the event stream, read before any other field of the same request: load the inbox together with it, then subscribe `events(after:)` with it, and nothing done after that load is missed (an event the loaded data already reflects may come too).',
    resolve: (_root, _args, ctx) => cursorsReadFirst.get(ctx) ?? viewerCursor(ctx.viewer.id),
  }),
  events: t.withAuth({ viewer: true }).field({
    type: ViewerEventConnection,
    description: `The viewer's events after a cursor, oldest first, ${DEFAULT_EVENT_PAGE} by default and at most ${MAX_PAGE_SIZE}: the stream of \`Subscription.events\` over HTTP, for apps woken by a push and partners that poll. A cursor older than the retention is CURSOR_EXPIRED (reload, take a new \`eventCursor\`); one the API did not issue to the viewer is BAD_USER_INPUT.`,
    args: {
      after: t.arg.string({ description: 'Return the events after this cursor (`eventCursor`, an event\'s `cursor`, or `pageInfo.endCursor`).' }),
      first: t.arg.int({ required: false, description: `How many events at most (default ${DEFAULT_EVENT_PAGE}, at most ${MAX_PAGE_SIZE}).` }),
    },
    complexity: pageComplexity(DEFAULT_EVENT_PAGE),
    resolve: (_root, args, ctx) => {
      pageLimit(args);
      return eventPage(ctx.viewer.id, args.after, args.first ?? DEFAULT_EVENT_PAGE);
    },
  }),
}));

builder.subscriptionFields((t) => ({
  events: t.withAuth({ viewer: true }).field({
    type: ViewerEvent,
    description:
      'Everything the viewer must learn of, in one stream. With `after` (`eventCursor`, or the `cursor` of the last event applied): first every event after it, oldest first, then live — no gap, no duplicate, across reconnects, instances and Redis outages. Without: live from now. A cursor older than the retention is CURSOR_EXPIRED (reload, take a new `eventCursor`); one the API did not issue to the viewer is BAD_USER_INPUT.',
    args: {
      after: t.arg.string({ required: false, description: 'Resume after this cursor; omit to start from now.' }),
    },
    subscribe: (_root, args, ctx) => viewerEvents(ctx.bus, ctx.viewer.id, args.after, ctx.config.eventPollMs),
    resolve: (event) => event,
  }),
}));

/** Whether the operation selects `eventCursor` at its root (directly or through fragments). */
function selectsEventCursor(document: DocumentNode, selectionSet: SelectionSetNode, seen = new Set<string>()): boolean {
  return selectionSet.selections.some((selection) => {
    if (selection.kind === Kind.FIELD) return selection.name.value === 'eventCursor';
    if (selection.kind === Kind.INLINE_FRAGMENT) return selectsEventCursor(document, selection.selectionSet, seen);
    const name = selection.name.value;
    if (seen.has(name)) return false;
    seen.add(name);
    const fragment = document.definitions.find((definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === name);
    return fragment?.kind === Kind.FRAGMENT_DEFINITION && selectsEventCursor(document, fragment.selectionSet, seen);
  });
}

/**
 * Root fields of a query run concurrently, so `eventCursor` resolved like any field could be read
 * after the inbox beside it: a change committed in between would be in neither. When the
 * operation asks for it, the position is read here, before execution starts, and the resolver
 * returns it.
 */
export function useEventCursorFirst(): Plugin<Context> {
  return {
    async onExecute({ args }) {
      const operation = getOperationAST(args.document, args.operationName);
      const ctx = args.contextValue;
      if (operation?.operation !== 'query' || !ctx.viewer || !selectsEventCursor(args.document, operation.selectionSet)) return;
      const cursor = await viewerCursor(ctx.viewer.id);
      cursorsReadFirst.set(ctx, Promise.resolve(cursor));
    },
  };
}
