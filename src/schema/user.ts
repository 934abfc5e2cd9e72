import { db } from '../db.js';
import { builder } from './builder.js';
import { RoleEnum } from './enums.js';
import { contactsOf } from '../events/presence.js';
import { topics, type PresencePayload } from '../events/topics.js';
import { unreadCountsOf, type UnreadCountShape } from '../services/event-stream.js';
import { committed, fromLog } from './live.js';
import { displayNameOf, updateProfile } from '../services/profile.js';
import { MAX_NAME_LENGTH } from '../services/validation.js';

export const UserRef = builder.prismaObject('User', {
  description: 'A person or business using the API: a salon or one of its clients.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier (a UUID).' }),
    email: t.exposeString('email', { description: 'Email address, lower-cased.' }),
    firstName: t.exposeString('firstName', { description: 'Given name, from the token (for a salon, the name it signed up with); show `displayName`.' }),
    lastName: t.exposeString('lastName', { description: 'Family name; may be empty.' }),
    role: t.expose('role', { type: RoleEnum, description: 'Salon or client.' }),
    displayName: t.string({
      description:
        "The name to show: a salon's business name, a client's full name. Set with updateProfile; until then \"firstName lastName\" from the user's token.",
      resolve: (user) => displayNameOf(user),
    }),
    avatarUrl: t.string({
      nullable: true,
      description:
        'A download link for the avatar image, signed and expiring (DOWNLOAD_URL_TTL_S): read it again for a fresh one rather than storing it. Null when the user has none.',
      resolve: (user, _args, ctx) => (user.avatarUploadId ? ctx.uploads.downloadUrl(user.avatarUploadId) : null),
    }),
    online: t.boolean({
      description: 'True while the user has at least one open real-time connection, on any server instance.',
      resolve: (user, _args, ctx) => ctx.loaders.online.load(user.id),
    }),
    lastSeenAt: t.expose('lastSeenAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the user was last connected; null if never.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the account was first seen.' }),
  }),
});

const UpdateProfileInput = builder.inputType('UpdateProfileInput', {
  description: "Changes to the viewer's profile; a field left out (or null, for displayName) stays as it is.",
  fields: (t) => ({
    displayName: t.string({
      required: false,
      description: `The name to show, trimmed, 1–${MAX_NAME_LENGTH} characters.`,
    }),
    avatarUrl: t.string({
      required: false,
      description: 'The attachmentUrl of a createAvatarUpload of the viewer, once the image is uploaded; null removes the avatar.',
    }),
  }),
});

builder.mutationFields((t) => ({
  updateProfile: t.withAuth({ viewer: true }).prismaField({
    type: 'User',
    description:
      "Changes the viewer's display name and avatar. The avatar must be an image (checked by its bytes) the viewer uploaded through createAvatarUpload; a replaced avatar's link stops working. The viewer and everyone they share a conversation with get a UserUpdatedEvent.",
    args: { input: t.arg({ type: UpdateProfileInput, description: 'What to change.' }) },
    resolve: async (query, _root, { input }, ctx) => {
      const updated = await committed(ctx, updateProfile(ctx.viewer, input));
      return db.user.findUniqueOrThrow({ ...query, where: { id: updated.id } });
    },
  }),
}));

builder.queryFields((t) => ({
  me: t.withAuth({ viewer: true }).prismaField({
    type: 'User',
    description: 'The user the token belongs to.',
    resolve: (query, _root, _args, ctx) =>
      db.user.findUniqueOrThrow({ ...query, where: { id: ctx.viewer.id } }),
  }),
  unreadCount: t.withAuth({ viewer: true }).int({
    description: "The viewer's unread messages across all conversations.",
    resolve: async (_root, _args, ctx) => {
      const { _sum } = await db.messageNotification.aggregate({
        where: { userId: ctx.viewer.id },
        _sum: { unreadCount: true },
      });
      return _sum.unreadCount ?? 0;
    },
  }),
}));

const PresenceEvent = builder.objectRef<PresencePayload>('PresenceEvent').implement({
  description: 'A user who shares a conversation with the viewer came online or went offline.',
  fields: (t) => ({
    user: t.field({
      type: UserRef,
      description: 'Whose presence changed.',
      resolve: async (event, _args, ctx) => (await ctx.loaders.user.load(event.userId))!,
    }),
    online: t.exposeBoolean('online', { description: 'True when at least one of their connections is open.' }),
    lastSeenAt: t.expose('lastSeenAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When their last session ended (for someone online now: the session before this one); null if never.',
    }),
  }),
});

export const UnreadCountEvent = builder.objectRef<UnreadCountShape>('UnreadCountEvent').implement({
  description: "The viewer's unread counts changed.",
  fields: (t) => ({
    totalUnread: t.exposeInt('totalUnread', { description: 'Unread messages across all conversations.' }),
    conversationId: t.exposeID('conversationId', { description: 'The conversation whose count changed.' }),
    conversationUnread: t.exposeInt('conversationUnread', { description: 'Unread messages in that conversation.' }),
  }),
});

builder.subscriptionFields((t) => ({
  presence: t.withAuth({ viewer: true }).field({
    type: PresenceEvent,
    description:
      'Everyone who shares a conversation with the viewer: first one event per contact online now (`online: true`), then each change as it happens.',
    subscribe: async function* (_root, _args, ctx) {
      const { viewer } = ctx;
      // Subscribed before the current state is read: a change in between comes after it, never lost.
      const live = await ctx.bus.subscribe(topics.presence(viewer.id));
      try {
        const contacts = await contactsOf(viewer.id);
        const online = await ctx.presence.isOnline(contacts.map((contact) => contact.id));
        // Who the client has been told is online: a contact who came online between the subscribe
        // and the read above is both in the snapshot and queued on `live`, and is said online once.
        // Every offline passes: the client may know of someone online from a query (User.online).
        const told = new Map<string, boolean>();
        for (const [i, contact] of contacts.entries()) {
          if (!online[i]) continue;
          told.set(contact.id, true);
          yield { userId: contact.id, online: true, lastSeenAt: contact.lastSeenAt } satisfies PresencePayload;
        }
        for await (const event of live) {
          if (event.online && told.get(event.userId) === true) continue;
          told.set(event.userId, event.online);
          yield event;
        }
      } finally {
        await live.return?.();
      }
    },
    resolve: (event) => event,
  }),
  unreadCount: t.withAuth({ viewer: true }).field({
    type: UnreadCountEvent,
    description: "The viewer's unread counts, whenever they change.",
    subscribe: (_root, _args, ctx) => fromLog(ctx, null, unreadCountsOf),
    resolve: (event) => event,
  }),
}));
