import { queryFromInfo } from '@pothos/plugin-prisma';
import { db } from '../db.js';
import type { Message } from '../generated/prisma/client.js';
import {
  MAX_SEARCH_QUERY_LENGTH,
  planSearch,
  SEARCH_PAGE_SIZE,
  searchMessages,
  type SearchHit,
} from '../services/search.js';
import { builder, MAX_PAGE_SIZE, pageComplexity, viewerRef } from './builder.js';
import { MessageRef } from './message.js';

interface MessageSearchConnectionShape {
  edges: SearchHit<Message>[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

const MessageSearchEdge = builder.objectRef<SearchHit<Message>>('MessageSearchEdge').implement({
  description: 'A message that matches a search, with the words that matched.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', {
      description: 'Opaque position of this hit; pass it as `after`, with the same query and conversationId, for the hits that follow.',
    }),
    node: t.field({ type: MessageRef, description: 'The message.', resolve: (edge) => edge.node }),
    snippet: t.exposeString('snippet', {
      description:
        'HTML, safe to insert as is: the message text escaped (`<` is `&lt;`), each matching word in `<mark>…</mark>`. A long message is cut to 15 to 35 words starting at a match, with `…` where text is left out.',
    }),
  }),
});

const MessageSearchConnection = builder.objectRef<MessageSearchConnectionShape>('MessageSearchConnection').implement({
  description: 'A page of search hits, best match first.',
  fields: (t) => ({
    edges: t.field({
      type: [MessageSearchEdge],
      description: 'The hits of this page, best match first (then newest first), each with its cursor.',
      // The search field already multiplies its selection by the page size.
      complexity: { field: 1, multiplier: 1 },
      resolve: (connection) => connection.edges,
    }),
    pageInfo: t.field({
      type: builder.pageInfoRef(),
      description: 'Whether more hits follow, and the cursor to read them (`endCursor` as `after`).',
      resolve: (connection) => connection.pageInfo,
    }),
  }),
});

builder.queryFields((t) => ({
  searchMessages: t.withAuth({ viewer: true }).field({
    type: viewerRef(MessageSearchConnection),
    description:
      "Full-text search in the viewer's conversations (French: `coupe` also finds Coupé and coupes, `rendez-vous` finds rendez vous). Best match first, then newest first. Deleted messages are never found.",
    complexity: pageComplexity(SEARCH_PAGE_SIZE),
    args: {
      query: t.arg.string({
        description: `What to look for, 1–${MAX_SEARCH_QUERY_LENGTH} characters: words (all must match), "a phrase" in quotes, \`or\` between alternatives, -word to exclude. Accents and case do not matter.`,
      }),
      conversationId: t.arg.id({
        required: false,
        description: "Only this conversation (NOT_FOUND unless the viewer takes part in it); omit for all of the viewer's conversations.",
      }),
      first: t.arg.int({ required: false, description: `Page size (default ${SEARCH_PAGE_SIZE}, at most ${MAX_PAGE_SIZE}).` }),
      after: t.arg.string({ required: false, description: 'Return hits after this cursor (`pageInfo.endCursor` of the previous page).' }),
    },
    resolve: async (_root, args, ctx, info) => {
      const plan = await planSearch(ctx.viewer, args, MAX_PAGE_SIZE);
      // The messages with everything the client selected under `node`, in one statement.
      const selection = queryFromInfo({ context: ctx, info, path: ['edges', 'node'] });
      const page = await searchMessages(plan, (ids) => db.message.findMany({ ...selection, where: { id: { in: ids } } }));
      return {
        edges: page.hits,
        pageInfo: {
          hasNextPage: page.hasNextPage,
          hasPreviousPage: plan.after !== null,
          startCursor: page.hits[0]?.cursor ?? null,
          endCursor: page.endCursor,
        },
      };
    },
  }),
}));
