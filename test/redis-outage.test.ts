import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp, type TestUser } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';
import { privateRedis } from './support/redis.js';
import { subscribe, wsClient } from './support/ws.js';

// A redis-server of this file's own, killed and started again on the same port mid-test.
const { url, start: startRedis, kill: stopRedis } = await privateRedis();

beforeAll(startRedis);
const t = useTestApp({ REDIS_URL: url }, { instances: 2 });
afterAll(stopRedis);

let salon: TestUser;
let client: TestUser;

beforeAll(async () => {
  salon = await t.user('SALON');
  client = await t.user('CLIENT');
});

describe('Redis restarted while the servers run', () => {
  it('queries and mutations keep working, subscriptions recover, and resume recovers what was missed', async () => {
    const conversationId = await openConversation(t, salon, client);
    // Subscribing from a known message makes the start independent of when the subscription is
    // established: whatever is sent after `opening` arrives, replayed or live.
    const opening = await send(t, client, conversationId, 'opening');
    const ws = wsClient(t.apps[1]!.wsUrl(), { token: salon.token });
    const live = subscribe<{ messageAdded: { seq: number; content: string } }>(
      ws,
      'subscription($id: ID, $after: ID) { messageAdded(conversationId: $id, after: $after) { seq content } }',
      { id: conversationId, after: opening.id },
    );
    const before = await send(t, client, conversationId, 'before the outage');
    await live.waitFor(1);

    await stopRedis();
    const during = [];
    for (let i = 0; i < 3; i++) during.push(await send(t, client, conversationId, `during ${i}`));
    const inbox = await t.gql<{ conversations: { totalCount: number } }>('{ conversations { totalCount } }', {}, salon.token, 1);
    expect(inbox.data?.conversations.totalCount).toBe(1);

    await startRedis();
    // Once the subscriber connection is back, the next live message reveals the gap, which is read from PostgreSQL.
    let after: { id: string; seq: number } | undefined;
    let attempt = 0;
    await expect
      .poll(
        async () => {
          after = await send(t, client, conversationId, `after ${attempt++}`);
          return live.events.length;
        },
        { timeout: 15_000, interval: 250 },
      )
      .toBeGreaterThanOrEqual(5);
    const seqs = live.events.map((e) => e.messageAdded.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => before.seq + i));
    expect(seqs.length).toBeGreaterThanOrEqual(5);
    expect(live.events.slice(1, 4).map((e) => e.messageAdded.content)).toEqual(['during 0', 'during 1', 'during 2']);

    const resumed = subscribe<{ messageAdded: { seq: number } }>(
      wsClient(t.apps[0]!.wsUrl(), { token: salon.token }),
      'subscription($id: ID, $after: ID) { messageAdded(conversationId: $id, after: $after) { seq } }',
      { id: conversationId, after: before.id },
    );
    const replayed = await resumed.waitFor(after!.seq - before.seq);
    expect(replayed.map((e) => e.messageAdded.seq)).toEqual(Array.from({ length: after!.seq - before.seq }, (_, i) => before.seq + 1 + i));
    live.dispose();
    resumed.dispose();
    await ws.dispose();
  });
});
