import type { EventBus } from './bus.js';
import { topics } from './topics.js';
import { recipientsOf, type AppEvent, type EventSink } from './types.js';

/** Turns what a service did into topic messages: one per event per recipient (recipientsOf). */
export function busSink(bus: EventBus): EventSink {
  return {
    async publish(events) {
      await Promise.all(events.flatMap((event) => publishOne(bus, event)));
    },
  };
}

function publishOne(bus: EventBus, event: AppEvent): Promise<void>[] {
  const recipients = recipientsOf(event);
  switch (event.kind) {
    case 'messageAdded':
      return recipients.map((userId) => bus.publish(topics.messageAdded(userId), event.message));
    case 'messageRead': {
      const { conversationId, messageIds, readAt, readerId } = event;
      return recipients.map((userId) => bus.publish(topics.messageRead(userId), { conversationId, messageIds, readAt, readerId }));
    }
    case 'messageDeleted':
      return recipients.map((userId) =>
        bus.publish(topics.messageDeleted(userId), { conversationId: event.conversationId, messageId: event.messageId }),
      );
    case 'unreadCount': {
      const { totalUnread, conversationId, conversationUnread } = event;
      return recipients.map((userId) => bus.publish(topics.unreadCount(userId), { totalUnread, conversationId, conversationUnread }));
    }
    // A new conversation has always reached inboxes as `conversationUpdated`; clients rely on it.
    case 'conversationCreated':
    case 'conversationUpdated':
      return recipients.map((userId) => bus.publish(topics.conversationUpdated(userId), event.conversation));
    // No per-type subscription carries these: they reach clients through the event log only.
    case 'conversationDeleted':
    case 'appointmentCreated':
      return [];
  }
}
