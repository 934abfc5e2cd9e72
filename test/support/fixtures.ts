import type { TestContext, TestUser } from './app.js';

export const CONVERSATION_FIELDS = `id subject status lastMessageAt unreadCount
  salon { id } client { id } appointment { id } lastMessage { id seq content }`;

export const MESSAGE_FIELDS = `id seq kind content isDeleted readAt clientMessageId conversationId
  author { id } attachments { url type }`;

export async function openConversation(t: TestContext, salon: TestUser, client: TestUser, subject = 'Hello') {
  const response = await t.gql<{ createConversation: { id: string } }>(
    `mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }`,
    { input: { clientUserId: client.id, subject } },
    salon.token,
  );
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.createConversation.id;
}

export async function send(t: TestContext, user: TestUser, conversationId: string, content: string, extra: Record<string, unknown> = {}) {
  const response = await t.gql<{ sendMessage: { id: string; seq: number } }>(
    `mutation($input: SendMessageInput!) { sendMessage(input: $input) { id seq } }`,
    { input: { conversationId, content, ...extra } },
    user.token,
  );
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.sendMessage;
}

export function codes(response: { errors?: { extensions?: { code?: string } }[] }): (string | undefined)[] {
  return (response.errors ?? []).map((error) => error.extensions?.code);
}

/** A raw GraphQL-over-HTTP POST with any body (documentId, extensions…), as partners send it. */
export async function postJson(url: string, body: Record<string, unknown>, token?: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return (await response.json()) as { data?: Record<string, unknown>; errors?: { message: string; extensions?: { code?: string } }[] };
}
