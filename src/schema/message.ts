import type { ViewerContext } from '../context.js';
import { db } from '../db.js';
import { badInput } from '../errors.js';
import { logger } from '../logger.js';
import { conversationForViewer, messageForViewer } from '../services/access.js';
import {
  deletionsOf,
  editsOf,
  messagesOf,
  positionOfMessage,
  readsOf,
  type MessageDeletedShape,
  type MessageEditedShape,
  type MessageReadShape,
} from '../services/event-stream.js';
import { carriedAsSent } from '../services/event-stream.js';
import { deleteMessage, editMessage, markMessageRead, sendMessage } from '../services/messages.js';
import { addReaction, MAX_REACTIONS_PER_MESSAGE, removeReaction, type ReactionGroup } from '../services/reactions.js';
import { committed, fromLog } from './live.js';
import { UserRef } from './user.js';
import { ATTACHMENT_TYPES, MAX_ATTACHMENTS, requireId } from '../services/validation.js';
import { withSelection } from './selection.js';
import { builder, pageComplexity, pageLimit, viewerRef } from './builder.js';
import { MessageKindEnum } from './enums.js';
import { uploadIdOf } from '../uploads/index.js';


builder.prismaObject('MessageAttachment', {
  description: 'A file linked to a message.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier (a UUID).' }),
    url: t.string({
      description:
        'A download link for the file, signed and expiring (DOWNLOAD_URL_TTL_S): read it again for a fresh one rather than storing it. It stops working once the message is deleted. (Attachments sent before uploads existed: the URL they were sent with.)',
      resolve: (attachment, _args, ctx) => {
        const uploadId = uploadIdOf(attachment.url);
        return uploadId ? ctx.uploads.downloadUrl(uploadId) : attachment.url;
      },
    }),
    type: t.exposeString('type', { description: 'MIME type, as read from the file itself, e.g. image/jpeg.' }),
  }),
});

const ReactionGroupRef = builder.objectRef<ReactionGroup>('ReactionGroup').implement({
  description: 'The reactions with one emoji to a message.',
  fields: (t) => ({
    // Cost 0: values of the one statement `Message.reactions` already paid for.
    emoji: t.exposeString('emoji', { complexity: 0, description: 'The emoji (one emoji, fully qualified, e.g. "❤️").' }),
    count: t.exposeInt('count', { complexity: 0, description: 'How many people reacted with it (at most 2 in a conversation of two).' }),
    reactedByMe: t.exposeBoolean('reactedByMe', { complexity: 0, description: 'Whether the viewer is one of them (removeReaction undoes it).' }),
  }),
});

export const MessageRef = builder.prismaObject('Message', {
  description: 'One message in a conversation.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier (a UUID); pass it as `after` to resume a subscription.' }),
    conversationId: t.exposeID('conversationId', { description: 'The conversation it belongs to.' }),
    seq: t.exposeInt('seq', {
      description: 'Position in the conversation: 1, 2, 3… in commit order, with no gaps.',
    }),
    kind: t.expose('kind', { type: MessageKindEnum, description: 'USER or SYSTEM.' }),
    content: t.exposeString('content', { description: 'The text (as last edited); empty once the message is deleted.' }),
    editedAt: t.expose('editedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the author last edited the text; null if never edited.',
    }),
    reactions: t.field({
      type: [ReactionGroupRef],
      description: `Reactions, one entry per emoji in the order they were first used (at most ${MAX_REACTIONS_PER_MESSAGE}); empty once deleted. A page of messages reads them in one query.`,
      // One batched statement per page, whatever the number of emojis: its entries cost nothing more.
      complexity: 1,
      resolve: (message, _args, ctx) => (carriedAsSent(message) ? [] : ctx.loaders.reactions.load(message.id)),
    }),
    isDeleted: t.exposeBoolean('isDeleted', { description: 'True once the author deleted it.' }),
    readAt: t.expose('readAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the recipient read it; null while unread.',
    }),
    clientMessageId: t.exposeString('clientMessageId', {
      nullable: true,
      description: "The sender's idempotency key, if one was given.",
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was sent.' }),
    author: t.relation('author', { nullable: true, description: 'Who wrote it; null for SYSTEM messages.' }),
    conversation: t.relation('conversation', { description: 'The conversation it belongs to.' }),
    attachments: t.relation('attachments', {
      description: `Attached files (at most ${MAX_ATTACHMENTS}); empty once deleted.`,
      // Not paginated: its cost counts the most a message can hold.
      complexity: { field: 1, multiplier: MAX_ATTACHMENTS },
    }),
  }),
});

/** One connection type for both `Query.messages` and `Conversation.messages`. */
export const MessageConnection = builder.connectionObject(
  { type: MessageRef, name: 'MessageConnection', description: 'A page of messages.' },
  { name: 'MessageEdge', description: 'A message in a page.' },
);

const AttachmentInput = builder.inputType('AttachmentInput', {
  description: 'A file to attach, uploaded first through createAttachmentUpload.',
  fields: (t) => ({
    url: t.string({ description: 'The attachmentUrl createAttachmentUpload gave the sender for this conversation, once the file is uploaded.' }),
    type: t.string({ description: `MIME type, one of ${ATTACHMENT_TYPES.join(', ')}; it must be what the file's bytes are.` }),
  }),
});

const SendMessageInput = builder.inputType('SendMessageInput', {
  description: 'A message to send.',
  fields: (t) => ({
    conversationId: t.id({ description: 'Where to send it.' }),
    content: t.string({ description: 'The text, trimmed; 1–4,000 characters by default.' }),
    attachments: t.field({
      type: [AttachmentInput],
      required: false,
      description: `Up to ${MAX_ATTACHMENTS} files.`,
    }),
    clientMessageId: t.string({
      required: false,
      description: 'Idempotency key: a retry with the same key returns the first message instead of a duplicate.',
    }),
  }),
});

builder.queryFields((t) => ({
  messages: t.withAuth({ viewer: true }).prismaConnection(
    {
      type: 'Message',
      description: 'Messages of a conversation, newest first with first/after; last/before walks from the oldest.',
      cursor: 'id',
      defaultSize: 50,
      maxSize: pageLimit,
      complexity: pageComplexity(50),
      args: { conversationId: t.arg.id({ description: 'The conversation.' }) },
      totalCount: (_connection, args) => db.message.count({ where: { conversationId: args.conversationId } }),
      resolve: async (query, _root, args, ctx) => {
        const conversation = await conversationForViewer(ctx.viewer, args.conversationId);
        return db.message.findMany({ ...query, where: { conversationId: conversation.id }, orderBy: { seq: 'desc' } });
      },
    },
    viewerRef(MessageConnection),
  ),
}));

builder.mutationFields((t) => ({
  sendMessage: t.withAuth({ viewer: true }).prismaField({
    type: 'Message',
    description:
      'Sends a message. Retrying with the same clientMessageId returns the first message; reusing it for other content → CONFLICT.',
    args: { input: t.arg({ type: SendMessageInput, description: 'The message.' }) },
    resolve: async (query, _root, { input }, ctx) => {
      const { viewer } = ctx;
      await ctx.limiter.hit('send', viewer.id, ctx.config.limits.sendsPerMin);
      // Sending ends the author's typing state, as in every chat app, once the message is stored.
      // Not waited for: its Redis command is queued before this answer is written (so it stays
      // ordered before the author's next typing request on this instance), and waiting added a
      // Redis round trip to every send's latency. Issued alongside the wake-ups, it leaves with them.
      const message = await committed(ctx, sendMessage(viewer, input, ctx.config.limits.contentMaxLength), (sent) => {
        void ctx.typing.set(sent.conversationId, viewer.id, false).catch((error: unknown) => {
          logger.warn({ err: error, conversationId: sent.conversationId }, 'typing state not ended after a send');
        });
      });
      return withSelection(query, message, (args) => db.message.findUniqueOrThrow(args));
    },
  }),
  markMessageRead: t.withAuth({ viewer: true }).prismaField({
    type: 'Message',
    description: 'Marks a message read (its recipient only); reading twice changes nothing.',
    args: { id: t.arg.id({ description: 'The message id.' }) },
    resolve: async (query, _root, { id }, ctx) =>
      withSelection(query, await committed(ctx, markMessageRead(ctx.viewer, id)), (args) => db.message.findUniqueOrThrow(args)),
  }),
  editMessage: t.withAuth({ viewer: true }).prismaField({
    type: 'Message',
    description:
      'Changes the text of a message (its author only, USER messages only, not once deleted) and sets `editedAt`. The same text again changes nothing. Edits count against the send rate limit.',
    args: {
      id: t.arg.id({ description: 'The message id.' }),
      content: t.arg.string({ description: 'The new text, trimmed; 1–4,000 characters by default, as for sendMessage.' }),
    },
    resolve: async (query, _root, { id, content }, ctx) => {
      await ctx.limiter.hit('send', ctx.viewer.id, ctx.config.limits.sendsPerMin);
      const message = await committed(ctx, editMessage(ctx.viewer, id, content, ctx.config.limits.contentMaxLength));
      return withSelection(query, message, (args) => db.message.findUniqueOrThrow(args));
    },
  }),
  addReaction: t.withAuth({ viewer: true }).prismaField({
    type: 'Message',
    description: `Reacts to a message with an emoji (either participant; one reaction per person and emoji, adding it again changes nothing; at most ${MAX_REACTIONS_PER_MESSAGE} different emojis per message; not on a deleted message). Rate-limited per user (RATE_LIMIT_REACTIONS_PER_MIN).`,
    args: {
      messageId: t.arg.id({ description: 'The message.' }),
      emoji: t.arg.string({ description: 'Exactly one emoji, e.g. "👍" or "👍🏽" (at most 32 UTF-16 code units).' }),
    },
    resolve: async (query, _root, { messageId, emoji }, ctx) => {
      await ctx.limiter.hit('reaction', ctx.viewer.id, ctx.config.limits.reactionsPerMin);
      const message = await committed(ctx, addReaction(ctx.viewer, messageId, emoji));
      return withSelection(query, message, (args) => db.message.findUniqueOrThrow(args));
    },
  }),
  removeReaction: t.withAuth({ viewer: true }).prismaField({
    type: 'Message',
    description: "Removes the viewer's reaction with this emoji; removing one the viewer does not have changes nothing. Rate-limited with addReaction.",
    args: {
      messageId: t.arg.id({ description: 'The message.' }),
      emoji: t.arg.string({ description: 'The emoji of the reaction to remove.' }),
    },
    resolve: async (query, _root, { messageId, emoji }, ctx) => {
      await ctx.limiter.hit('reaction', ctx.viewer.id, ctx.config.limits.reactionsPerMin);
      const message = await committed(ctx, removeReaction(ctx.viewer, messageId, emoji));
      return withSelection(query, message, (args) => db.message.findUniqueOrThrow(args));
    },
  }),
  deleteMessage: t.withAuth({ viewer: true }).id({
    description: 'Deletes a message (its author only): content hidden, attachments dropped. Returns its id.',
    args: { id: t.arg.id({ description: 'The message id.' }) },
    resolve: (_root, { id }, ctx) => committed(ctx, deleteMessage(ctx.viewer, id)),
  }),
}));

export const MessageReadEvent = builder.objectRef<MessageReadShape>('MessageReadEvent').implement({
  description: 'Messages were read by their recipient.',
  fields: (t) => ({
    conversationId: t.exposeID('conversationId', { description: 'The conversation.' }),
    messageIds: t.exposeIDList('messageIds', { description: 'The messages that became read.' }),
    readAt: t.expose('readAt', { type: 'DateTime', description: 'When they were read.' }),
    reader: t.field({
      type: UserRef,
      description: 'Who read them.',
      resolve: async (event, _args, ctx) => (await ctx.loaders.user.load(event.readerId))!,
    }),
  }),
});

export const MessageEditedEvent = builder.objectRef<MessageEditedShape>('MessageEditedEvent').implement({
  description: 'A message was edited by its author.',
  fields: (t) => ({
    conversationId: t.exposeID('conversationId', { description: 'The conversation.' }),
    editedAt: t.expose('editedAt', { type: 'DateTime', description: 'When this edit was made.' }),
    message: t.field({
      type: MessageRef,
      description: 'The message as it is now (a later edit already applied, or `isDeleted` true if deleted since).',
      resolve: (event) => db.message.findUniqueOrThrow({ where: { id: event.messageId }, include: { attachments: true } }),
    }),
  }),
});

export const MessageUnreadEvent = builder.objectRef<{ conversationId: string; messageIds: string[]; readerId: string }>('MessageUnreadEvent').implement({
  description: 'Messages that were read became unread again: their recipient marked the conversation unread (markConversationUnread). Their `readAt` is null again.',
  fields: (t) => ({
    conversationId: t.exposeID('conversationId', { description: 'The conversation.' }),
    messageIds: t.exposeIDList('messageIds', { description: 'The messages that became unread.' }),
    reader: t.field({
      type: UserRef,
      description: 'Who marked them unread (their recipient).',
      resolve: async (event, _args, ctx) => (await ctx.loaders.user.load(event.readerId))!,
    }),
  }),
});

export const ReactionChangedEvent = builder
  .objectRef<{ conversationId: string; messageId: string; emoji: string; userId: string; added: boolean }>('ReactionChangedEvent')
  .implement({
    description: 'Someone added or removed a reaction; `message.reactions` gives the counts as they are now.',
    fields: (t) => ({
      conversationId: t.exposeID('conversationId', { description: 'The conversation.' }),
      emoji: t.exposeString('emoji', { description: 'The emoji added or removed.' }),
      added: t.exposeBoolean('added', { description: 'True when the reaction was added, false when removed.' }),
      user: t.field({
        type: UserRef,
        description: 'Who reacted (or took the reaction back).',
        resolve: async (event, _args, ctx) => (await ctx.loaders.user.load(event.userId))!,
      }),
      message: t.field({
        type: MessageRef,
        description: 'The message as it is now, with its reactions.',
        resolve: (event) => db.message.findUniqueOrThrow({ where: { id: event.messageId }, include: { attachments: true } }),
      }),
    }),
  });

export const MessageDeletedEvent = builder.objectRef<MessageDeletedShape>('MessageDeletedEvent').implement({
  description: 'A message was deleted by its author.',
  fields: (t) => ({
    conversationId: t.exposeID('conversationId', { description: 'The conversation.' }),
    messageId: t.exposeID('messageId', { description: 'The deleted message.' }),
  }),
});

/** The conversation a subscription is narrowed to, after checking the viewer takes part in it. */
async function onlyConversation(ctx: ViewerContext, conversationId: string | null | undefined): Promise<string | null> {
  return conversationId ? (await conversationForViewer(ctx.viewer, requireId(conversationId, 'conversationId'))).id : null;
}

builder.subscriptionFields((t) => ({
  messageAdded: t.withAuth({ viewer: true }).field({
    type: MessageRef,
    description:
      'New messages, in the order they committed. With `after` (the id of the last message held) it first replays, oldest first, every message committed after it in the viewer\'s conversations (or the one named), then goes live: no gap, no duplicate, across reconnects, instances and Redis outages. A message older than the event retention is CURSOR_EXPIRED: reload the conversation.',
    args: {
      conversationId: t.arg.id({ required: false, description: "Only this conversation; omit for all of the viewer's conversations." }),
      after: t.arg.id({ required: false, description: 'Resume after this message id (replay, then live).' }),
    },
    subscribe: async (_root, args, ctx) => {
      const { viewer } = ctx;
      // Each argument checked under its own name (the lookups below report a bad one as `id`).
      const conversationId = args.conversationId ? requireId(args.conversationId, 'conversationId') : null;
      const afterId = args.after ? requireId(args.after, 'after') : null;
      const only = conversationId ? (await conversationForViewer(viewer, conversationId)).id : null;
      const after = afterId ? await messageForViewer(viewer, afterId) : null;
      if (only && after && after.conversationId !== only) throw badInput('`after` is not a message of this conversation', 'after');
      const from = after ? await positionOfMessage(viewer.id, after) : null;
      return fromLog(ctx, from, (batch) => messagesOf(batch, only));
    },
    resolve: (message, _args, ctx) => {
      const age = (Date.now() - new Date(message.createdAt).getTime()) / 1000;
      // Replayed messages are old; only live ones say how fast fan-out is.
      if (age < 60) ctx.metrics.fanoutLatency.observe(age);
      return message;
    },
  }),
  messageRead: t.withAuth({ viewer: true }).field({
    type: MessageReadEvent,
    description: 'Read receipts in the viewer\'s conversations.',
    args: { conversationId: t.arg.id({ required: false, description: "Only this conversation; omit for all of the viewer's conversations." }) },
    subscribe: async (_root, args, ctx) => {
      const only = await onlyConversation(ctx, args.conversationId);
      return fromLog(ctx, null, (batch) => readsOf(batch, only));
    },
    resolve: (event) => event,
  }),
  messageEdited: t.withAuth({ viewer: true }).field({
    type: MessageEditedEvent,
    description: "Edits in the viewer's conversations, live (a view of `events`, which resumes from a cursor).",
    args: { conversationId: t.arg.id({ required: false, description: "Only this conversation; omit for all of the viewer's conversations." }) },
    subscribe: async (_root, args, ctx) => {
      const only = await onlyConversation(ctx, args.conversationId);
      return fromLog(ctx, null, (batch) => editsOf(batch, only));
    },
    resolve: (event) => event,
  }),
  messageDeleted: t.withAuth({ viewer: true }).field({
    type: MessageDeletedEvent,
    description: 'Messages deleted in the viewer\'s conversations.',
    args: { conversationId: t.arg.id({ required: false, description: "Only this conversation; omit for all of the viewer's conversations." }) },
    subscribe: async (_root, args, ctx) => {
      const only = await onlyConversation(ctx, args.conversationId);
      return fromLog(ctx, null, (batch) => deletionsOf(batch, only));
    },
    resolve: (event) => event,
  }),
}));
