import { describe, expect, it } from 'vitest';
import { OnEventsDocument, type OnEventsSubscription } from '../operations/generated/graphql.js';
import { updateConversation } from '../src/services/conversations.js';
import { useTestApp } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';
import { liveTopics, subscribe, untilLive, wsClient } from './support/ws.js';

// In-process bus, and a short period for the readers' periodic check of the log.
const t = useTestApp({ EVENT_POLL_MS: '300' });

describe('the periodic check of the log', () => {
  it('delivers a committed change whose wake-up never went out (a failed publish), then live ones as before', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const ws = wsClient(t.app.wsUrl(), { authorization: `Bearer ${client.token}` });
    const before = await liveTopics(t.app);
    const stream = subscribe<OnEventsSubscription>(ws, OnEventsDocument, {});
    await untilLive(t.app, before, 1);

    // The service commits and records its event; nothing announces it, as when the publish fails.
    await updateConversation({ id: salon.id, role: 'SALON', tokenExpiresAt: Date.now() / 1000 + 600 }, conversationId, { subject: 'Renamed quietly' });
    await expect
      .poll(() => stream.events.map((event) => event.events.payload.__typename === 'ConversationUpdatedEvent' && event.events.payload.conversation.subject))
      .toEqual(['Renamed quietly']);

    const message = await send(t, salon, conversationId, 'and then live');
    await expect.poll(() => stream.events.length).toBe(3);
    expect(stream.events.map((event) => event.events.payload.__typename)).toEqual(['ConversationUpdatedEvent', 'MessageAddedEvent', 'UnreadCountEvent']);
    const added = stream.events[1]!.events.payload;
    expect(added.__typename === 'MessageAddedEvent' && added.message.id).toBe(message.id);
    expect(stream.errors).toEqual([]);
    await ws.dispose();
  });
});
