import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { GraphQLError } from 'graphql';
import { createGraphQLError, type GraphQLParams, type Plugin } from 'graphql-yoga';
import type { Viewer } from './auth/viewer.js';
import { PROJECT_ROOT, type Config } from './config.js';
import { ErrorCode } from './errors.js';
import type { RedisClient } from './events/bus.js';

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

function createApqStore(redis: RedisClient | undefined): ApqStore {
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
export function createPersistedOperations(config: Config, redis: RedisClient | undefined) {
  const mode = config.persistedOperations;
  const manifest = mode === 'off' ? new Map<string, string>() : loadManifest();
  const apq = createApqStore(redis);

  const lookup = async (hash: string) => manifest.get(hash) ?? (mode === 'allow' ? await apq.get(hash) : null);

  /** A document sent with a hash must hash to it (Apollo's APQ protocol), whoever sends it. */
  const checkHash = (params: OperationRequest): void => {
    const hash = requestedHash(params);
    if (mode !== 'allow' || !hash || !params.query) return;
    if (sha256(params.query) !== hash) {
      throw createGraphQLError('provided sha does not match query', { extensions: { code: ErrorCode.BAD_USER_INPUT } });
    }
  };

  /**
   * APQ registration, once the viewer is known: only an authenticated viewer's documents are
   * remembered (an anonymous one runs but cannot fill Redis for every instance), and only up to
   * APQ_MAX_BYTES (a longer one runs, and the client keeps sending it whole).
   */
  const register = async (params: OperationRequest | undefined, viewer: Viewer | null | undefined): Promise<void> => {
    const hash = params ? requestedHash(params) : null;
    if (mode !== 'allow' || !viewer || !hash || !params?.query) return;
    if (Buffer.byteLength(params.query) > config.apqMaxBytes || sha256(params.query) !== hash) return;
    await apq.set(hash, params.query);
  };
  /** Yoga's context carries the request's params on HTTP; src/ws.ts passes the subscribe payload. */
  const registerFrom = (context: unknown) => {
    const { params, viewer } = context as { params?: OperationRequest; viewer?: Viewer | null };
    return register(params, viewer);
  };

  const plugins: Plugin[] =
    mode === 'off'
      ? []
      : [
          {
            onParams: ({ params }) => checkHash(params as GraphQLParams & OperationRequest),
            // After the context is built (the viewer known) and the document validated, on HTTP
            // and WebSocket alike: both run through these envelop hooks.
            onExecute: ({ args }) => registerFrom(args.contextValue),
            onSubscribe: ({ args }) => registerFrom(args.contextValue),
          },
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
    // A document with its hash runs; the execution hooks above register it for a viewer.
    if (mode === 'allow' && payload.query) return payload.query;
    return (await lookup(hash)) ?? notFoundError();
  }

  return { plugins, resolveSocketDocument };
}
