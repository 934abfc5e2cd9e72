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

/**
 * Errors a client caused are shown; anything else is logged with its stack and replaced by a
 * generic message, so no SQL or stack reaches a client.
 */
export function maskUnexpected(error: unknown, message: string, isDev?: boolean) {
  const original: unknown = (error as { originalError?: unknown }).originalError ?? error;
  // Checks are by shape and name, not instanceof: a test runner may load a package twice (ESM
  // and CJS), and instanceof then lies.
  if (original instanceof Error && original.name === PothosValidationError.name) {
    const { path, nodes } = error as GraphQLError;
    return createGraphQLError(original.message, { path, nodes, extensions: { code: ErrorCode.BAD_USER_INPUT } });
  }
  const code = (original as { extensions?: { code?: unknown } } | undefined)?.extensions?.code;
  if (typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR') return error as GraphQLError;
  // The one place where a database refusal becomes the client's answer: a row deleted by a
  // concurrent request is NOT_FOUND, a value PostgreSQL cannot store is BAD_USER_INPUT.
  const refusal = databaseRefusal(original);
  if (refusal) {
    logger.warn({ err: original, code: refusal }, 'database refused the operation');
    const { path, nodes } = error as Partial<GraphQLError>;
    return createGraphQLError(refusalMessages[refusal], { path, nodes, extensions: { code: refusal } });
  }
  logger.error({ err: original }, 'unexpected error');
  return maskError(error, message, isDev);
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
