import { db, type Tx } from '../db.js';
import { prismaCode, sqlState } from '../db/errors.js';
import { recordEvents, type LoggedEvent } from '../events/log.js';
import type { AppEvent } from '../events/publish.js';

export type { Tx };

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

declare const recorded: unique symbol;

/**
 * What a service returns: its result, the events it reported and the rows they became in each
 * recipient's log. Only `change`, `loggedBy` and `unchanged` make one, so an event cannot reach
 * the bus without having been recorded in the transaction that caused it.
 */
export interface Outcome<T> {
  readonly result: T;
  readonly events: readonly AppEvent[];
  /** The log rows written for `events`, committed (the wake-ups carry them). */
  readonly logged: readonly LoggedEvent[];
  readonly [recorded]: true;
}

function seal<T>(outcome: Omit<Outcome<T>, typeof recorded>): Outcome<T> {
  return outcome as Outcome<T>;
}

/** What the work of a `change` returns: its result and the events to record with it. */
export interface Reported<T> {
  result: T;
  events: readonly AppEvent[];
}

/**
 * The transaction of every change users must learn of: the work reports its events, and they
 * are recorded in the event log (src/events/log.ts) inside the same transaction, as its last
 * statement, so a change and its events commit or roll back together.
 */
export async function change<T>(work: (tx: Tx) => Promise<Reported<T>>): Promise<Outcome<T>> {
  const { result, events, logged } = await transaction(async (tx) => {
    const reported = await work(tx);
    return { ...reported, logged: await recordEvents(tx, reported.events) };
  });
  return seal({ result, events, logged });
}

/** A change whose one statement recorded its own events (the send path) and has committed. */
export function loggedBy<T>(result: T, events: readonly AppEvent[], logged: readonly LoggedEvent[]): Outcome<T> {
  return seal({ result, events, logged });
}

/** A call that changed nothing (an idempotent replay, a no-op): nothing to record or announce. */
export function unchanged<T>(result: T): Outcome<T> {
  return seal({ result, events: [], logged: [] });
}
