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
  },
  hooks: { afterAllFileWrite: ['node scripts/copy-manifest.mjs'] },
};

export default config;
