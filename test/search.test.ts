/**
 * `searchMessages` as a frontend uses it: French words found whatever their accents and
 * inflection, only in the viewer's conversations, never once deleted, ranked, paged with cursors,
 * with an HTML snippet that is safe to insert. Then the plan PostgreSQL picks on 100,000 messages.
 */
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { ApolloClient, HttpLink, InMemoryCache } from '@apollo/client';
import { relayStylePagination } from '@apollo/client/utilities';
import { print } from 'graphql';
import { filter, firstValueFrom } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { SearchMessagesDocument, SendMessageDocument, type SearchMessagesQuery, type SearchMessagesQueryVariables } from '../operations/generated/graphql.js';
import { onQuery } from '../src/db.js';
import { planSearch, SEARCH_INDEX, searchStatement } from '../src/services/search.js';
import { useTestApp, type GraphQLResponse, type TestUser } from './support/app.js';
import { codes, openConversation } from './support/fixtures.js';

const t = useTestApp();

type Edge = SearchMessagesQuery['searchMessages']['edges'][number];

async function run<R, V extends Record<string, unknown>>(document: TypedDocumentNode<R, V>, variables: V, token: string) {
  const response = await fetch(t.app.url(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: print(document), variables }),
  });
  return (await response.json()) as GraphQLResponse<R>;
}

async function send(user: TestUser, conversationId: string, content: string): Promise<string> {
  const response = await run(SendMessageDocument, { input: { conversationId, content } }, user.token);
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.sendMessage.id;
}

async function search(user: TestUser, variables: SearchMessagesQueryVariables) {
  const response = await run(SearchMessagesDocument, variables, user.token);
  if (!response.data || response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data.searchMessages;
}

const contents = (edges: Edge[]) => edges.map((edge) => edge.node.content);

describe('searchMessages', () => {
  let salon: TestUser;
  let client: TestUser;
  let conversation: string;

  beforeAll(async () => {
    salon = await t.user('SALON');
    client = await t.user('CLIENT');
    conversation = await openConversation(t, salon, client, 'Coupe du 12');
  });

  it('folds accents and case and stems French words, in the query and in the messages', async () => {
    await send(client, conversation, 'La Coupé était parfaite, merci !');
    await send(salon, conversation, 'Deux COUPES de cheveux pour samedi');
    await send(salon, conversation, 'Couleur prévue à 15h');

    for (const query of ['coupe', 'COUPÉ', 'coupes', 'Coupe']) {
      const page = await search(salon, { query });
      expect(contents(page.edges).sort(), query).toEqual(['Deux COUPES de cheveux pour samedi', 'La Coupé était parfaite, merci !']);
    }
    const [hit] = (await search(client, { query: 'prevue' })).edges;
    expect(hit?.snippet).toBe('Couleur <mark>prévue</mark> à 15h');
  });

  it('finds "rendez vous" from rendez-vous, and the other way round', async () => {
    const other = await openConversation(t, salon, client, 'RDV');
    await send(salon, other, 'Votre rendez-vous est confirmé');
    await send(client, other, 'Peut-on décaler le rendez vous ?');

    for (const query of ['rendez-vous', 'rendez vous', 'Rendez-Vous', '"rendez vous"']) {
      const page = await search(client, { query, conversationId: other });
      expect(contents(page.edges).sort(), query).toEqual(['Peut-on décaler le rendez vous ?', 'Votre rendez-vous est confirmé']);
    }
    const snippets = (await search(client, { query: 'rendez-vous', conversationId: other })).edges.map((edge) => edge.snippet).sort();
    expect(snippets).toEqual(['Peut-on décaler le <mark>rendez</mark> vous ?', 'Votre <mark>rendez</mark>-vous est confirmé']);
  });

  it("searches only the viewer's conversations, as salon and as client", async () => {
    const otherSalon = await t.user('SALON');
    const otherClient = await t.user('CLIENT');
    const elsewhere = await openConversation(t, otherSalon, client, 'Ailleurs');
    const stranger = await openConversation(t, otherSalon, otherClient, 'Privé');
    await send(otherSalon, elsewhere, 'Balayage offert chez nous');
    await send(otherClient, stranger, 'Balayage trop clair');
    await send(client, conversation, 'Un balayage, possible ?');

    expect(contents((await search(salon, { query: 'balayage' })).edges)).toEqual(['Un balayage, possible ?']);
    expect(contents((await search(client, { query: 'balayage' })).edges).sort()).toEqual(['Balayage offert chez nous', 'Un balayage, possible ?']);
    expect(contents((await search(otherClient, { query: 'balayage' })).edges)).toEqual(['Balayage trop clair']);
    expect(contents((await search(client, { query: 'balayage', conversationId: elsewhere })).edges)).toEqual(['Balayage offert chez nous']);

    // A conversation of others is NOT_FOUND, exactly like one that does not exist.
    for (const conversationId of [stranger, '00000000-0000-4000-8000-000000000000']) {
      const refused = await run(SearchMessagesDocument, { query: 'balayage', conversationId }, salon.token);
      expect(codes(refused)).toEqual(['NOT_FOUND']);
      expect(refused.data).toBeNull();
    }
  });

  it('reads the query as a web search box does: all words, "a phrase", or, -word', async () => {
    const room = await openConversation(t, salon, client, 'Syntaxe');
    await send(client, room, 'Une couleur brushing demain');
    await send(client, room, 'Brushing puis couleur');
    await send(client, room, 'Brushing seul');
    await send(client, room, 'Couleur seule');
    const found = async (query: string) => contents((await search(salon, { query, conversationId: room })).edges).sort();
    expect(await found('couleur brushing')).toEqual(['Brushing puis couleur', 'Une couleur brushing demain']);
    expect(await found('"couleur brushing"')).toEqual(['Une couleur brushing demain']);
    expect(await found('couleur or brushing')).toEqual(['Brushing puis couleur', 'Brushing seul', 'Couleur seule', 'Une couleur brushing demain']);
    expect(await found('brushing -couleur')).toEqual(['Brushing seul']);
  });

  it('never finds a deleted message', async () => {
    const id = await send(salon, conversation, 'Lissage brésilien à 80 euros');
    expect(contents((await search(client, { query: 'lissage' })).edges)).toEqual(['Lissage brésilien à 80 euros']);
    const deleted = await t.gql('mutation($id: ID!) { deleteMessage(id: $id) }', { id }, salon.token);
    expect(deleted.errors).toBeUndefined();
    expect((await search(client, { query: 'lissage' })).edges).toEqual([]);
    expect((await search(salon, { query: 'brésilien' })).edges).toEqual([]);
  });

  it('returns the text HTML-escaped with only the matches in <mark>', async () => {
    const room = await openConversation(t, salon, client, 'HTML');
    await send(client, room, `<script>alert("coupe")</script> & <b>Coupé</b> l'été`);
    // Private-use characters that could pose as the marks are dropped from the snippet.
    await send(client, room, 'faux \uE000début\uE001 et \uE002b\uE003 coupe');
    const snippets = (await search(salon, { query: 'coupe', conversationId: room })).edges.map((edge) => edge.snippet).sort();
    expect(snippets).toEqual([
      '&lt;script&gt;alert(&quot;<mark>coupe</mark>&quot;)&lt;/script&gt; &amp; &lt;b&gt;<mark>Coupé</mark>&lt;/b&gt; l&#39;été',
      'faux début et b <mark>coupe</mark>',
    ]);
  });

  it('finds words between angle brackets, which the text search parser would take for HTML tags', async () => {
    const room = await openConversation(t, salon, client, 'Brackets');
    await send(client, room, 'Je viendrai <avec ma soeur> pour un balayage');
    await send(client, room, 'Le prix a<b et brushing c>d');
    expect(contents((await search(salon, { query: 'soeur', conversationId: room })).edges)).toEqual(['Je viendrai <avec ma soeur> pour un balayage']);
    const [hit] = (await search(salon, { query: 'brushing', conversationId: room })).edges;
    expect(hit?.snippet).toBe('Le prix a&lt;b et <mark>brushing</mark> c&gt;d');
  });

  it('cuts a long message to its first match and the words after it, saying where text is left out', async () => {
    const room = await openConversation(t, salon, client, 'Long');
    const filler = (word: string) => Array.from({ length: 60 }, (_, i) => `${word}${i}`).join(' ');
    await send(client, room, `${filler('avant')} je voudrais une permanente souple ${filler('après')}`);
    const [hit] = (await search(salon, { query: 'permanente', conversationId: room })).edges;
    expect(hit?.snippet).toMatch(/^…<mark>permanente<\/mark> souple après0 après1 .*…$/);
    expect(hit!.snippet.split(' ').length).toBeLessThanOrEqual(40);
  });

  it('ranks the better match first, then the newest', async () => {
    const room = await openConversation(t, salon, client, 'Rang');
    const older = await send(client, room, 'Shampooing puis soin');
    const weak = await send(client, room, `Shampooing ${Array.from({ length: 30 }, (_, i) => `mot${i}`).join(' ')} kératine`);
    const strong = await send(client, room, 'Shampooing kératine demain');
    const newer = await send(client, room, 'Shampooing puis soin');
    const page = await search(salon, { query: 'shampooing kératine', conversationId: room });
    expect(page.edges.map((edge) => edge.node.id)).toEqual([strong, weak]);
    const single = await search(salon, { query: 'shampooing', conversationId: room });
    // Same words, same rank: the newest first.
    expect(single.edges.map((edge) => edge.node.id).indexOf(newer)).toBeLessThan(single.edges.map((edge) => edge.node.id).indexOf(older));
  });

  it('pages with cursors: every hit once, in rank order, across pages', async () => {
    const room = await openConversation(t, salon, client, 'Pages');
    const sent: string[] = [];
    for (let i = 0; i < 23; i++) sent.push(await send(client, room, `Mèches ${i % 3 === 0 ? 'mèches ' : ''}numéro ${i}`));
    const all = await search(salon, { query: 'meches', conversationId: room, first: 100 });
    expect(all.edges).toHaveLength(23);
    expect(all.pageInfo.hasNextPage).toBe(false);
    // The word twice ranks first; at equal rank, the newest first.
    const twice = sent.filter((_, i) => i % 3 === 0).reverse();
    const once = sent.filter((_, i) => i % 3 !== 0).reverse();
    expect(all.edges.map((edge) => edge.node.id)).toEqual([...twice, ...once]);

    const byDefault = await search(salon, { query: 'meches', conversationId: room });
    expect(byDefault.edges).toHaveLength(20);
    expect(byDefault.pageInfo.hasNextPage).toBe(true);
    // Any hit's cursor resumes right after it.
    const resumed = await search(salon, { query: 'meches', conversationId: room, first: 3, after: all.edges[4]!.cursor });
    expect(resumed.edges.map((edge) => edge.node.id)).toEqual(all.edges.slice(5, 8).map((edge) => edge.node.id));

    const seen: string[] = [];
    const sizes: number[] = [];
    let after: string | null | undefined;
    for (;;) {
      const page = await search(salon, { query: 'meches', conversationId: room, first: 10, after });
      sizes.push(page.edges.length);
      seen.push(...page.edges.map((edge) => edge.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(sizes).toEqual([10, 10, 3]);
    const pageInfo = async (variables: Record<string, unknown>) =>
      (await t.gql<{ searchMessages: { pageInfo: { hasPreviousPage: boolean; startCursor: string | null } } }>(
        'query($room: ID, $after: String) { searchMessages(query: "meches", conversationId: $room, first: 10, after: $after) { pageInfo { hasPreviousPage startCursor } } }',
        { room, ...variables },
        salon.token,
      )).data!.searchMessages.pageInfo;
    expect(await pageInfo({})).toEqual({ hasPreviousPage: false, startCursor: all.edges[0]!.cursor });
    expect(await pageInfo({ after: all.edges[9]!.cursor })).toEqual({ hasPreviousPage: true, startCursor: all.edges[10]!.cursor });
    expect(seen).toEqual(all.edges.map((edge) => edge.node.id));
    expect(new Set(seen)).toEqual(new Set(sent));

    // A new better match arriving between pages does not shift the next page.
    const first = await search(salon, { query: 'meches', conversationId: room, first: 10 });
    await send(client, room, 'Mèches mèches mèches');
    const second = await search(salon, { query: 'meches', conversationId: room, first: 10, after: first.pageInfo.endCursor });
    expect(second.edges.map((edge) => edge.node.id)).toEqual(seen.slice(10, 20));
  });

  it('pages in an Apollo Client cache with fetchMore, as the README shows', async () => {
    const room = await openConversation(t, salon, client, 'Apollo');
    for (let i = 0; i < 5; i++) await send(client, room, `Ombré hair ${i}`);
    const apollo = new ApolloClient({
      link: new HttpLink({ uri: t.app.url(), headers: { authorization: `Bearer ${salon.token}` } }),
      cache: new InMemoryCache({ typePolicies: { Query: { fields: { searchMessages: relayStylePagination(['query', 'conversationId']) } } } }),
    });
    const watched = apollo.watchQuery({ query: SearchMessagesDocument, variables: { query: 'ombre', conversationId: room, first: 2 } });
    // useQuery's data: the first page, then each fetchMore merged into the same list.
    const complete = <R extends { dataState: string }>(result: R): result is Extract<R, { dataState: 'complete' }> => result.dataState === 'complete';
    const first = await firstValueFrom(watched.pipe(filter(complete)));
    expect(first.data.searchMessages.edges).toHaveLength(2);
    await watched.fetchMore({ variables: { after: first.data.searchMessages.pageInfo.endCursor } });
    const merged = await firstValueFrom(watched.pipe(filter(complete), filter((result) => result.data.searchMessages.edges.length > 2)));
    expect(merged.data.searchMessages.edges.map((edge) => edge.snippet)).toEqual([
      '<mark>Ombré</mark> hair 4',
      '<mark>Ombré</mark> hair 3',
      '<mark>Ombré</mark> hair 2',
      '<mark>Ombré</mark> hair 1',
    ]);
    expect(merged.data.searchMessages.pageInfo.hasNextPage).toBe(true);
    apollo.stop();
  });

  it('refuses bad input with BAD_USER_INPUT and the field', async () => {
    await send(client, conversation, 'Une coupe courte');
    const cursor = (await search(salon, { query: 'coupe', first: 1 })).pageInfo.endCursor;
    expect(cursor).toBeTruthy();
    const cases: [SearchMessagesQueryVariables, string][] = [
      [{ query: '' }, 'query'],
      [{ query: '   ' }, 'query'],
      [{ query: 'a'.repeat(201) }, 'query'],
      [{ query: 'coupe', first: 101 }, 'first'],
      [{ query: 'coupe', first: -1 }, 'first'],
      [{ query: 'coupe', after: 'not-a-cursor' }, 'after'],
      // A forged cursor: the right shape, a time PostgreSQL would not read.
      [{ query: 'coupe', after: Buffer.from(JSON.stringify([1, 'x', 0.1, 'Tue Mar 01 2022', '00000000-0000-4000-8000-000000000000'])).toString('base64url') }, 'after'],
      // A cursor of another search.
      [{ query: 'couleur', after: cursor }, 'after'],
      [{ query: 'coupe', conversationId: 'nope' }, 'conversationId'],
    ];
    for (const [variables, field] of cases) {
      const response = await run(SearchMessagesDocument, variables, salon.token);
      expect(codes(response), JSON.stringify(variables)).toEqual(['BAD_USER_INPUT']);
      expect(response.errors?.[0]?.extensions?.field).toBe(field);
    }
    // Exactly 200 characters is accepted.
    expect((await search(salon, { query: `${'coupe '.repeat(33)}ok` })).edges).toEqual([]);
    // Only stop words or punctuation: nothing to look for, so nothing found.
    expect((await search(salon, { query: 'le la les' })).edges).toEqual([]);
    expect((await search(salon, { query: '!!! :: & |' })).edges).toEqual([]);
    expect(codes(await t.gql('{ searchMessages(query: "coupe") { edges { snippet } } }'))).toEqual(['UNAUTHENTICATED']);
  });

  it('loads a page of any size with the same statements (no N+1)', async () => {
    const room = await openConversation(t, salon, client, 'Compte');
    for (let i = 0; i < 12; i++) await send(i % 2 ? client : salon, room, `Frange ${i}`);
    const statements = async (first: number) => {
      await t.gql('{ me { id } }', {}, salon.token);
      const seen: string[] = [];
      const stop = onQuery((sql) => void (sql.startsWith('/* background:') || seen.push(sql.replace(/\$\d+/g, '$n').replace(/IN \((\$n,?)+\)/g, 'IN (…)').replace(/\s+/g, ' ').trim())));
      try {
        expect((await search(salon, { query: 'frange', conversationId: room, first })).edges).toHaveLength(first);
      } finally {
        stop();
      }
      return seen;
    };
    const two = await statements(2);
    expect(await statements(10)).toEqual(two);
    // The conversation check, the search, then the messages with author and conversation joined.
    expect(two).toHaveLength(3);
    expect(two[1]).toMatch(/websearch_to_tsquery/);
    expect(two[2]).toMatch(/^SELECT .* FROM "public"\."Message" AS "t0" LEFT JOIN LATERAL/);
  });
});

describe('the search plan on 100,000 messages', () => {
  it(`uses ${SEARCH_INDEX} for a viewer with many conversations`, async () => {
    const salon = await t.user('SALON');
    const otherSalon = await t.user('SALON');
    // 1,000 clients, one conversation each: the first 300 with the viewer, the rest with another salon.
    await t.sql(`INSERT INTO "User" ("id", "email", "firstName", "lastName", "role", "updatedAt")
      SELECT gen_random_uuid(), 'bulk-' || i || '@example.test', 'Client', 'Bulk ' || i, 'CLIENT', now() FROM generate_series(1, 1000) i`);
    await t.sql(
      `INSERT INTO "Conversation" ("id", "salonId", "clientUserId", "subject", "updatedAt")
      SELECT gen_random_uuid(), CASE WHEN n <= 300 THEN $1::uuid ELSE $2::uuid END, u."id", 'bulk ' || n, now()
        FROM (SELECT "id", row_number() OVER (ORDER BY "email") AS n FROM "User" WHERE "email" LIKE 'bulk-%') u`,
      [salon.id, otherSalon.id],
    );
    // Dropped and rebuilt from its own definition around the bulk insert, as pg_restore does: one
    // build takes a fraction of the time of 100,000 insertions into the index.
    const [index] = await t.sql<{ definition: string }>('SELECT pg_get_indexdef($1::regclass) AS definition', [`"${SEARCH_INDEX}"`]);
    await t.sql(`DROP INDEX "${SEARCH_INDEX}"`);
    // 100 messages per conversation; "permanente" in one message of 5,000.
    await t.sql(`
      WITH conv AS (SELECT "id", row_number() OVER (ORDER BY "id") - 1 AS n FROM "Conversation" WHERE "subject" LIKE 'bulk %')
      INSERT INTO "Message" ("id", "conversationId", "seq", "kind", "content", "createdAt", "updatedAt")
      SELECT gen_random_uuid(), conv."id", i / 1000 + 1, 'SYSTEM',
             (ARRAY['Votre coupe est confirmée', 'Merci pour la couleur', 'Brushing demain à 10h', 'Rendez-vous déplacé', 'Soin à la kératine offert'])[i / 1000 % 5 + 1]
               || ' n° ' || i || CASE WHEN i % 4999 = 0 THEN ' avec permanente' ELSE '' END,
             now() - i * interval '1 second', now()
        FROM generate_series(0, 99999) i JOIN conv ON conv.n = i % 1000`);
    await t.sql(index!.definition);
    await t.sql('ANALYZE "Message"; ANALYZE "Conversation"');
    const [total] = await t.sql<{ count: string }>('SELECT count(*) FROM "Message"');
    expect(Number(total?.count)).toBeGreaterThanOrEqual(100_000);

    // A rare word and a word in one message of five: the index either way, with the viewer filter.
    for (const query of ['permanente', 'coupe']) {
      const plan = await planSearch({ id: salon.id, role: 'SALON', tokenExpiresAt: 0 }, { query }, 100);
      const statement = searchStatement(plan);
      const explained = await t.sql<{ 'QUERY PLAN': string }>(`EXPLAIN ${statement.text}`, statement.values);
      expect(explained.map((row) => row['QUERY PLAN']).join('\n'), query).toContain(`Bitmap Index Scan on "${SEARCH_INDEX}"`);
    }

    const expected = await t.sql<{ id: string }>(
      `SELECT m."id" FROM "Message" m JOIN "Conversation" c ON c."id" = m."conversationId" WHERE c."salonId" = $1 AND m."content" LIKE '%permanente'`,
      [salon.id],
    );
    expect(expected.length).toBeGreaterThan(0);
    const page = await search(salon, { query: 'permanente', first: 100 });
    expect(page.edges.map((edge) => edge.node.id).sort()).toEqual(expected.map((row) => row.id).sort());
  });
});
