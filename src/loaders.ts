import DataLoader from 'dataloader';
import { db } from './db.js';
import type { Presence } from './events/presence.js';
import type { User } from './generated/prisma/client.js';
import { reactionGroups, type ReactionGroup } from './services/reactions.js';

/**
 * Per-context batching and caching. A graphql-ws subscription keeps one context for its whole
 * life, so a user named in its events (reader, typist) is loaded once, not once per event. Each
 * loader is built on first use: most subscriptions never use one, and ten thousand of them would
 * otherwise each hold three.
 */
export function createLoaders(presence: Presence, viewerId: string | null) {
  let online: DataLoader<string, boolean> | undefined;
  let reactions: DataLoader<string, ReactionGroup[]> | undefined;
  let user: DataLoader<string, User | null> | undefined;
  return {
    get online() {
      return (online ??= new DataLoader<string, boolean>((ids) => presence.isOnline(ids), { cache: false }));
    },
    // Not cached: a subscription's context outlives many reaction changes. Batched: a page of
    // messages reads its reactions in one statement.
    get reactions() {
      return (reactions ??= new DataLoader<string, ReactionGroup[]>(
        async (messageIds) => {
          const groups = await reactionGroups(messageIds, viewerId);
          return messageIds.map((id) => groups.get(id) ?? []);
        },
        { cache: false },
      ));
    },
    get user() {
      return (user ??= new DataLoader<string, User | null>(async (ids) => {
        const users = await db.user.findMany({ where: { id: { in: [...ids] } } });
        const byId = new Map(users.map((found) => [found.id, found]));
        return ids.map((id) => byId.get(id) ?? null);
      }));
    },
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
