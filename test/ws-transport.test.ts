import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';
import { liveTopics, rawSocket, untilLive } from './support/ws.js';

/**
 * src/ws-transport.ts reads subscribe messages before graphql-ws does (it keeps their document
 * aside): whatever it does not understand must reach graphql-ws as it came, so that the protocol's
 * own answers are unchanged.
 */
const t = useTestApp();

describe('graphql-ws over ws (src/ws-transport.ts)', () => {
  it('a malformed subscribe message gets graphql-ws\'s 4400, a repeated id its 4409', async () => {
    const client = await t.user('CLIENT');
    const params = { authorization: `Bearer ${client.token}` };
    const notJson = await rawSocket(t.app.wsUrl(), params);
    notJson.socket.send('{"type":"subscribe", not json');
    expect(await notJson.closed).toBe(4400);

    const badQuery = await rawSocket(t.app.wsUrl(), params);
    badQuery.socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 42 } }));
    expect(await badQuery.closed).toBe(4400);

    const twice = await rawSocket(t.app.wsUrl(), params);
    twice.subscribe('same', 'subscription { unreadCount { totalUnread } }');
    twice.subscribe('same', 'subscription { unreadCount { totalUnread } }');
    expect(await twice.closed).toBe(4409);
  });

  it('the document of each subscription reaches it, with its variables, several per socket', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const socket = await rawSocket(t.app.wsUrl(), { authorization: `Bearer ${client.token}` });
    const before = await liveTopics(t.app);
    socket.subscribe('totals', 'subscription Totals { unreadCount { totalUnread } }');
    socket.subscribe('added', 'subscription Added($id: ID!) { messageAdded(conversationId: $id) { content } }', { id: conversationId });
    // An empty document is refused as graphql-ws would refuse it, the socket left open.
    socket.subscribe('empty', '');
    await expect.poll(() => socket.messages.find((m) => m.id === 'empty')?.type).toBe('error');
    await untilLive(t.app, before, 2);
    await send(t, salon, conversationId, 'ping');
    await expect.poll(() => socket.messages.filter((m) => m.type === 'next').map((m) => [m.id, m.payload])).toEqual(
      expect.arrayContaining([
        ['added', { data: { messageAdded: { content: 'ping' } } }],
        ['totals', { data: { unreadCount: { totalUnread: 1 } } }],
      ]),
    );
    socket.socket.close();
  });
});
