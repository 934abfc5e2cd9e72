import SchemaBuilder, { PothosValidationError, type ObjectRef, type SchemaTypes } from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin, { type ReplaceContext } from '@pothos/plugin-scope-auth';
import { GraphQLScalarType } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import type { Context, ViewerContext } from '../context.js';
import { getDb } from '../db.js';
import { badInput, ErrorCode, unauthenticated } from '../errors.js';
import type PrismaTypes from '../generated/pothos-types.js';
import { getDatamodel } from '../generated/pothos-types.js';

export const MAX_PAGE_SIZE = 100;

export const builder = new SchemaBuilder<{
  PrismaTypes: PrismaTypes;
  Context: Context;
  AuthScopes: { viewer: boolean };
  // A field declared with `t.withAuth({ viewer: true })` resolves with the viewer known.
  AuthContexts: { viewer: ViewerContext };
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    ID: { Input: string; Output: string };
  };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
  Connection: { totalCount?: number | (() => number | Promise<number>) };
}>({
  // Scope auth first, so that no other plugin's wrapper runs for a request it refuses.
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // A subscription is refused before its subscribe function runs (no topic, no log reader);
    // the events it then delivers are not checked again.
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({ viewer: ctx.viewer !== null }),
    // The one scope is the viewer's, so every refusal is the UNAUTHENTICATED of the catalogue.
    unauthorizedError: () => unauthenticated(),
  },
  // Fields only declare their cost here; src/security.ts checks it against MAX_COST before
  // anything runs (the plugin's own check would run inside the first resolver).
  complexity: { defaultComplexity: 1, defaultListMultiplier: 10, disabled: true },
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
    // The connection field already multiplies its selection by the page size.
    edgesFieldOptions: { description: 'The items of this page, each with its cursor.', complexity: { field: 1, multiplier: 1 } },
    pageInfoFieldOptions: { description: 'Cursors and whether more pages exist.' },
    firstArgOptions: { description: `Page size counted from the start (default depends on the list, at most ${MAX_PAGE_SIZE}).` },
    afterArgOptions: { description: 'Return items after this cursor.' },
    lastArgOptions: { description: `Page size counted from the end (at most ${MAX_PAGE_SIZE}).` },
    beforeArgOptions: { description: 'Return items before this cursor.' },
  },
});

type BuilderTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer Types extends SchemaTypes> ? Types : never;
/** The builder's types as a field of `t.withAuth({ viewer: true })` sees them. */
type ViewerTypes = ReplaceContext<BuilderTypes, ViewerContext>;

/**
 * A type shared with fields outside `t.withAuth`, for a field inside it. Pothos types a ref with
 * its builder's context, so a withAuth field builder, whose context is narrower, refuses the ref
 * although the GraphQL type is the same. Only for types whose own fields read no context (a
 * connection's edges, pageInfo and totalCount).
 */
export function viewerRef<Shape>(ref: ObjectRef<BuilderTypes, Shape>): ObjectRef<ViewerTypes, Shape> {
  return ref as unknown as ObjectRef<ViewerTypes, Shape>;
}

/**
 * Pothos clamps an oversized page silently; a client asking for 500 items should learn that it
 * gets at most 100, so the limit is an input error instead.
 */
export function pageLimit(args: PageArgs): number {
  const wrong = pageSizeError(args);
  if (wrong) throw badInput(wrong.message, wrong.field);
  return MAX_PAGE_SIZE;
}

interface PageArgs {
  first?: number | null;
  last?: number | null;
}

function pageSizeError(args: PageArgs): { message: string; field: string } | null {
  for (const name of ['first', 'last'] as const) {
    const value = args[name];
    if (value != null && (value < 0 || value > MAX_PAGE_SIZE)) {
      return { message: `"${name}" must be between 0 and ${MAX_PAGE_SIZE} (got ${value})`, field: name };
    }
  }
  return null;
}

/**
 * The cost of a connection (README, Limits): 1 plus its selection once per item of the page it
 * asks for, `first`/`last` or the list's default size. A page size out of range is refused here,
 * while the document is checked, so nothing of the request runs; the plugin reports a
 * PothosValidationError as a validation error.
 */
export function pageComplexity(defaultSize: number) {
  return (args: PageArgs) => {
    const wrong = pageSizeError(args);
    if (wrong) {
      throw new PothosValidationError(wrong.message, {
        extensions: { code: ErrorCode.BAD_USER_INPUT, field: wrong.field },
      });
    }
    const asked = Math.max(args.first ?? -1, args.last ?? -1);
    return { field: 1, multiplier: asked >= 0 ? asked : defaultSize };
  };
}

/**
 * RFC 3339 allows years 0000–9999, PostgreSQL has no year 0 (and a JavaScript Date reaches year
 * 275760): a date-time is accepted from year 1 to 9999, the range all three share.
 */
const EARLIEST_DATE = Date.parse('0001-01-01T00:00:00.000Z');
const LATEST_DATE = Date.parse('9999-12-31T23:59:59.999Z');

/** graphql-scalars parses; its refusals and ours carry BAD_USER_INPUT like every other bad input. */
function dateTimeInput(parse: () => Date): Date {
  let date: Date;
  try {
    date = parse();
  } catch (error) {
    throw badInput(`${(error as Error).message} Use an RFC 3339 date-time such as 2027-03-14T15:30:00Z.`);
  }
  const time = date.getTime();
  if (!(time >= EARLIEST_DATE && time <= LATEST_DATE)) {
    throw badInput('DateTime must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z');
  }
  return date;
}

builder.addScalarType(
  'DateTime',
  new GraphQLScalarType<Date, string>({
    name: 'DateTime',
    description:
      'A point in time: RFC 3339 in, e.g. 2027-03-14T15:30:00Z or 2027-03-14T16:30:00+01:00 (years 0001–9999); always UTC out, e.g. 2027-03-14T15:30:00.000Z.',
    serialize: (value) => DateTimeResolver.serialize(value).toISOString(),
    parseValue: (value) => dateTimeInput(() => DateTimeResolver.parseValue(value)),
    parseLiteral: (ast, variables) => dateTimeInput(() => DateTimeResolver.parseLiteral(ast, variables)),
  }),
);

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
