import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * From the committed schema and the operations frontends and partners send: typed documents for
 * TypeScript clients, and the persisted-operations manifest { sha256: document } the server loads.
 */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['operations/*.graphql'],
  ignoreNoDocuments: false,
  // Imports with .js extensions, as NodeNext resolution requires.
  emitLegacyCommonJSImports: false,
  generates: {
    'operations/generated/': {
      preset: 'client',
      presetConfig: {
        fragmentMasking: false,
        persistedDocuments: { mode: 'embedHashInDocument', hashAlgorithm: 'sha256' },
      },
      // DateTime travels as an RFC 3339 string (graphql-scalars' DateTime serializes to one).
      config: { enumsAsTypes: true, useTypeImports: true, scalars: { DateTime: 'string' } },
    },
    // The members of each union and interface, which Apollo Client's cache needs to match
    // fragments on them (`possibleTypes`), e.g. the payloads of the event stream.
    'operations/generated/possible-types.ts': {
      plugins: ['fragment-matcher'],
      config: { apolloClientVersion: 3, useExplicitTyping: true },
    },
  },
  hooks: { afterAllFileWrite: ['node scripts/copy-manifest.mjs'] },
};

export default config;
