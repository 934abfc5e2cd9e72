import { db } from '../db.js';
import { conversationForViewer, visibleConversationWhere } from '../services/access.js';
import {
  archiveConversation,
  createConversation,
  deleteConversation,
  updateConversation,
} from '../services/conversations.js';
import { markConversationRead, markConversationUnread } from '../services/messages.js';
import { requireId } from '../services/validation.js';
import { withSelection } from './selection.js';
import { builder, pageComplexity, pageLimit, viewerRef } from './builder.js';
import { ConversationStatusEnum } from './enums.js';
import { MessageConnection } from './message.js';
import { topics, type TypingPayload } from '../events/topics.js';
import { conversationsOf } from '../services/event-stream.js';
import { committed, fromLog } from './live.js';
import { UserRef } from './user.js';


/** Matches no row: a query built for an anonymous viewer must still be valid SQL. */
const NO_USER = '00000000-0000-0000-0000-000000000000';

export const ConversationRef = builder.prismaObject('Conversation', {
  description: 'A private thread between a salon and one client, often about an appointment.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier (a UUID).' }),
    subject: t.exposeString('subject', { description: 'Title shown in the inbox.' }),
    status: t.expose('status', { type: ConversationStatusEnum, description: 'ACTIVE or ARCHIVED.' }),
    lastMessageAt: t.expose('lastMessageAt', {
      type: 'DateTime',
      description: 'Time of the latest message (creation time before the first one); the inbox is sorted by it.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the conversation was opened.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When anything about it last changed.' }),
    salon: t.relation('salon', { description: 'The salon taking part.' }),
    client: t.relation('client', { description: 'The client taking part.' }),
    appointment: t.relation('appointment', {
      nullable: true,
      description: 'The appointment this conversation is about, if any.',
    }),
    lastMessage: t.relation('lastMessage', {
      nullable: true,
      description: 'The most recent message, for inbox previews.',
    }),
    unreadCount: t.int({
      description: "The viewer's unread messages in this conversation.",
      select: (_args, ctx) => ({
        notifications: { where: { userId: ctx.viewer?.id ?? NO_USER }, select: { unreadCount: true } },
      }),
      resolve: (conversation) => conversation.notifications[0]?.unreadCount ?? 0,
    }),
    messages: t.relatedConnection('messages', {
      description: 'Messages, newest first with first/after; last/before walks from the oldest.',
      cursor: 'id',
      defaultSize: 50,
      maxSize: pageLimit,
      complexity: pageComplexity(50),
      totalCount: true,
      query: () => ({ orderBy: { seq: 'desc' as const } }),
    }, MessageConnection),
  }),
});

const ConversationConnection = builder.connectionObject(
  { type: ConversationRef, name: 'ConversationConnection', description: 'A page of conversations.' },
  { name: 'ConversationEdge', description: 'A conversation in a page.' },
);

const CreateConversationInput = builder.inputType('CreateConversationInput', {
  description: 'A new conversation, opened by a salon.',
  fields: (t) => ({
    clientUserId: t.id({ description: 'The client to talk to.' }),
    appointmentId: t.id({ required: false, description: 'The appointment it is about; at most one conversation each.' }),
    subject: t.string({ description: 'Title, 1–200 characters.' }),
    firstMessage: t.string({ required: false, description: 'Optional first message from the salon.' }),
  }),
});

const UpdateConversationInput = builder.inputType('UpdateConversationInput', {
  description: 'Changes to a conversation; omitted fields stay as they are.',
  fields: (t) => ({
    subject: t.string({ required: false, description: 'New title, 1–200 characters.' }),
    status: t.field({
      type: ConversationStatusEnum,
      required: false,
      description: 'ARCHIVED stops new messages; ACTIVE reopens.',
    }),
  }),
});

builder.queryFields((t) => ({
  conversations: t.withAuth({ viewer: true }).prismaConnection(
    {
      type: 'Conversation',
      description: "The viewer's conversations, most recent activity first.",
      cursor: 'id',
      defaultSize: 20,
      maxSize: pageLimit,
      complexity: pageComplexity(20),
      args: {
        status: t.arg({ type: ConversationStatusEnum, required: false, description: 'Only this status.' }),
      },
      totalCount: (_connection, args, ctx) =>
        db.conversation.count({
          where: { ...visibleConversationWhere(ctx.viewer.id), ...(args.status ? { status: args.status } : {}) },
        }),
      resolve: (query, _root, args, ctx) =>
        db.conversation.findMany({
          ...query,
          where: { ...visibleConversationWhere(ctx.viewer.id), ...(args.status ? { status: args.status } : {}) },
          orderBy: [{ lastMessageAt: 'desc' }, { id: 'desc' }],
        }),
    },
    viewerRef(ConversationConnection),
  ),
  conversation: t.withAuth({ viewer: true }).prismaField({
    type: 'Conversation',
    nullable: true,
    description: 'One conversation; null when it does not exist or the viewer is not part of it.',
    args: { id: t.arg.id({ description: 'The conversation id.' }) },
    resolve: (query, _root, args, ctx) =>
      db.conversation.findFirst({
        ...query,
        where: { id: requireId(args.id, 'id'), ...visibleConversationWhere(ctx.viewer.id) },
      }),
  }),
}));

builder.mutationFields((t) => ({
  createConversation: t.withAuth({ viewer: true }).prismaField({
    type: 'Conversation',
    description: 'Opens a conversation with a client (salons only). An appointment that already has one → CONFLICT.',
    args: { input: t.arg({ type: CreateConversationInput, description: 'What to open.' }) },
    resolve: async (query, _root, { input }, ctx) =>
      withSelection(query, await committed(ctx, createConversation(ctx.viewer, input, ctx.config.limits.contentMaxLength)), (args) => db.conversation.findUniqueOrThrow(args)),
  }),
  updateConversation: t.withAuth({ viewer: true }).prismaField({
    type: 'Conversation',
    description: 'Changes the subject or status (salons only).',
    args: {
      id: t.arg.id({ description: 'The conversation id.' }),
      input: t.arg({ type: UpdateConversationInput, description: 'The changes.' }),
    },
    resolve: async (query, _root, { id, input }, ctx) =>
      withSelection(query, await committed(ctx, updateConversation(ctx.viewer, id, input)), (args) => db.conversation.findUniqueOrThrow(args)),
  }),
  archiveConversation: t.withAuth({ viewer: true }).prismaField({
    type: 'Conversation',
    description: 'Archives a conversation so it refuses new messages (salons only).',
    args: { id: t.arg.id({ description: 'The conversation id.' }) },
    resolve: async (query, _root, { id }, ctx) =>
      withSelection(query, await committed(ctx, archiveConversation(ctx.viewer, id)), (args) => db.conversation.findUniqueOrThrow(args)),
  }),
  markConversationRead: t.withAuth({ viewer: true }).prismaField({
    type: 'Conversation',
    description: 'Marks every unread message to the viewer in the conversation as read.',
    args: { id: t.arg.id({ description: 'The conversation id.' }) },
    resolve: async (query, _root, { id }, ctx) =>
      withSelection(query, await committed(ctx, markConversationRead(ctx.viewer, id)), (args) => db.conversation.findUniqueOrThrow(args)),
  }),
  markConversationUnread: t.withAuth({ viewer: true }).prismaField({
    type: 'Conversation',
    description:
      "Marks the viewer's messages in the conversation unread again from one message on (that one and every later one to the viewer that was read): their `readAt` is null again and the viewer's unread counts go up by as many. Calling it again changes nothing more.",
    args: {
      id: t.arg.id({ description: 'The conversation id.' }),
      fromMessageId: t.arg.id({ description: 'The first message to mark unread (a message of this conversation).' }),
    },
    resolve: async (query, _root, { id, fromMessageId }, ctx) =>
      withSelection(query, await committed(ctx, markConversationUnread(ctx.viewer, id, fromMessageId)), (args) =>
        db.conversation.findUniqueOrThrow(args),
      ),
  }),
  deleteConversation: t.withAuth({ viewer: true }).id({
    description: 'Deletes a conversation and its messages for both participants (salons only). Returns its id.',
    args: { id: t.arg.id({ description: 'The conversation id.' }) },
    resolve: (_root, { id }, ctx) => committed(ctx, deleteConversation(ctx.viewer, id)),
  }),
}));

const TypingEvent = builder.objectRef<TypingPayload>('TypingEvent').implement({
  description: 'Someone started or stopped typing in a conversation.',
  fields: (t) => ({
    conversationId: t.exposeID('conversationId', { description: 'The conversation.' }),
    user: t.field({
      type: UserRef,
      description: 'Who is typing.',
      resolve: async (event, _args, ctx) => (await ctx.loaders.user.load(event.userId))!,
    }),
    isTyping: t.exposeBoolean('isTyping', {
      description: 'False when they stopped, or a few seconds after their last refresh.',
    }),
  }),
});

builder.mutationFields((t) => ({
  setTyping: t.withAuth({ viewer: true }).boolean({
    description:
      'Starts (or refreshes) or stops the viewer\'s typing state. Without a refresh it ends by itself after a few seconds. Returns isTyping.',
    args: {
      conversationId: t.arg.id({ description: 'The conversation.' }),
      isTyping: t.arg.boolean({ description: 'True while typing; send it again every few seconds.' }),
    },
    resolve: async (_root, { conversationId, isTyping }, ctx) => {
      const { viewer } = ctx;
      const conversation = await conversationForViewer(viewer, conversationId);
      await ctx.limiter.hit('typing', viewer.id, ctx.config.limits.typingPerMin);
      await ctx.typing.set(conversation.id, viewer.id, isTyping);
      return isTyping;
    },
  }),
}));

builder.subscriptionFields((t) => ({
  conversationUpdated: t.withAuth({ viewer: true }).field({
    type: ConversationRef,
    description:
      "A conversation of the viewer changed: created, a new message in it, renamed, archived or unarchived. Reads come on `messageRead` and `unreadCount`.",
    subscribe: (_root, _args, ctx) => fromLog(ctx, null, conversationsOf),
    resolve: (conversation) => conversation,
  }),
  typing: t.withAuth({ viewer: true }).field({
    type: TypingEvent,
    description: 'Typing states of the other participant in one conversation.',
    args: { conversationId: t.arg.id({ description: 'The conversation.' }) },
    subscribe: async function* (_root, args, ctx) {
      const { viewer } = ctx;
      const conversation = await conversationForViewer(viewer, args.conversationId);
      const live = await ctx.bus.subscribe(topics.typing(conversation.id));
      try {
        for await (const event of live) if (event.userId !== viewer.id) yield event;
      } finally {
        await live.return?.();
      }
    },
    resolve: (event) => event,
  }),
}));
