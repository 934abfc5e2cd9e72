import { requireViewer } from '../context.js';
import { db } from '../db.js';
import { builder } from './builder.js';
import { RoleEnum } from './enums.js';

export const UserRef = builder.prismaObject('User', {
  description: 'A person or business using the API: a salon or one of its clients.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier (a UUID).' }),
    email: t.exposeString('email', { description: 'Email address, lower-cased.' }),
    firstName: t.exposeString('firstName', { description: 'Given name (for a salon, its display name).' }),
    lastName: t.exposeString('lastName', { description: 'Family name; may be empty.' }),
    role: t.expose('role', { type: RoleEnum, description: 'Salon or client.' }),
    online: t.boolean({
      description: 'True while the user has at least one open real-time connection.',
      resolve: () => false,
    }),
    lastSeenAt: t.expose('lastSeenAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the user was last connected; null if never.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the account was first seen.' }),
  }),
});

builder.queryFields((t) => ({
  me: t.prismaField({
    type: 'User',
    description: 'The user the token belongs to.',
    resolve: (query, _root, _args, ctx) =>
      db.user.findUniqueOrThrow({ ...query, where: { id: requireViewer(ctx).id } }),
  }),
  unreadCount: t.int({
    description: "The viewer's unread messages across all conversations.",
    resolve: async (_root, _args, ctx) => {
      const { _sum } = await db.messageNotification.aggregate({
        where: { userId: requireViewer(ctx).id },
        _sum: { unreadCount: true },
      });
      return _sum.unreadCount ?? 0;
    },
  }),
}));
