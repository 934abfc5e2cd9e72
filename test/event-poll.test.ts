import { describe, expect, it } from 'vitest';
import { OnEventsDocument, OnMessageAddedDocument, type OnEventsSubscription } from '../operations/generated/graphql.js';
import { onQuery } from '../src/db.js';
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

  it('costs one statement per period for all idle readers of the instance, and sends back only the reader that is behind', async () => {
    const salon = await t.user('SALON');
    const clients = await Promise.all(Array.from({ length: 12 }, () => t.user('CLIENT')));
    const conversations = await Promise.all(clients.map((client) => openConversation(t, salon, client)));
    const sockets = clients.map((client) => wsClient(t.app.wsUrl(), { authorization: `Bearer ${client.token}` }));
    const before = await liveTopics(t.app);
    const statements: string[] = [];
    const stop = onQuery((sql) => void statements.push(sql));
    const logReads = () => statements.filter((sql) => sql.includes('"UserEvent"') && !sql.includes('event log check'));
    // 24 readers of 12 users' logs: `events` and `messageAdded` on each socket.
    const streams = sockets.map((ws) => subscribe<OnEventsSubscription>(ws, OnEventsDocument, {}));
    sockets.forEach((ws, i) => subscribe(ws, OnMessageAddedDocument, { conversationId: conversations[i] }));
    await untilLive(t.app, before, 24);
    // Each reader reads its log once as it starts (after its wake-ups are subscribed, so some of
    // those reads come after the gauge above): measured from when all 24 are done.
    await expect.poll(() => logReads().length).toBeGreaterThanOrEqual(24);
    statements.length = 0;
    try {
      // Six periods of 300 ms with nothing happening: the check runs, reads, sends no reader back.
      await expect.poll(() => statements.filter((sql) => sql.includes('event log check')).length).toBeGreaterThanOrEqual(6);
      const checks = statements.filter((sql) => sql.includes('event log check')).length;
      expect(logReads()).toEqual([]);
      // One statement per period, not one per reader (24 a period before).
      expect(checks).toBeLessThanOrEqual(8);

      // A change committed with no wake-up for client 3 only: that user's readers read the log.
      statements.length = 0;
      await updateConversation({ id: salon.id, role: 'SALON', tokenExpiresAt: Date.now() / 1000 + 600 }, conversations[3]!, { subject: 'Only three' });
      await expect.poll(() => streams[3]!.events.length).toBe(1);
      const reads = statements.filter((sql) => /FROM "public"\."UserEvent"|FROM "UserEvent"/.test(sql) && !sql.includes('event log check'));
      // `events` and `messageAdded` of that user each read it once (then find nothing more): not the other 22.
      expect(reads.length).toBeGreaterThanOrEqual(2);
      expect(reads.length).toBeLessThanOrEqual(4);
      expect(streams.filter((stream, i) => i !== 3 && stream.events.length > 0)).toEqual([]);
    } finally {
      stop();
      await Promise.all(sockets.map((ws) => ws.dispose()));
    }
  });
});
