import pino from 'pino';

/**
 * Under vitest, lines go through `console.log`, so the runner prints each one under the test that
 * caused it; elsewhere pino writes to stdout itself. Tests log errors (an unexpected error behind a
 * failing assertion is then in the output); LOG_LEVEL overrides.
 */
const underTestRunner = process.env.VITEST === 'true';

/**
 * Structured JSON logs. Tokens and message content never reach a log line: the redact list is
 * a safety net for objects logged whole by mistake.
 */
const requested = process.env.LOG_LEVEL?.trim().toLowerCase();
const fallback = process.env.NODE_ENV === 'test' ? 'error' : 'info';

export const logger = pino(
  {
    // An unknown LOG_LEVEL is the config's to refuse, in one readable line; the logger must not
    // throw while being imported.
    level: requested && (requested === 'silent' || requested in pino.levels.values) ? requested : fallback,
    redact: {
      paths: ['authorization', '*.authorization', 'token', '*.token', 'content', '*.content', 'headers.authorization'],
      censor: '[redacted]',
    },
  },
  underTestRunner ? { write: (line: string) => console.log(line.trimEnd()) } : undefined,
);
