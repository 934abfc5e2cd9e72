/**
 * Prints the code-first schema to schema.graphql; with --check, fails when the committed file
 * differs (CI runs the check so the SDL in review always matches the code).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { printSchema } from 'graphql';
import { PROJECT_ROOT } from '../src/config.js';
import { sortedSchema } from '../src/schema/index.js';

const file = join(PROJECT_ROOT, 'schema.graphql');
const printed = `${printSchema(sortedSchema())}\n`;

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(file, 'utf8');
  } catch {
    // A missing file is stale too.
  }
  if (committed !== printed) {
    console.error('schema.graphql is stale: run `npm run schema:print` and commit the result.');
    process.exit(1);
  }
  console.log('schema.graphql is up to date.');
} else {
  writeFileSync(file, printed);
  console.log(`Wrote ${file}`);
}
