import DataLoader from 'dataloader';
import { db } from './db.js';
import type { Presence } from './events/presence.js';
import type { User } from './generated/prisma/client.js';
import { reactionGroups, type ReactionGroup } from './services/reactions.js';

/**
 * Per-context batching and caching. A graphql-ws subscription keeps one context for its whole
 * life, so a user named in its events (reader, typist) is loaded once, not once per event. Each
 * loader is built on first use: most subscriptions never use one, and ten thousand of them would
 * otherwise each hold three. A class for the reason events/release.ts' `IteratorLayer` gives: an
 * object literal's getters cost each context three closures, their scope and an accessor table.
 */
export class Loaders {
  private onlineLoader: DataLoader<string, boolean> | undefined;
  private reactionsLoader: DataLoader<string, ReactionGroup[]> | undefined;
  private userLoader: DataLoader<string, User | null> | undefined;

  constructor(
    private readonly presence: Presence,
    private readonly viewerId: string | null,
  ) {}

  get online(): DataLoader<string, boolean> {
    return (this.onlineLoader ??= new DataLoader<string, boolean>((ids) => this.presence.isOnline(ids), { cache: false }));
  }

  // Not cached: a subscription's context outlives many reaction changes. Batched: a page of
  // messages reads its reactions in one statement.
  get reactions(): DataLoader<string, ReactionGroup[]> {
    return (this.reactionsLoader ??= new DataLoader<string, ReactionGroup[]>(
      async (messageIds) => {
        const groups = await reactionGroups(messageIds, this.viewerId);
        return messageIds.map((id) => groups.get(id) ?? []);
      },
      { cache: false },
    ));
  }

  get user(): DataLoader<string, User | null> {
    return (this.userLoader ??= new DataLoader<string, User | null>(async (ids) => {
      const users = await db.user.findMany({ where: { id: { in: [...ids] } } });
      const byId = new Map(users.map((found) => [found.id, found]));
      return ids.map((id) => byId.get(id) ?? null);
    }));
  }
}
