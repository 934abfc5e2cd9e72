import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../src/persisted.js';
import { useTestApp } from './support/app.js';
import { codes, postJson as post } from './support/fixtures.js';
import { REDIS_URL } from './support/redis.js';

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

