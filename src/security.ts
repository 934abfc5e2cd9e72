import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { createComplexityRule } from '@pothos/plugin-complexity';
import { GraphQLError, Kind, validate, visit, type DocumentNode, type GraphQLSchema, type ValidationContext, type ValidationRule } from 'graphql';
import type { GraphQLParams, Plugin } from 'graphql-yoga';
import type { Config } from './config.js';
import { appError, ErrorCode } from './errors.js';
import { logger } from './logger.js';

/**
 * Browser origins allowed to call the API (SPEC §5). Tokens travel in headers, never cookies, so
 * CSRF does not apply; the check still stops a foreign page from driving a user's WebSocket.
 * No Origin header (servers, mobile apps, curl) is allowed; with no list configured every
 * origin is (a warning in production says so).
 */
export function originPolicy(config: Config): (origin: string | null | undefined) => boolean {
  const allowed = new Set(config.frontendOrigins);
  if (allowed.size === 0) {
    if (config.isProduction) logger.warn('No FRONTEND_URL* set: every browser origin is allowed');
    return () => true;
  }
  return (origin) => !origin || allowed.has(origin);
}

/** Refuses HTTP requests from unlisted origins with 403, and answers CORS for listed ones. */
export function useOriginCheck(isAllowed: (origin: string | null) => boolean): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      const origin = request.headers.get('origin');
      // The API's own pages (GraphiQL) call it from its own origin.
      if (origin !== url.origin && !isAllowed(origin)) {
        endResponse(new fetchAPI.Response(JSON.stringify({ errors: [{ message: 'Origin not allowed', extensions: { code: 'FORBIDDEN' } }] }), {
          status: 403,
          headers: { 'content-type': 'application/json' },
        }));
      }
    },
  };
}

/** The limits of a document, as named in `extensions.limit` of a QUERY_TOO_COMPLEX refusal. */
type QueryLimit = 'cost' | 'depth' | 'aliases' | 'directives' | 'tokens';

function tooComplex(limit: QueryLimit, max: number, message: string, extra: Record<string, unknown> = {}) {
  return appError(ErrorCode.QUERY_TOO_COMPLEX, message, { limit, max, ...extra });
}

/**
 * graphql-armor throws "Syntax Error: …" from inside validation, which yoga answers without a
 * code and graphql-ws turns into a closed socket. Reporting our own error instead makes the
 * refusal an ordinary validation error: a code, no "Syntax Error", the socket left alone.
 */
function armorRefusal(limit: Exclude<QueryLimit, 'cost' | 'tokens'>, max: number) {
  return {
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) =>
        context?.reportError(tooComplex(limit, max, error.message.replace(/^Syntax Error: /, ''))),
    ],
  };
}

/** Query limits (graphql-armor), query cost and the introspection switch, the same for HTTP and WebSocket. */
export function limitPlugins(config: Config): Plugin[] {
  const { limits } = config;
  const plugins: Plugin[] = [
    EnvelopArmorPlugin({
      maxDepth: { n: limits.depth, ignoreIntrospection: true, flattenFragments: true, ...armorRefusal('depth', limits.depth) },
      maxAliases: { n: limits.aliases, ...armorRefusal('aliases', limits.aliases) },
      maxDirectives: { n: limits.directives, ...armorRefusal('directives', limits.directives) },
      maxTokens: {
        n: limits.tokens,
        // Counted while parsing: throwing is the only way to stop the parser.
        onReject: [
          (_context: ValidationContext | null, error: GraphQLError) => {
            throw tooComplex('tokens', limits.tokens, error.message.replace(/^Syntax Error: /, ''));
          },
        ],
      },
      // Armor's cost ignores list sizes; useQueryCost replaces it.
      costLimit: { enabled: false },
      blockFieldSuggestion: { enabled: config.isProduction },
    }) as Plugin,
    useQueryCost(limits.cost),
  ];
  if (!config.introspection) plugins.push(useDisableIntrospection());
  return plugins;
}

/**
 * Refuses, before anything runs, an operation whose cost (the fields' `complexity` in
 * src/schema/, computed by @pothos/plugin-complexity with the request's variables) is over
 * `maxCost`, or that asks for a page size out of range.
 *
 * The refusal is a validation error, so it reaches clients as other validation errors do (HTTP
 * status, graphql-ws `error` message). Yoga caches validation results by document and rule names,
 * while cost depends on the variables: the check itself runs on every request, and a refused
 * request adds a rule named after its refusal, so a cached refusal is only reused for the same
 * document refused the same way.
 */
export function useQueryCost(maxCost: number): Plugin {
  return {
    onValidate({ params: { schema, documentAST }, context, addValidationRule }) {
      const request = (context as { params?: GraphQLParams }).params;
      const variables = request?.variables ?? {};
      const key = costKey(documentAST, variables, request?.operationName);
      const passed = passedCost.get(documentAST);
      if (passed?.has(key)) return;
      const refusals = costRefusals(schema, documentAST, context, maxCost, variables, request?.operationName);
      if (refusals.length === 0) {
        const keys = passed ?? new Set<string>();
        // A document asked with ever new page sizes must not grow without bound.
        if (keys.size >= 100) keys.clear();
        passedCost.set(documentAST, keys.add(key));
        return;
      }
      const report: ValidationRule = (validation) => ({
        Document: () => {
          for (const error of refusals) validation.reportError(error);
        },
      });
      Object.defineProperty(report, 'name', { value: `queryCost:${refusals.map((error) => error.message).join('|')}` });
      addValidationRule(report);
    },
  };
}

/**
 * The arguments a field's cost reads (pageComplexity in src/schema/builder.ts: a page's size):
 * nothing else in a request changes a document's cost. A complexity that reads another argument
 * must be added here.
 */
const COST_ARGUMENTS = new Set(['first', 'last']);

/** Per document, the variables passed to a cost argument anywhere in it. */
const costVariableNames = new WeakMap<DocumentNode, string[]>();

/** Per document (yoga's parser cache hands the same object back), the keys whose cost passed. */
const passedCost = new WeakMap<DocumentNode, Set<string>>();

/**
 * What the cost of `document` depends on in a request: the operation and the values of the
 * variables given to cost arguments. A send's content or a conversation id cannot change it, so
 * the complexity pass (a second validation of the whole document, about 3 % of the API's CPU per
 * sendMessage under load in bench:send's profile) runs once per document and page size.
 */
function costKey(document: DocumentNode, variables: Record<string, unknown>, operationName: string | null | undefined): string {
  let names = costVariableNames.get(document);
  if (!names) {
    const found = new Set<string>();
    visit(document, {
      Argument(node) {
        if (COST_ARGUMENTS.has(node.name.value) && node.value.kind === Kind.VARIABLE) found.add(node.value.name.value);
      },
    });
    names = [...found];
    costVariableNames.set(document, names);
  }
  return JSON.stringify([operationName ?? null, ...names.map((name) => variables[name] ?? null)]);
}

function costRefusals(
  schema: GraphQLSchema,
  document: DocumentNode,
  context: object,
  maxCost: number,
  variableValues: Record<string, unknown>,
  operationName: string | null | undefined,
): GraphQLError[] {
  const rule = createComplexityRule({
    context,
    variableValues,
    operationName,
    validate: ({ complexity }, reportError) => {
      if (complexity > maxCost) {
        reportError(tooComplex('cost', maxCost, `Query cost ${complexity} exceeds the limit of ${maxCost}`, { cost: complexity, maxCost }));
      }
    },
  });
  let errors: readonly GraphQLError[];
  try {
    errors = validate(schema, document, [rule]);
  } catch (error) {
    // Arguments the schema cannot coerce: the document's own validation, or execution, refuses
    // them with a clearer message; nothing can run on them.
    if (error instanceof GraphQLError) return [];
    throw error;
  }
  // Invalid variables or an unknown operation name are reported where they always were (by
  // execution); only our refusals are kept.
  return errors.filter((error) => error.extensions.code === ErrorCode.QUERY_TOO_COMPLEX || error.extensions.code === ErrorCode.BAD_USER_INPUT);
}
