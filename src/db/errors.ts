/**
 * What a database error means for the client. Checks are by shape, not `instanceof`: the driver
 * adapter nests PostgreSQL's error inside Prisma's, and a test runner may load Prisma twice.
 */

/** Prisma's codes are P1000–P5999; PostgreSQL's own `P0…` class (PL/pgSQL) is a SQLSTATE. */
const PRISMA_CODE = /^P[1-9]\d{3}$/;
const SQLSTATE = /^[0-9A-Z]{5}$/;

interface Nested {
  code?: unknown;
  originalCode?: unknown;
  meta?: unknown;
  cause?: unknown;
}

/** Prisma's own error code (`P2025`…), when the error is one of Prisma's known request errors. */
export function prismaCode(error: unknown): string | undefined {
  const code = (error as Nested | undefined)?.code;
  return typeof code === 'string' && PRISMA_CODE.test(code) ? code : undefined;
}

/** The PostgreSQL SQLSTATE behind an error, however deep the driver adapter nested it. */
export function sqlState(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const record = current as Nested;
    for (const code of [record.originalCode, record.code]) {
      if (typeof code === 'string' && SQLSTATE.test(code) && !PRISMA_CODE.test(code)) return code;
    }
    current = record.cause ?? (record.meta as { driverAdapterError?: unknown } | undefined)?.driverAdapterError;
  }
  if (error instanceof Error) {
    if (/deadlock detected/i.test(error.message)) return '40P01';
    if (/could not serialize/i.test(error.message)) return '40001';
  }
  return undefined;
}

/**
 * PostgreSQL refused a value a client sent (a NUL byte in text, a date outside its range, text
 * that is not a UUID): every such value is refused earlier by validation, so reaching here means a
 * path validation missed, and the answer is still the client's error, not ours.
 */
const INPUT_SQLSTATES = new Set([
  '22P02', // invalid_text_representation (e.g. a malformed UUID)
  '22021', // character_not_in_repertoire (a NUL byte in text)
  '22008', // datetime_field_overflow (year 0, beyond year 294276)
  '22007', // invalid_datetime_format
  '22003', // numeric_value_out_of_range
  '22001', // string_data_right_truncation
]);

export type DatabaseRefusal = 'NOT_FOUND' | 'BAD_USER_INPUT';

/**
 * A row the operation needed vanished between its check and its write: a concurrent delete (of a
 * conversation, usually) won. Prisma says so with P2025 (the row to update or read is gone) and
 * PostgreSQL with a foreign-key violation (23503: a counter or message pointing at a deleted row).
 */
export function databaseRefusal(error: unknown): DatabaseRefusal | undefined {
  const code = prismaCode(error);
  if (code === 'P2025' || code === 'P2003') return 'NOT_FOUND';
  const state = sqlState(error);
  if (state === '23503') return 'NOT_FOUND';
  if (state && INPUT_SQLSTATES.has(state)) return 'BAD_USER_INPUT';
  return undefined;
}
