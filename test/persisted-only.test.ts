import { Kind, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../src/persisted.js';
import { buildSchema } from '../src/schema/index.js';
import { signToken, useTestApp } from './support/app.js';
import { codes, postJson as post } from './support/fixtures.js';
import { liveTopics, subscribe, untilLive, wsClient } from './support/ws.js';

const manifest = loadManifest();
const hashOf = (name: string) => [...manifest].find(([, document]) => new RegExp(`(query|mutation|subscription) ${name}\\b`).test(document))![0];

const only = useTestApp({ PERSISTED_OPERATIONS: 'only' });

describe('persisted operations, PERSISTED_OPERATIONS=only', () => {
  it('refuses documents over HTTP and runs manifest hashes', async () => {
    const user = await only.user('CLIENT').catch(() => null);
    // `only` refuses the document the helper uses to create a user, which is the point.
    expect(user).toBeNull();
    const refused = await post(only.app.url(), { query: '{ __typename }' });
    expect(codes(refused)).toEqual(['PERSISTED_QUERY_ONLY']);
    const unknown = await post(only.app.url(), { documentId: 'sha256:' + '1'.repeat(64) });
    expect(codes(unknown)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    const byHash = await post(only.app.url(), { documentId: `sha256:${hashOf('Me')}` });
    expect(codes(byHash)).toEqual(['UNAUTHENTICATED']);
  });

  it('refuses documents over WebSocket and runs manifest hashes there too', async () => {
    const id = crypto.randomUUID();
    const jwt = await signToken({ sub: id, email: `${id}@example.test`, role: 'client' });
    const ws = wsClient(only.app.wsUrl(), { token: jwt });
    const document = subscribe(ws, 'subscription { unreadCount { totalUnread } }');
    const persisted = subscribe(ws, '', {});
    await expect.poll(() => document.errors.length > 0 && persisted.errors.length > 0).toBe(true);
    expect(JSON.stringify(document.errors)).toContain('PERSISTED_QUERY_ONLY');
    expect(persisted.errors.length).toBeGreaterThan(0);
    const persistedErrors: unknown[] = [];
    const topicsBefore = await liveTopics(only.app);
    const byHash = ws.subscribe(
      { query: '', extensions: { persistedQuery: { version: 1, sha256Hash: hashOf('OnUnreadCount') } } },
      { next: () => {}, error: (error) => persistedErrors.push(error), complete: () => {} },
    );
    // Running: its topic is subscribed, and it was not refused.
    await untilLive(only.app, topicsBefore, 1);
    expect(persistedErrors).toEqual([]);
    byHash();
    await ws.dispose();
  });
});

describe('the manifest covers the API', () => {
  it('every mutation and subscription of the schema has a document in operations/, so PERSISTED_OPERATIONS=only partners can use it', () => {
    const schema = buildSchema();
    const used = new Set<string>();
    for (const document of manifest.values()) {
      for (const definition of parse(document).definitions) {
        if (definition.kind !== Kind.OPERATION_DEFINITION || definition.operation === 'query') continue;
        for (const selection of definition.selectionSet.selections) {
          if (selection.kind === Kind.FIELD) used.add(`${definition.operation}.${selection.name.value}`);
        }
      }
    }
    const fields = [
      ...Object.keys(schema.getMutationType()!.getFields()).map((name) => `mutation.${name}`),
      ...Object.keys(schema.getSubscriptionType()!.getFields()).map((name) => `subscription.${name}`),
    ];
    expect(fields.filter((field) => !used.has(field))).toEqual([]);
  });
});
