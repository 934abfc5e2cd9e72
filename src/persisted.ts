import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { GraphQLError } from 'graphql';
import { createGraphQLError, type GraphQLParams, type Plugin } from 'graphql-yoga';
import type { Redis } from 'ioredis';
import { PROJECT_ROOT, type Config } from './config.js';
import { ErrorCode } from './errors.js';

const MANIFEST = join(PROJECT_ROOT, 'operations', 'persisted-documents.json');
const APQ_TTL_S = 7 * 24 * 3600;

/** Hashes travel bare (Apollo's APQ) or prefixed (`sha256:…`, the codegen manifest's keys). */
const bareHash = (hash: string) => hash.replace(/^sha256:/, '').toLowerCase();
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function loadManifest(path = MANIFEST): Map<string, string> {
  const entries = Object.entries(JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>);
  return new Map(entries.map(([hash, document]) => [bareHash(hash), document]));
}

/** Documents registered through Apollo's APQ protocol; in Redis so every instance knows them. */
interface ApqStore {
  get(hash: string): Promise<string | null>;
  set(hash: string, document: string): Promise<void>;
}

function createApqStore(redis: Redis | undefined): ApqStore {
  if (redis) {
    return {
      get: (hash) => redis.get(`apq:${hash}`).catch(() => null),
      set: async (hash, document) => void (await redis.set(`apq:${hash}`, document, 'EX', APQ_TTL_S).catch(() => undefined)),
    };
  }
  const documents = new Map<string, string>();
  return {
    get: async (hash) => documents.get(hash) ?? null,
    async set(hash, document) {
      if (documents.size >= 5000) documents.delete(documents.keys().next().value as string);
      documents.set(hash, document);
    },
  };
}

interface OperationRequest {
  query?: string | null;
  documentId?: unknown;
  extensions?: Record<string, unknown> | null;
}

function requestedHash(params: OperationRequest): string | null {
  if (typeof params.documentId === 'string' && params.documentId) return bareHash(params.documentId);
  const persisted = params.extensions?.persistedQuery as { sha256Hash?: unknown } | undefined;
  return typeof persisted?.sha256Hash === 'string' ? bareHash(persisted.sha256Hash) : null;
}

const onlyError = () =>
  createGraphQLError('This server only runs persisted operations: send a documentId from operations/persisted-documents.json', {
    extensions: { code: ErrorCode.PERSISTED_QUERY_ONLY },
  });
const notFoundError = () =>
  createGraphQLError('PersistedQueryNotFound', { extensions: { code: ErrorCode.PERSISTED_QUERY_NOT_FOUND } });

/**
 * Persisted operations (SPEC §6): `off` runs documents only; `allow` also runs manifest hashes
 * and Apollo APQ; `only` runs manifest hashes and nothing else, on HTTP and WebSocket alike.
 */
export function createPersistedOperations(config: Config, redis: Redis | undefined) {
  const mode = config.persistedOperations;
  const manifest = mode === 'off' ? new Map<string, string>() : loadManifest();
  const apq = createApqStore(redis);

  const lookup = async (hash: string) => manifest.get(hash) ?? (mode === 'allow' ? await apq.get(hash) : null);

  /** APQ registration: a document sent with its hash is checked and remembered. */
  const register = async (params: OperationRequest): Promise<void> => {
    const hash = requestedHash(params);
    if (mode !== 'allow' || !hash || !params.query) return;
    if (sha256(params.query) !== hash) {
      throw createGraphQLError('provided sha does not match query', { extensions: { code: ErrorCode.BAD_USER_INPUT } });
    }
    await apq.set(hash, params.query);
  };

  const plugins: Plugin[] =
    mode === 'off'
      ? []
      : [
          { onParams: ({ params }) => register(params as GraphQLParams & OperationRequest) },
          usePersistedOperations({
            allowArbitraryOperations: mode === 'allow',
            extractPersistedOperationId: (params) => requestedHash(params as GraphQLParams & OperationRequest),
            getPersistedOperation: (hash) => lookup(hash),
            // The SPEC's codes instead of the plugin's own.
            customErrors: {
              notFound: { message: 'PersistedQueryNotFound', extensions: { code: ErrorCode.PERSISTED_QUERY_NOT_FOUND } },
              persistedQueryOnly: { message: onlyError().message, extensions: { code: ErrorCode.PERSISTED_QUERY_ONLY } },
              // Neither a document nor a hash: a malformed request (400), as GraphQL over HTTP expects.
              keyNotFound: () =>
                mode === 'only'
                  ? createGraphQLError(onlyError().message, { extensions: { code: ErrorCode.PERSISTED_QUERY_ONLY, http: { status: 400 } } })
                  : createGraphQLError('Must provide a query string or a persisted operation id', {
                      extensions: { code: ErrorCode.BAD_USER_INPUT, http: { status: 400 } },
                    }),
            },
          }) as Plugin,
        ];

  /** The same rules for a graphql-ws `subscribe` payload; returns the document to run or an error. */
  async function resolveSocketDocument(payload: OperationRequest): Promise<string | GraphQLError> {
    if (mode === 'off') return payload.query ?? '';
    const hash = requestedHash(payload);
    if (!hash) return mode === 'only' ? onlyError() : (payload.query ?? '');
    if (mode === 'allow' && payload.query) {
      await register(payload).catch(() => undefined);
      return payload.query;
    }
    return (await lookup(hash)) ?? notFoundError();
  }

  return { plugins, resolveSocketDocument };
}
