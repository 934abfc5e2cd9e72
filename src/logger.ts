import pino from 'pino';

/**
 * Structured JSON logs. Tokens and message content never reach a log line: the redact list is
 * a safety net for objects logged whole by mistake.
 */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info'),
  redact: {
    paths: ['authorization', '*.authorization', 'token', '*.token', 'content', '*.content', 'headers.authorization'],
    censor: '[redacted]',
  },
});
