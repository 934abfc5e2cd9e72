import { db, type Db } from '../db.js';
import { prismaCode, sqlState } from '../db/errors.js';

/** The client inside an interactive transaction (the last `$transaction` overload's argument). */
export type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

/** A unique index refused the write: P2002 from model queries, SQLSTATE 23505 from raw SQL. */
export function isUniqueViolation(error: unknown): boolean {
  return prismaCode(error) === 'P2002' || sqlState(error) === '23505';
}

/** A transaction, retried a few times when PostgreSQL picks it as a deadlock or serialization victim. */
export async function transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.$transaction(work, { maxWait: 10_000, timeout: 15_000 });
    } catch (error) {
      if (attempt >= 5 || !RETRYABLE_SQLSTATES.has(sqlState(error) ?? '')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 20));
    }
  }
}
