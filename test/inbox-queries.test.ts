import { beforeAll, describe, expect, it } from 'vitest';
import { onQuery } from '../src/db.js';
import { useTestApp, type TestUser } from './support/app.js';
import { uploadAttachment } from './support/uploads.js';

const t = useTestApp();

const INBOX = `query Inbox($first: Int!) {
  conversations(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id subject status lastMessageAt unreadCount
      salon { id firstName lastName }
      client { id firstName lastName }
      appointment { id startsAt service }
      lastMessage { id seq content createdAt author { id firstName } attachments { url type } }
    } }
  }
}`;

let salon: TestUser;

beforeAll(async () => {
  salon = await t.user('SALON');
  const clients = await Promise.all(Array.from({ length: 5 }, () => t.user('CLIENT')));
  // Twelve conversations at a time: the setup is not what this file measures.
  const book = async (i: number) => {
    const client = clients[i % clients.length]!;
    const booked = await t.gql<{ createAppointment: { conversation: { id: string } } }>(
      `mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { conversation { id } } }`,
      { input: { clientUserId: client.id, startsAt: '2027-04-01T10:00:00Z', service: `Service ${i}` } },
      salon.token,
    );
    const conversationId = booked.data!.createAppointment.conversation.id;
    await t.gql(
      'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
      { input: { conversationId, content: `reply ${i}`, attachments: [await uploadAttachment(t, client, conversationId)] } },
      client.token,
    );
  };
  for (let start = 0; start < 60; start += 12) await Promise.all(Array.from({ length: 12 }, (_, k) => book(start + k)));
});

/** The statements one inbox request sends, with literals and parameters elided to compare shapes. */
async function inboxStatements(first: number) {
  // Warm the viewer cache so the count covers the query itself, not the first-sight user lookup.
  await t.gql('{ me { id } }', {}, salon.token);
  const statements: string[] = [];
  // Every app also sweeps for webhooks every few seconds: not the inbox's statements.
  const stop = onQuery((sql) => void (sql.startsWith('/* background:') || statements.push(sql)));
  try {
    const response = await t.gql<{ conversations: { edges: { node: { lastMessage: { attachments: unknown[] } } }[] } }>(INBOX, { first }, salon.token);
    expect(response.errors).toBeUndefined();
    expect(response.data?.conversations.edges).toHaveLength(first);
    expect(response.data?.conversations.edges.every((edge) => edge.node.lastMessage.attachments.length === 1)).toBe(true);
  } finally {
    stop();
  }
  return statements.map((sql) => sql.replace(/\$\d+/g, '$n').replace(/\s+/g, ' ').trim());
}

describe('the inbox query', () => {
  it('runs the same fixed statements for 5 and for 50 conversations (no N+1)', async () => {
    const five = await inboxStatements(5);
    const fifty = await inboxStatements(50);
    expect(fifty).toEqual(five);
    // One statement loads the page with every relation through lateral joins; one counts.
    const tables = five.map((sql) => [...sql.matchAll(/"public"\."(\w+)"/g)].map((match) => match[1]));
    expect(tables).toEqual([
      ['Conversation', 'MessageNotification', 'User', 'User', 'Appointment', 'Message', 'User', 'MessageAttachment'],
      ['Conversation', 'Conversation', 'Conversation', 'Conversation'],
    ]);
    expect(five[0]).toMatch(/^SELECT .* FROM "public"\."Conversation" AS "t0" LEFT JOIN LATERAL/);
    expect(five[1]).toMatch(/^SELECT COUNT\(\*\)/);
  });
});
