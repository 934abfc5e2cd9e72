import { db } from '../db.js';
import { Prisma } from '../generated/prisma/client.js';

export type Tx = Prisma.TransactionClient;

const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

function sqlState(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const seen = new Set<unknown>();
  let current: unknown = error;
  // The driver adapter nests the PostgreSQL error; walk causes and meta to find its SQLSTATE.
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const record = current as { code?: unknown; meta?: unknown; cause?: unknown; originalCode?: unknown };
    if (typeof record.originalCode === 'string' && RETRYABLE_SQLSTATES.has(record.originalCode)) return record.originalCode;
    if (typeof record.code === 'string' && RETRYABLE_SQLSTATES.has(record.code)) return record.code;
    current = record.cause ?? (record.meta as { driverAdapterError?: unknown } | undefined)?.driverAdapterError;
  }
  const message = error.message;
  if (/deadlock detected/i.test(message)) return '40P01';
  if (/could not serialize/i.test(message)) return '40001';
  return undefined;
}

/** A unique index refused the write: P2002 from model queries, SQLSTATE 23505 from raw SQL. */
export function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError)) return false;
  if (error.code === 'P2002') return true;
  return error.code === 'P2010' && /23505|unique constraint/i.test(JSON.stringify(error.meta ?? {}) + error.message);
}

/** A transaction, retried a few times when PostgreSQL picks it as a deadlock or serialization victim. */
export async function transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.$transaction(work, { maxWait: 10_000, timeout: 15_000 });
    } catch (error) {
      if (attempt >= 5 || !sqlState(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 20));
    }
  }
}
