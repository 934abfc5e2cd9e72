import { beforeEach, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { codes, openConversation } from './support/fixtures.js';
import { REDIS_URL } from './support/redis.js';

// Two instances sharing Redis: the per-user window holds across them.
const t = useTestApp({ REDIS_URL, RATE_LIMIT_SENDS_PER_MIN: '3', RATE_LIMIT_TYPING_PER_MIN: '2', RATE_LIMIT_REACTIONS_PER_MIN: '2' }, { instances: 2 });

const SEND = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }';

/** Windows are calendar minutes: start well inside one so the test cannot straddle two. */
beforeEach(async () => {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_100 - intoMinute));
}, 15_000);

describe('rate limits per user (fixed one-minute window, in Redis)', () => {
  it('the fourth send in a minute is RATE_LIMITED with retryAfter, even on another instance, and stores nothing', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await t.gql(SEND, { input: { conversationId, content: `n${i}` } }, client.token, i % 2));
    expect(results.slice(0, 3).map(codes)).toEqual([[], [], []]);
    const refused = results[3]!;
    expect(codes(refused)).toEqual(['RATE_LIMITED']);
    const retryAfter = refused.errors?.[0]?.extensions?.retryAfter as number;
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const stored = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM "Message" WHERE "conversationId" = $1', [conversationId]);
    expect(stored[0]?.n).toBe(3);
    // Another user has a window of their own.
    expect(codes(await t.gql(SEND, { input: { conversationId, content: 'salon' } }, salon.token, 1))).toEqual([]);
  });

  it('edits count against the send limit; reactions have a limit of their own; neither stores anything when refused', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const sent = await t.gql<{ sendMessage: { id: string } }>(SEND, { input: { conversationId, content: 'v0' } }, client.token);
    const id = sent.data!.sendMessage.id;
    const edit = 'mutation($id: ID!, $content: String!) { editMessage(id: $id, content: $content) { content } }';
    const edits = [];
    for (let i = 1; i <= 3; i++) edits.push(codes(await t.gql(edit, { id, content: `v${i}` }, client.token, i % 2)));
    // One send and two edits fill the window of 3.
    expect(edits).toEqual([[], [], ['RATE_LIMITED']]);
    const [row] = await t.sql<{ content: string }>('SELECT content FROM "Message" WHERE id = $1', [id]);
    expect(row?.content).toBe('v2');

    const react = 'mutation($id: ID!, $emoji: String!) { addReaction(messageId: $id, emoji: $emoji) { id } }';
    const reactions = [];
    for (const emoji of ['👍', '🎉', '❤️']) reactions.push(codes(await t.gql(react, { id, emoji }, salon.token)));
    expect(reactions).toEqual([[], [], ['RATE_LIMITED']]);
    const stored = await t.sql<{ emoji: string }>('SELECT emoji FROM "MessageReaction" WHERE "messageId" = $1 ORDER BY "createdAt"', [id]);
    expect(stored.map((r) => r.emoji)).toEqual(['👍', '🎉']);
  });

  it('typing events are limited separately', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client);
    const typing = 'mutation($id: ID!) { setTyping(conversationId: $id, isTyping: true) }';
    const results = [];
    for (let i = 0; i < 3; i++) results.push(codes(await t.gql(typing, { id: conversationId }, client.token, i % 2)));
    expect(results).toEqual([[], [], ['RATE_LIMITED']]);
  });
});
