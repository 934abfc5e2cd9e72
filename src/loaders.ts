import DataLoader from 'dataloader';
import { db } from './db.js';
import type { Presence } from './events/presence.js';
import type { User } from './generated/prisma/client.js';
import { reactionGroups, type ReactionGroup } from './services/reactions.js';

/**
 * Per-context batching and caching. A graphql-ws subscription keeps one context for its whole
 * life, so a user named in its events (reader, typist) is loaded once, not once per event.
 */
export function createLoaders(presence: Presence, viewerId: string | null) {
  return {
    online: new DataLoader<string, boolean>((ids) => presence.isOnline(ids), { cache: false }),
    // Not cached: a subscription's context outlives many reaction changes. Batched: a page of
    // messages reads its reactions in one statement.
    reactions: new DataLoader<string, ReactionGroup[]>(
      async (messageIds) => {
        const groups = await reactionGroups(messageIds, viewerId);
        return messageIds.map((id) => groups.get(id) ?? []);
      },
      { cache: false },
    ),
    user: new DataLoader<string, User | null>(async (ids) => {
      const users = await db.user.findMany({ where: { id: { in: [...ids] } } });
      const byId = new Map(users.map((user) => [user.id, user]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
