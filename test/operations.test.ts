import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { CONVERSATION_FIELDS, MESSAGE_FIELDS, codes, openConversation, send } from './support/fixtures.js';
import { TINY_JPEG, TINY_PDF, uploadAttachment } from './support/uploads.js';

const t = useTestApp();

describe('queries and mutations over HTTP', () => {
  it('me returns the just-in-time user from the token claims', async () => {
    const salon = await t.user('SALON', 'Coiffure');
    const response = await t.gql('{ me { id email firstName lastName role online lastSeenAt } }', {}, salon.token);
    expect(response.data).toEqual({
      me: { id: salon.id, email: salon.email, firstName: 'Coiffure', lastName: 'Test', role: 'SALON', online: false, lastSeenAt: null },
    });
  });

  it('a salon opens a conversation with a first message; the client sees it unread in the inbox', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const created = await t.gql<{ createConversation: Record<string, unknown> }>(
      `mutation($input: CreateConversationInput!) { createConversation(input: $input) { ${CONVERSATION_FIELDS} } }`,
      { input: { clientUserId: client.id, subject: '  Colour consultation ', firstMessage: 'Welcome!' } },
      salon.token,
    );
    expect(created.errors).toBeUndefined();
    expect(created.data?.createConversation).toMatchObject({
      subject: 'Colour consultation',
      status: 'ACTIVE',
      unreadCount: 0,
      salon: { id: salon.id },
      client: { id: client.id },
      appointment: null,
      lastMessage: { seq: 1, content: 'Welcome!' },
    });

    const inbox = await t.gql<{ conversations: { totalCount: number; edges: { node: { unreadCount: number; subject: string } }[] } }>(
      `{ conversations(first: 10) { totalCount edges { cursor node { ${CONVERSATION_FIELDS} } } pageInfo { hasNextPage endCursor } } }`,
      {},
      client.token,
    );
    expect(inbox.data?.conversations.totalCount).toBe(1);
    expect(inbox.data?.conversations.edges[0]?.node).toMatchObject({ subject: 'Colour consultation', unreadCount: 1 });
    const total = await t.gql('{ unreadCount }', {}, client.token);
    expect(total.data).toEqual({ unreadCount: 1 });
  });

  it('sendMessage stores attachments, numbers messages and bumps the inbox order', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const older = await openConversation(t, salon, client, 'Older');
    const newer = await openConversation(t, salon, client, 'Newer');
    const response = await t.gql<{ sendMessage: Record<string, unknown> }>(
      `mutation($input: SendMessageInput!) { sendMessage(input: $input) { ${MESSAGE_FIELDS} } }`,
      {
        input: {
          conversationId: older,
          content: ' Here is the photo ',
          attachments: [await uploadAttachment(t, client, older, TINY_JPEG, 'image/jpeg')],
          clientMessageId: 'c-1',
        },
      },
      client.token,
    );
    expect(response.data?.sendMessage).toMatchObject({
      seq: 1,
      kind: 'USER',
      content: 'Here is the photo',
      isDeleted: false,
      readAt: null,
      clientMessageId: 'c-1',
      conversationId: older,
      author: { id: client.id },
      attachments: [{ url: expect.stringMatching(/\/uploads\/[0-9a-f-]{36}\?expires=\d+&signature=/), type: 'image/jpeg' }],
    });
    expect((await send(t, salon, older, 'Second')).seq).toBe(2);

    const inbox = await t.gql<{ conversations: { edges: { node: { id: string } }[] } }>(
      '{ conversations { edges { node { id } } } }',
      {},
      salon.token,
    );
    expect(inbox.data?.conversations.edges.map((edge) => edge.node.id)).toEqual([older, newer]);
  });

  it('messages pages newest first with first/after and oldest first with last/before', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const id = await openConversation(t, salon, client);
    for (let i = 1; i <= 5; i++) await send(t, i % 2 ? salon : client, id, `m${i}`);

    type Page = { messages: { totalCount: number; edges: { cursor: string; node: { content: string } }[]; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string; startCursor: string } } };
    const query = `query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
      messages(conversationId: $id, first: $first, after: $after, last: $last, before: $before) {
        totalCount edges { cursor node { content } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;
    const page1 = await t.gql<Page>(query, { id, first: 2 }, client.token);
    expect(page1.data?.messages.totalCount).toBe(5);
    expect(page1.data?.messages.edges.map((e) => e.node.content)).toEqual(['m5', 'm4']);
    expect(page1.data?.messages.pageInfo.hasNextPage).toBe(true);
    const page2 = await t.gql<Page>(query, { id, first: 2, after: page1.data?.messages.pageInfo.endCursor }, client.token);
    expect(page2.data?.messages.edges.map((e) => e.node.content)).toEqual(['m3', 'm2']);
    const oldest = await t.gql<Page>(query, { id, last: 2 }, client.token);
    expect(oldest.data?.messages.edges.map((e) => e.node.content)).toEqual(['m2', 'm1']);
    const before = await t.gql<Page>(query, { id, last: 2, before: oldest.data?.messages.pageInfo.startCursor }, client.token);
    expect(before.data?.messages.edges.map((e) => e.node.content)).toEqual(['m4', 'm3']);

    const nested = await t.gql<{ conversation: { messages: { totalCount: number; edges: { node: { content: string } }[] } } }>(
      'query($id: ID!) { conversation(id: $id) { messages(first: 3) { totalCount edges { node { content } } } } }',
      { id },
      salon.token,
    );
    expect(nested.data?.conversation.messages.totalCount).toBe(5);
    expect(nested.data?.conversation.messages.edges.map((e) => e.node.content)).toEqual(['m5', 'm4', 'm3']);
  });

  it('a page larger than 100 is refused', async () => {
    const salon = await t.user('SALON');
    const response = await t.gql('{ conversations(first: 101) { totalCount } }', {}, salon.token);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
  });

  it('markMessageRead is idempotent and markConversationRead reads the rest', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const id = await openConversation(t, salon, client);
    const first = await send(t, salon, id, 'one');
    await send(t, salon, id, 'two');
    await send(t, salon, id, 'three');

    const read = `mutation($id: ID!) { markMessageRead(id: $id) { id readAt } }`;
    const once = await t.gql<{ markMessageRead: { readAt: string } }>(read, { id: first.id }, client.token);
    const twice = await t.gql<{ markMessageRead: { readAt: string } }>(read, { id: first.id }, client.token);
    expect(once.data?.markMessageRead.readAt).toEqual(expect.any(String));
    expect(twice.data?.markMessageRead.readAt).toBe(once.data?.markMessageRead.readAt);
    expect((await t.gql('{ unreadCount }', {}, client.token)).data).toEqual({ unreadCount: 2 });

    const all = await t.gql<{ markConversationRead: { unreadCount: number } }>(
      'mutation($id: ID!) { markConversationRead(id: $id) { unreadCount } }',
      { id },
      client.token,
    );
    expect(all.data?.markConversationRead.unreadCount).toBe(0);
    expect((await t.gql('{ unreadCount }', {}, client.token)).data).toEqual({ unreadCount: 0 });
  });

  it('deleteMessage hides content, drops attachments and fixes the unread count', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const id = await openConversation(t, salon, client);
    const message = await send(t, salon, id, 'secret', { attachments: [await uploadAttachment(t, salon, id, TINY_PDF, 'application/pdf')] });
    const deleted = await t.gql('mutation($id: ID!) { deleteMessage(id: $id) }', { id: message.id }, salon.token);
    expect(deleted.data).toEqual({ deleteMessage: message.id });
    const view = await t.gql<{ messages: { edges: { node: Record<string, unknown> }[] } }>(
      'query($id: ID!) { messages(conversationId: $id) { edges { node { content isDeleted attachments { url } } } } }',
      { id },
      client.token,
    );
    expect(view.data?.messages.edges[0]?.node).toEqual({ content: '', isDeleted: true, attachments: [] });
    expect((await t.gql('{ unreadCount }', {}, client.token)).data).toEqual({ unreadCount: 0 });
    const rows = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM "MessageAttachment" WHERE "messageId" = $1', [message.id]);
    expect(rows[0]?.n).toBe(0);
  });

  it('an archived conversation refuses messages until it is active again', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const id = await openConversation(t, salon, client);
    const archived = await t.gql('mutation($id: ID!) { archiveConversation(id: $id) { status } }', { id }, salon.token);
    expect(archived.data).toEqual({ archiveConversation: { status: 'ARCHIVED' } });
    const refused = await t.gql(
      'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
      { input: { conversationId: id, content: 'hello?' } },
      client.token,
    );
    expect(codes(refused)).toEqual(['BAD_USER_INPUT']);
    const archivedList = await t.gql<{ conversations: { totalCount: number } }>(
      '{ conversations(status: ARCHIVED) { totalCount } }',
      {},
      client.token,
    );
    expect(archivedList.data?.conversations.totalCount).toBe(1);

    const reopened = await t.gql(
      'mutation($id: ID!) { updateConversation(id: $id, input: { status: ACTIVE, subject: "Reopened" }) { status subject } }',
      { id },
      salon.token,
    );
    expect(reopened.data).toEqual({ updateConversation: { status: 'ACTIVE', subject: 'Reopened' } });
    expect((await send(t, client, id, 'hello again')).seq).toBe(1);
    const stored = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM "Message" WHERE "conversationId" = $1', [id]);
    expect(stored[0]?.n).toBe(1);
  });

  it('deleteConversation removes it for both participants', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const id = await openConversation(t, salon, client);
    await send(t, salon, id, 'bye');
    const deleted = await t.gql('mutation($id: ID!) { deleteConversation(id: $id) }', { id }, salon.token);
    expect(deleted.data).toEqual({ deleteConversation: id });
    expect((await t.gql('query($id: ID!) { conversation(id: $id) { id } }', { id }, client.token)).data).toEqual({ conversation: null });
    expect((await t.gql('{ unreadCount }', {}, client.token)).data).toEqual({ unreadCount: 0 });
  });

  it('a retry with the same clientMessageId returns the first message; other content is a CONFLICT', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const id = await openConversation(t, salon, client);
    const first = await send(t, client, id, 'once', { clientMessageId: 'k1' });
    const retry = await send(t, client, id, 'once', { clientMessageId: 'k1' });
    expect(retry).toEqual(first);
    const other = await t.gql(
      'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
      { input: { conversationId: id, content: 'different', clientMessageId: 'k1' } },
      client.token,
    );
    expect(codes(other)).toEqual(['CONFLICT']);
    const stored = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM "Message" WHERE "conversationId" = $1', [id]);
    expect(stored[0]?.n).toBe(1);
    // The retry took no seq: the next message follows the first.
    const next = await send(t, client, id, 'twice');
    expect(next.seq).toBe(first.seq + 1);
  });

  it('a retry that arrives after the conversation was archived still returns the first message', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const id = await openConversation(t, salon, client);
    const first = await send(t, client, id, 'avant archivage', { clientMessageId: 'k-archived' });
    const archived = await t.gql('mutation($id: ID!) { archiveConversation(id: $id) { id status } }', { id }, salon.token);
    expect(archived.errors).toBeUndefined();
    expect(await send(t, client, id, 'avant archivage', { clientMessageId: 'k-archived' })).toEqual(first);
    const fresh = await t.gql(
      'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
      { input: { conversationId: id, content: 'après archivage', clientMessageId: 'k-new' } },
      client.token,
    );
    expect(codes(fresh)).toEqual(['BAD_USER_INPUT']);
  });
});

describe('appointments', () => {
  it('a salon books a client: the conversation opens with a French confirmation unread for the client only', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT', 'Camille');
    const response = await t.gql<{ createAppointment: { id: string; service: string; startsAt: string; conversation: { id: string; subject: string; lastMessage: { kind: string; content: string; author: null } } } }>(
      `mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) {
        id service startsAt salon { id } client { id }
        conversation { id subject lastMessage { kind content author { id } } } } }`,
      { input: { clientUserId: client.id, startsAt: '2027-03-14T14:30:00.000Z', service: 'Coupe femme' } },
      salon.token,
    );
    expect(response.errors).toBeUndefined();
    const appointment = response.data!.createAppointment;
    expect(appointment.startsAt).toBe('2027-03-14T14:30:00.000Z');
    expect(appointment.conversation.subject).toBe('Appointment: Coupe femme — 14 mars 2027 à 15:30');
    expect(appointment.conversation.lastMessage).toEqual({
      kind: 'SYSTEM',
      content: 'Bonjour Camille, votre rendez-vous du 14 mars 2027 à 15:30 pour Coupe femme est confirmé.',
      author: null,
    });
    expect((await t.gql('{ unreadCount }', {}, client.token)).data).toEqual({ unreadCount: 1 });
    expect((await t.gql('{ unreadCount }', {}, salon.token)).data).toEqual({ unreadCount: 0 });

    const list = await t.gql<{ appointments: { totalCount: number; edges: { node: { id: string } }[] } }>(
      '{ appointments(first: 5) { totalCount edges { node { id } } } }',
      {},
      client.token,
    );
    expect(list.data?.appointments.totalCount).toBe(1);
    expect(list.data?.appointments.edges[0]?.node.id).toBe(appointment.id);
  });

  it('a client books with a salon by naming it', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const response = await t.gql<{ createAppointment: { salon: { id: string }; client: { id: string }; conversation: { id: string } } }>(
      `mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { salon { id } client { id } conversation { id } } }`,
      { input: { salonId: salon.id, startsAt: '2027-05-01T09:00:00Z', service: 'Brushing' } },
      client.token,
    );
    expect(response.data?.createAppointment).toMatchObject({ salon: { id: salon.id }, client: { id: client.id } });
    expect(response.data?.createAppointment.conversation.id).toEqual(expect.any(String));
  });

  it('a second conversation for the same appointment is a CONFLICT', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    const booked = await t.gql<{ createAppointment: { id: string } }>(
      `mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { id } }`,
      { input: { clientUserId: client.id, startsAt: '2027-05-01T09:00:00Z', service: 'Brushing' } },
      salon.token,
    );
    const again = await t.gql(
      `mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }`,
      { input: { clientUserId: client.id, subject: 'dup', appointmentId: booked.data?.createAppointment.id } },
      salon.token,
    );
    expect(codes(again)).toEqual(['CONFLICT']);
  });
});
