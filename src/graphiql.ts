import type { GraphiQLOptions } from 'graphql-yoga';

const INBOX = `# Welcome to the salon messaging API.
# 1. Get a token:   npm run seed && npm run token -- salon@example.com
# 2. In the Headers tab below: {"authorization": "Bearer <token>"}
# 3. Run this query, then try the other tabs (the subscription runs over graphql-ws).
query Inbox {
  me { id firstName role }
  unreadCount
  conversations(first: 10) {
    totalCount
    edges {
      node {
        id
        subject
        unreadCount
        client { firstName lastName online }
        lastMessage { content createdAt author { firstName } }
      }
    }
  }
}
`;

const SEND = `mutation Send($conversationId: ID!) {
  sendMessage(input: { conversationId: $conversationId, content: "Bonjour !", clientMessageId: "graphiql-1" }) {
    id
    seq
    createdAt
  }
}
`;

const LIVE = `# Open this tab, then send a message from another tab or client.
subscription Live {
  messageAdded { conversationId seq content author { firstName } }
}
`;

// Empty until a token is pasted ("Bearer eyJ…"): an empty header is anonymous, so GraphiQL's
// schema request (introspection) still works before the developer has a token.
const headers = JSON.stringify({ authorization: '' }, null, 2);

/** GraphiQL as developers first see it: the examples preloaded, subscriptions over graphql-ws. */
export const graphiqlOptions: GraphiQLOptions = {
  title: 'Salon messaging API',
  subscriptionsProtocol: 'WS',
  defaultQuery: INBOX,
  headers,
  defaultTabs: [
    { query: INBOX, headers },
    { query: SEND, variables: JSON.stringify({ conversationId: '<a conversation id from the inbox>' }, null, 2), headers },
    { query: LIVE, headers },
  ],
};
