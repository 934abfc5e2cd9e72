import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../src/persisted.js';
import { useTestApp } from './support/app.js';
import { codes, openConversation, postJson as post, send } from './support/fixtures.js';
import { REDIS_URL } from './support/redis.js';
import { liveTopics, untilLive, wsClient } from './support/ws.js';

const manifest = loadManifest();
const hashOf = (name: string) => [...manifest].find(([, document]) => new RegExp(`(query|mutation|subscription) ${name}\\b`).test(document))![0];

const allow = useTestApp({ REDIS_URL }, { instances: 2 });

describe('persisted operations, PERSISTED_OPERATIONS=allow (default)', () => {
  it('runs a manifest operation by documentId or by extensions.persistedQuery, and plain documents too', async () => {
    const user = await allow.user('CLIENT');
    const me = hashOf('Me');
    expect((await post(allow.app.url(), { documentId: `sha256:${me}` }, user.token)).data).toMatchObject({ me: { id: user.id } });
    expect((await post(allow.app.url(), { extensions: { persistedQuery: { version: 1, sha256Hash: me } } }, user.token)).data).toMatchObject({ me: { id: user.id } });
    expect((await post(allow.app.url(), { query: '{ me { id } }' }, user.token)).data).toEqual({ me: { id: user.id } });
  });

  it("follows Apollo's APQ protocol, and a registered document is known to every instance", async () => {
    const user = await allow.user('CLIENT');
    const query = `query Apq${Date.now()} { unreadCount }`;
    const sha256Hash = createHash('sha256').update(query).digest('hex');
    const extensions = { persistedQuery: { version: 1, sha256Hash } };
    const unknown = await post(allow.apps[0]!.url(), { extensions }, user.token);
    expect(unknown.errors?.[0]).toMatchObject({ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } });
    expect((await post(allow.apps[0]!.url(), { query, extensions }, user.token)).data).toEqual({ unreadCount: 0 });
    expect((await post(allow.apps[1]!.url(), { extensions }, user.token)).data).toEqual({ unreadCount: 0 });
    const forged = await post(allow.app.url(), { query: '{ me { id } }', extensions: { persistedQuery: { version: 1, sha256Hash: '0'.repeat(64) } } }, user.token);
    expect(codes(forged)).toEqual(['BAD_USER_INPUT']);
  });
});

describe('persisted operations over WebSocket, PERSISTED_OPERATIONS=allow', () => {
  it('a subscription sent with its document and hash registers the document: the hash alone then runs on the other instance', async () => {
    const [salon, user] = [await allow.user('SALON'), await allow.user('CLIENT')];
    const conversationId = await openConversation(allow, salon, user);
    const query = `subscription ApqSocket${Date.now()} { unreadCount { totalUnread } }`;
    const sha256Hash = createHash('sha256').update(query).digest('hex');
    const extensions = { persistedQuery: { version: 1, sha256Hash } };
    const follow = (app: number, payload: { query?: string; extensions: typeof extensions }) => {
      const client = wsClient(allow.apps[app]!.wsUrl(), { authorization: `Bearer ${user.token}` });
      const totals: number[] = [];
      const errors: unknown[] = [];
      client.subscribe<{ unreadCount: { totalUnread: number } }>(
        { query: payload.query ?? '', extensions: payload.extensions },
        { next: ({ data }) => void (data && totals.push(data.unreadCount.totalUnread)), error: (error) => void errors.push(error), complete: () => undefined },
      );
      return { client, totals, errors };
    };

    // Waited for by its topic, not by the active-subscriptions gauge: that one counts a
    // subscription once accepted, before it has read its starting position, and a send that
    // commits in between is before "from now" (a CI run lost it so).
    const liveBefore = await Promise.all(allow.apps.map((app) => liveTopics(app)));
    const registering = follow(0, { query, extensions });
    await untilLive(allow.apps[0]!, liveBefore[0]!, 1);
    await send(allow, salon, conversationId, 'one');
    // Started, which is when its document is registered.
    await expect.poll(() => registering.totals).toEqual([1]);
    const byHash = follow(1, { extensions });
    await untilLive(allow.apps[1]!, liveBefore[1]!, 1);
    await send(allow, salon, conversationId, 'two');
    await expect.poll(() => byHash.totals).toEqual([2]);
    expect([...registering.errors, ...byHash.errors]).toEqual([]);
    await Promise.all([registering.client.dispose(), byHash.client.dispose()]);
  });
});
