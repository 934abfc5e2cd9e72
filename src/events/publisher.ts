import type { EventBus } from './bus.js';
import { topics } from './topics.js';
import type { AppEvent, EventSink } from './types.js';

/** Turns what a service did into topic messages: one per event per interested user. */
export function busSink(bus: EventBus): EventSink {
  return {
    async publish(events) {
      await Promise.all(events.flatMap((event) => publishOne(bus, event)));
    },
  };
}

function publishOne(bus: EventBus, event: AppEvent): Promise<void>[] {
  switch (event.kind) {
    case 'messageAdded':
      return event.participantIds.map((userId) => bus.publish(topics.messageAdded(userId), event.message));
    case 'messageRead': {
      const { conversationId, messageIds, readAt, readerId } = event;
      return event.participantIds.map((userId) =>
        bus.publish(topics.messageRead(userId), { conversationId, messageIds, readAt, readerId }),
      );
    }
    case 'messageDeleted':
      return event.participantIds.map((userId) =>
        bus.publish(topics.messageDeleted(userId), { conversationId: event.conversationId, messageId: event.messageId }),
      );
    case 'unreadCount':
      return [
        bus.publish(topics.unreadCount(event.userId), {
          totalUnread: event.totalUnread,
          conversationId: event.conversationId,
          conversationUnread: event.conversationUnread,
        }),
      ];
    case 'conversationUpdated':
      return event.participantIds.map((userId) => bus.publish(topics.conversationUpdated(userId), event.conversation));
  }
}
