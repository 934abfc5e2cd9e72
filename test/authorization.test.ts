import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp, type TestUser } from './support/app.js';
import { codes, openConversation, send } from './support/fixtures.js';

const t = useTestApp();

let salon: TestUser;
let client: TestUser;
let stranger: TestUser;
let strangerSalon: TestUser;
let conversationId: string;
let salonMessageId: string;
let clientMessageId: string;

beforeAll(async () => {
  salon = await t.user('SALON');
  client = await t.user('CLIENT');
  stranger = await t.user('CLIENT', 'Stranger');
  strangerSalon = await t.user('SALON', 'Rival');
  conversationId = await openConversation(t, salon, client);
  salonMessageId = (await send(t, salon, conversationId, 'from salon')).id;
  clientMessageId = (await send(t, client, conversationId, 'from client')).id;
});

async function snapshot() {
  return t.sql(
    `SELECT (SELECT count(*) FROM "Message")::int AS messages,
            (SELECT count(*) FROM "Message" WHERE "readAt" IS NOT NULL OR "isDeleted")::int AS touched,
            (SELECT string_agg(status::text || subject, ',') FROM "Conversation")::text AS conversations`,
  );
}

describe('a stranger cannot see or touch a conversation', () => {
  const operations: [string, string, () => Record<string, unknown>][] = [
    ['sendMessage', 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }', () => ({ input: { conversationId, content: 'hi' } })],
    ['markMessageRead', 'mutation($id: ID!) { markMessageRead(id: $id) { id } }', () => ({ id: salonMessageId })],
    ['deleteMessage', 'mutation($id: ID!) { deleteMessage(id: $id) }', () => ({ id: clientMessageId })],
    ['markConversationRead', 'mutation($id: ID!) { markConversationRead(id: $id) { id } }', () => ({ id: conversationId })],
    ['archiveConversation', 'mutation($id: ID!) { archiveConversation(id: $id) { id } }', () => ({ id: conversationId })],
    ['updateConversation', 'mutation($id: ID!) { updateConversation(id: $id, input: { subject: "x" }) { id } }', () => ({ id: conversationId })],
    ['deleteConversation', 'mutation($id: ID!) { deleteConversation(id: $id) }', () => ({ id: conversationId })],
    ['messages', 'query($id: ID!) { messages(conversationId: $id) { totalCount } }', () => ({ id: conversationId })],
  ];

  for (const [name, document, variables] of operations) {
    it(`${name} → NOT_FOUND for a client and a salon outside it, nothing stored`, async () => {
      const before = await snapshot();
      for (const outsider of [stranger, strangerSalon]) {
        const response = await t.gql(document, variables(), outsider.token);
        expect(codes(response)).toEqual(['NOT_FOUND']);
      }
      expect(await snapshot()).toEqual(before);
    });
  }

  it('conversation(id) is null and the inbox is empty for a stranger', async () => {
    const one = await t.gql('query($id: ID!) { conversation(id: $id) { id } }', { id: conversationId }, stranger.token);
    expect(one.data).toEqual({ conversation: null });
    const inbox = await t.gql('{ conversations { totalCount edges { node { id } } } }', {}, stranger.token);
    expect(inbox.data).toEqual({ conversations: { totalCount: 0, edges: [] } });
  });
});

describe('participants are limited by role', () => {
  it('a client cannot archive, update or delete a conversation (FORBIDDEN)', async () => {
    const before = await snapshot();
    for (const document of [
      'mutation($id: ID!) { archiveConversation(id: $id) { id } }',
      'mutation($id: ID!) { updateConversation(id: $id, input: { status: ARCHIVED }) { id } }',
      'mutation($id: ID!) { deleteConversation(id: $id) }',
    ]) {
      expect(codes(await t.gql(document, { id: conversationId }, client.token))).toEqual(['FORBIDDEN']);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('a client cannot create a conversation (FORBIDDEN)', async () => {
    const response = await t.gql(
      'mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }',
      { input: { clientUserId: stranger.id, subject: 'x' } },
      client.token,
    );
    expect(codes(response)).toEqual(['FORBIDDEN']);
  });

  it('only the author deletes a message', async () => {
    const response = await t.gql('mutation($id: ID!) { deleteMessage(id: $id) }', { id: salonMessageId }, client.token);
    expect(codes(response)).toEqual(['FORBIDDEN']);
  });

  it('only the recipient marks a message read, not its author', async () => {
    const own = await t.gql('mutation($id: ID!) { markMessageRead(id: $id) { id } }', { id: salonMessageId }, salon.token);
    expect(codes(own)).toEqual(['FORBIDDEN']);
    const rows = await t.sql<{ readAt: Date | null }>('SELECT "readAt" FROM "Message" WHERE id = $1', [salonMessageId]);
    expect(rows[0]?.readAt).toBeNull();
  });

  it('the salon never has the SYSTEM confirmation unread and cannot mark it read', async () => {
    const booked = await t.gql<{ createAppointment: { conversation: { id: string; lastMessage: { id: string } } } }>(
      `mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { conversation { id lastMessage { id } } } }`,
      { input: { clientUserId: client.id, startsAt: '2027-01-01T10:00:00Z', service: 'Soin' } },
      salon.token,
    );
    const systemId = booked.data!.createAppointment.conversation.lastMessage.id;
    const bySalon = await t.gql('mutation($id: ID!) { markMessageRead(id: $id) { id } }', { id: systemId }, salon.token);
    expect(codes(bySalon)).toEqual(['FORBIDDEN']);
    const byClient = await t.gql<{ markMessageRead: { readAt: string | null } }>(
      'mutation($id: ID!) { markMessageRead(id: $id) { readAt } }',
      { id: systemId },
      client.token,
    );
    expect(byClient.data?.markMessageRead.readAt).toEqual(expect.any(String));
  });

  it('no token → UNAUTHENTICATED for every operation that needs a viewer', async () => {
    for (const document of ['{ me { id } }', '{ conversations { totalCount } }', '{ unreadCount }', '{ appointments { totalCount } }']) {
      expect(codes(await t.gql(document))).toEqual(['UNAUTHENTICATED']);
    }
  });
});
