import type { Browser } from 'playwright-core';
import { launchChromium } from './support/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnPresenceDocument } from '../operations/generated/graphql.js';
import { useTestApp, type TestUser } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';
import { liveTopics, metric, subscribe, wsClient } from './support/ws.js';

// The default presence grace period: this checks SPEC's "offline within 10 s" as deployed.
const t = useTestApp();
let browser: Browser;
let salon: TestUser;
let client: TestUser;
let conversationId: string;

beforeAll(async () => {
  browser = await launchChromium();
  salon = await t.user('SALON', 'Atelier');
  client = await t.user('CLIENT', 'Nina');
  conversationId = await openConversation(t, salon, client);
});

afterAll(async () => {
  await browser?.close();
});

/** The client app's page script: graphql-transport-ws spoken by the browser's own WebSocket. */
function clientApp({ wsUrl, token }: { wsUrl: string; token: string }) {
  const received: unknown[] = [];
  const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
  socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as { type: string; payload?: unknown };
    if (message.type === 'connection_ack') {
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { messageAdded { id content } }' } }));
      socket.send(JSON.stringify({ id: '2', type: 'subscribe', payload: { query: 'subscription { unreadCount { totalUnread } }' } }));
    }
    if (message.type === 'next') received.push(message.payload);
  };
  (window as unknown as { received: unknown[] }).received = received;
}

describe('a browser tab', () => {
  it('closed with a live subscription: the other participant sees it go offline within 10 s', async () => {
    const presence = subscribe(wsClient(t.app.wsUrl(), { authorization: `Bearer ${salon.token}` }), OnPresenceDocument);
    // Live: each subscription's topic is subscribed, so what is published from here on reaches it.
    await expect.poll(() => liveTopics(t.app)).toBe(1);

    const page = await browser.newPage();
    await page.goto(new URL('/health', t.app.url()).toString());
    await page.evaluate(clientApp, { wsUrl: t.app.wsUrl(), token: client.token });
    await expect.poll(() => liveTopics(t.app)).toBe(3);
    await presence.waitFor(1);
    expect(presence.events[0]?.presence).toMatchObject({ user: { id: client.id }, online: true });
    await send(t, salon, conversationId, 'Bonjour depuis le salon');
    await expect.poll(() => page.evaluate(() => JSON.stringify((window as unknown as { received: unknown[] }).received))).toContain('Bonjour depuis le salon');

    const closedAt = Date.now();
    await page.close();
    await presence.waitFor(2, 10_000);
    expect(presence.events[1]?.presence).toMatchObject({ user: { id: client.id }, online: false });
    expect(Date.now() - closedAt).toBeLessThan(10_000);
    expect(await metric(t.app.url(), 'salon_ws_open_sockets')).toBe(1);
    expect(await metric(t.app.url(), 'salon_active_subscriptions')).toBe(1);
    expect(await liveTopics(t.app)).toBe(1);
    const online = await t.gql<{ conversation: { client: { online: boolean } } }>(
      'query($id: ID!) { conversation(id: $id) { client { online } } }',
      { id: conversationId },
      salon.token,
    );
    expect(online.data?.conversation.client.online).toBe(false);
  });
});
