import SchemaBuilder from '@pothos/core';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import { GraphQLError, Kind } from 'graphql';
import type { Context } from '../context.js';
import { getDb } from '../db.js';
import { badInput } from '../errors.js';
import type PrismaTypes from '../generated/pothos-types.js';
import { getDatamodel } from '../generated/pothos-types.js';

export const MAX_PAGE_SIZE = 100;

export const builder = new SchemaBuilder<{
  PrismaTypes: PrismaTypes;
  Context: Context;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    ID: { Input: string; Output: string };
  };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
  Connection: { totalCount?: number | (() => number | Promise<number>) };
}>({
  plugins: [PrismaPlugin, RelayPlugin],
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
  prisma: {
    client: () => getDb(),
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    pageInfoTypeOptions: { description: 'Where a page sits in the whole list (Relay cursor connections).' },
    hasNextPageFieldOptions: { description: 'True when more items follow this page in the list order.' },
    hasPreviousPageFieldOptions: { description: 'True when items precede this page in the list order.' },
    startCursorFieldOptions: { description: 'Cursor of the first item of this page (null on an empty page).' },
    endCursorFieldOptions: { description: 'Cursor of the last item of this page; pass it as `after` for the next page.' },
    cursorFieldOptions: { description: 'Opaque position of this item; pass it as `after` or `before`.' },
    nodeFieldOptions: { description: 'The item itself.' },
    edgesFieldOptions: { description: 'The items of this page, each with its cursor.' },
    pageInfoFieldOptions: { description: 'Cursors and whether more pages exist.' },
    firstArgOptions: { description: `Page size counted from the start (default depends on the list, at most ${MAX_PAGE_SIZE}).` },
    afterArgOptions: { description: 'Return items after this cursor.' },
    lastArgOptions: { description: `Page size counted from the end (at most ${MAX_PAGE_SIZE}).` },
    beforeArgOptions: { description: 'Return items before this cursor.' },
  },
});

/**
 * Pothos clamps an oversized page silently; a client asking for 500 items should learn that it
 * gets at most 100, so the limit is an input error instead.
 */
export function pageLimit(args: { first?: number | null; last?: number | null }): number {
  for (const name of ['first', 'last'] as const) {
    const value = args[name];
    if (value != null && (value < 0 || value > MAX_PAGE_SIZE)) {
      throw badInput(`"${name}" must be between 0 and ${MAX_PAGE_SIZE}`, name);
    }
  }
  return MAX_PAGE_SIZE;
}

function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    throw new GraphQLError('DateTime must be an ISO-8601 string such as 2027-03-14T15:30:00Z', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new GraphQLError(`"${value}" is not a valid date-time`, { extensions: { code: 'BAD_USER_INPUT' } });
  }
  return date;
}

builder.scalarType('DateTime', {
  description: 'A point in time as an ISO-8601 string in UTC, e.g. 2027-03-14T15:30:00.000Z.',
  serialize: (value) => (value instanceof Date ? value.toISOString() : new Date(value).toISOString()),
  parseValue: parseDateTime,
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : undefined),
});

builder.globalConnectionField('totalCount', (t) =>
  t.int({
    description: 'How many items the whole list holds, across all pages.',
    resolve: async (connection) => {
      const { totalCount } = connection;
      return (typeof totalCount === 'function' ? await totalCount() : totalCount) ?? 0;
    },
  }),
);

builder.queryType({ description: 'Reads. Every field needs a token except where stated.' });
builder.mutationType({ description: 'Writes. Every field needs a token.' });
builder.subscriptionType({
  description: 'Real-time events over graphql-ws (token in connectionParams). Each shows only what the viewer may see.',
});
