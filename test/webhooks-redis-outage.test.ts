/**
 * A webhook endpoint created while Redis is away: the mutation answers as usual, and once Redis is
 * back every instance knows the endpoint without waiting for its periodic sweep (each sweeps when
 * its bus reconnects), so an event committed on another instance than the endpoint's is delivered.
 * And an instance starting while Redis is away starts (it listens for announcements once it can).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { useTestApp } from './support/app.js';
import { openConversation } from './support/fixtures.js';
import { privateRedis } from './support/redis.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

// A redis-server of this file's own, killed and started again on the same port mid-test.
const { url, start: startRedis, kill: stopRedis } = await privateRedis();

beforeAll(startRedis);
const t = useTestApp(
  {
    REDIS_URL: url,
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    // Ten minutes: only the announcement, or the sweep a reconnect starts, can tell instance 1.
    WEBHOOK_SWEEP_MS: '600000',
  },
  { instances: 2 },
);
let receiver: WebhookReceiver | undefined;
afterAll(async () => {
  await receiver?.close();
  await stopRedis();
});

describe('a webhook endpoint created while Redis is away', () => {
  it('is created as usual, and once Redis is back an event committed on the other instance is delivered', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    receiver = await startWebhookReceiver();

    await stopRedis();
    const created = await t.gql<{ createWebhookEndpoint: { secret: string; endpoint: { id: string } } }>(
      'mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { id } } }',
      { input: { url: receiver.url(), eventTypes: ['message.created'] } },
      salon.token,
      0,
    );
    expect(created.errors).toBeUndefined();
    receiver.secrets.add(created.data!.createWebhookEndpoint.secret);

    await startRedis();
    // Sent through instance 1 until one arrives: before its bus is back it does not know the
    // endpoint (the announcement was lost), after its reconnect sweep it does.
    const sent: string[] = [];
    await expect
      .poll(
        async () => {
          const response = await t.gql<{ sendMessage: { id: string } }>(
            'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
            { input: { conversationId, content: `after the outage ${sent.length}` } },
            client.token,
            1,
          );
          if (response.data) sent.push(response.data.sendMessage.id);
          return receiver!.requests.length;
        },
        { timeout: 20_000, interval: 500 },
      )
      .toBeGreaterThan(0);
    const first = receiver.requests[0]!;
    expect(first.verified).toBe(true);
    expect(sent).toContain(first.body?.data.id);
  });

  it('an instance starting while Redis is away starts, serves, and stops', async () => {
    await stopRedis();
    const late = buildApp({ ...t.config, databaseUrl: t.databaseUrl });
    try {
      await late.start(0);
      const response = await fetch(late.url(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
      expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
    } finally {
      await late.stop();
      await startRedis();
    }
  });
});
