import type { Context } from '../context.js';
import { requireViewer } from '../context.js';
import type { TopicMap } from '../events/topics.js';
import { conversationForViewer } from '../services/access.js';

type UserTopic = `user:${string}:${string}` & keyof TopicMap;

/**
 * A per-viewer topic, optionally narrowed to one conversation after checking the viewer takes
 * part in it: the topic comes from the viewer, never from an argument.
 */
export async function* filterLive<T extends UserTopic>(
  ctx: Context,
  topicOf: (userId: string) => T,
  conversationId: string | null | undefined,
): AsyncGenerator<TopicMap[T]> {
  const viewer = requireViewer(ctx);
  const only = conversationId ? (await conversationForViewer(viewer, conversationId)).id : null;
  const live = await ctx.bus.subscribe(topicOf(viewer.id));
  try {
    for await (const event of live) {
      if (only && (event as { conversationId?: string; id?: string }).conversationId !== only) continue;
      yield event;
    }
  } finally {
    await live.return?.();
  }
}
