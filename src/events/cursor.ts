import { appError, badInput, ErrorCode } from '../errors.js';
import { streamState } from './log.js';

/**
 * A position in one user's event log as clients hold it: `base64url("v1:<userId>:<position>")`.
 * Opaque to clients; the version prefix lets a later format coexist with cursors already stored.
 */
export function encodeCursor(userId: string, position: bigint): string {
  return Buffer.from(`v1:${userId}:${position}`, 'utf8').toString('base64url');
}

const CURSOR = /^v1:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(0|[1-9][0-9]{0,18})$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The one answer to every cursor the viewer may not use: it says nothing about why. */
const invalidCursor = () => badInput('Invalid cursor', 'after');

export const cursorExpired = () =>
  appError(ErrorCode.CURSOR_EXPIRED, 'This cursor is older than the event retention: reload and take a new eventCursor');

/** The position a cursor names, if it is well-formed and names `viewerId`'s log; else null. */
function positionOf(viewerId: string, cursor: string): bigint | null {
  if (cursor.length > 128 || !BASE64URL.test(cursor)) return null;
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || match[1] !== viewerId.toLowerCase()) return null;
  return BigInt(match[2]!);
}

/**
 * The position `cursor` stands for in the viewer's log (with the log's state it was checked against), checked against the log's current state:
 * malformed, another user's or beyond the viewer's last position (a cursor the API never issued)
 * is BAD_USER_INPUT "Invalid cursor"; before what the retention job deleted is CURSOR_EXPIRED. A
 * cursor exactly at `prunedThrough` is still good: nothing after it was deleted.
 */
export async function positionFromCursor(
  viewerId: string,
  cursor: string,
): Promise<{ position: bigint; lastPosition: bigint; prunedThrough: bigint }> {
  const position = positionOf(viewerId, cursor);
  if (position === null) throw invalidCursor();
  const { lastPosition, prunedThrough } = await streamState(viewerId);
  if (position > lastPosition) throw invalidCursor();
  if (position < prunedThrough) throw cursorExpired();
  // The state it was checked against, so a caller needs no second read of it.
  return { position, lastPosition, prunedThrough };
}
