import { PothosValidationError } from '@pothos/core';
import type { GraphQLError } from 'graphql';
import { createGraphQLError, maskError } from 'graphql-yoga';
import { databaseRefusal, type DatabaseRefusal } from './db/errors.js';
import { logger } from './logger.js';

/** Every `extensions.code` a client can receive; the catalogue clients switch on. */
export const ErrorCode = {
  /** No token, or a token that is malformed, expired or not signed by us. */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** The viewer may see the thing but not perform this action on it. */
  FORBIDDEN: 'FORBIDDEN',
  /** The thing does not exist or the viewer may not see it (never a hint which). */
  NOT_FOUND: 'NOT_FOUND',
  /** The input breaks a documented rule; nothing was stored. */
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  /** The request contradicts existing state (a duplicate, a reused idempotency key). */
  CONFLICT: 'CONFLICT',
  /** Too many requests of this kind; `extensions.retryAfter` says how many seconds to wait. */
  RATE_LIMITED: 'RATE_LIMITED',
  /**
   * The document exceeds a query limit (`extensions.limit`: cost, depth, aliases, directives or
   * tokens; `extensions.max`); a cost refusal also carries `extensions.cost` and `extensions.maxCost`.
   */
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  /** A persisted operation hash the server does not know. */
  PERSISTED_QUERY_NOT_FOUND: 'PERSISTED_QUERY_NOT_FOUND',
  /** The server only runs persisted operations and got a document. */
  PERSISTED_QUERY_ONLY: 'PERSISTED_QUERY_ONLY',
  /** The document is not valid GraphQL (a syntax error); `locations` points at it. */
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  /** The document does not match the schema (an unknown field, a variable of the wrong type). */
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  /** Several operations in the document and no `operationName` saying which one to run. */
  OPERATION_RESOLUTION_FAILURE: 'OPERATION_RESOLUTION_FAILURE',
  /** An event cursor older than the event retention (`EVENT_RETENTION_DAYS`): reload, then take a new `eventCursor`. */
  CURSOR_EXPIRED: 'CURSOR_EXPIRED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const httpStatus: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
};

export function appError(code: ErrorCode, message: string, extra: Record<string, unknown> = {}) {
  const status = httpStatus[code];
  return createGraphQLError(message, {
    extensions: { code, ...extra, ...(status ? { http: { status } } : {}) },
  });
}

export const unauthenticated = (message = 'Authentication required') =>
  appError(ErrorCode.UNAUTHENTICATED, message);
export const forbidden = (message: string) => appError(ErrorCode.FORBIDDEN, message);
export const notFound = (what: string) => appError(ErrorCode.NOT_FOUND, `${what} not found`);
export const badInput = (message: string, field?: string) =>
  appError(ErrorCode.BAD_USER_INPUT, message, field ? { field } : {});
export const conflict = (message: string) => appError(ErrorCode.CONFLICT, message);

const refusalMessages: Record<DatabaseRefusal, string> = {
  NOT_FOUND: 'Not found: it was deleted while this request ran',
  BAD_USER_INPUT: 'A value in this request cannot be stored (a NUL character, a date out of range, a malformed id)',
};

/** How maskUnexpected answers an error: what the client receives is decided here alone. */
export type ErrorClass =
  /** Already carries a client code from the catalogue (ours, yoga's or a plugin's). */
  | { kind: 'coded'; code: string }
  /** Pothos refusing an argument (a forged cursor, a page size): the client's input. */
  | { kind: 'validation'; code: typeof ErrorCode.BAD_USER_INPUT }
  /**
   * graphql-js refusing the request itself, not a resolver (a variable of the wrong type): a
   * GraphQLError with no path and nothing but GraphQLErrors behind it.
   */
  | { kind: 'request'; code: typeof ErrorCode.BAD_USER_INPUT }
  | { kind: 'database'; code: DatabaseRefusal }
  | { kind: 'unexpected'; code: 'INTERNAL_SERVER_ERROR' };

type Shape = { name?: unknown; path?: unknown; originalError?: unknown; extensions?: { code?: unknown } } | null | undefined;

export function classifyError(error: unknown): ErrorClass {
  const original: unknown = (error as Shape)?.originalError ?? error;
  const code = (original as Shape)?.extensions?.code;
  if (typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR') return { kind: 'coded', code };
  // Checks are by shape and name, not instanceof: a test runner may load a package twice (ESM
  // and CJS), and instanceof then lies.
  if (original instanceof Error && original.name === PothosValidationError.name) return { kind: 'validation', code: ErrorCode.BAD_USER_INPUT };
  const refusal = databaseRefusal(original);
  if (refusal) return { kind: 'database', code: refusal };
  if (code === undefined && isRequestRefusal(error)) return { kind: 'request', code: ErrorCode.BAD_USER_INPUT };
  return { kind: 'unexpected', code: 'INTERNAL_SERVER_ERROR' };
}

function isRequestRefusal(error: unknown): boolean {
  if ((error as Shape)?.path) return false;
  for (let current: unknown = error; current; current = (current as Shape)?.originalError) {
    if ((current as Shape)?.name !== 'GraphQLError') return false;
  }
  return true;
}

/** The `extensions.code` a client receives for this error, masked or not yet: what logs and metrics count. */
export const clientCode = (error: unknown): string => classifyError(error).code;

/** Errors maskUnexpected has logged (unexpected, or refused by the database), so nothing logs them twice. */
const reported = new WeakSet<object>();
export const alreadyLogged = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (reported.has(error) || reported.has((error as { originalError?: object }).originalError ?? error));

/**
 * Errors a client caused are shown; anything else is logged with its stack and replaced by a
 * generic message, so no SQL or stack reaches a client.
 */
export function maskUnexpected(error: unknown, message: string, isDev?: boolean) {
  const original: unknown = (error as { originalError?: unknown }).originalError ?? error;
  const { path, nodes } = (error ?? {}) as Partial<GraphQLError>;
  const found = classifyError(error);
  switch (found.kind) {
    case 'coded':
      return error as GraphQLError;
    case 'validation':
    case 'request':
      // What the error itself says (a page-size refusal's `field`) stays.
      return createGraphQLError((found.kind === 'validation' ? (original as Error) : (error as Error)).message, {
        path,
        nodes,
        extensions: { ...(original as GraphQLError).extensions, ...(error as GraphQLError).extensions, code: found.code },
      });
    case 'database':
      // The one place where a database refusal becomes the client's answer: a row deleted by a
      // concurrent request is NOT_FOUND, a value PostgreSQL cannot store is BAD_USER_INPUT.
      logger.warn({ err: original, code: found.code }, 'database refused the operation');
      if (typeof original === 'object' && original) reported.add(original);
      return createGraphQLError(refusalMessages[found.code], { path, nodes, extensions: { code: found.code } });
    case 'unexpected':
      logger.error({ err: original }, 'unexpected error');
      if (typeof original === 'object' && original) reported.add(original);
      return maskError(error, message, isDev);
  }
}

/** The error as it is, when it already has a code; else the same error carrying `code`. */
export function withCode(error: GraphQLError, code: ErrorCode): GraphQLError {
  if (typeof error.extensions?.code === 'string') return error;
  return createGraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { ...error.extensions, code },
  });
}
