import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';

/** The `.env` that `.env.example` tells developers to create, next to package.json. */
export const ENV_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', '.env');

type Env = Record<string, string | undefined>;

/**
 * `env` with the variables of a `.env` file beneath it: a variable already set in the
 * environment wins, as with Node's own `--env-file`, so a deployment's settings are never
 * overridden by a file left in the image. No file, no change. Node's parser (util.parseEnv, the
 * one behind --env-file) is used rather than a package: quotes, `export`, comments and multi-line
 * values read the same way here as with `node --env-file=.env`.
 */
export function withEnvFile(env: Env, path: string = ENV_FILE): Env {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return env;
    throw error;
  }
  const fromFile = parseEnv(text);
  const merged: Env = { ...env };
  for (const [name, value] of Object.entries(fromFile)) {
    if (merged[name] === undefined) merged[name] = value;
  }
  return merged;
}
