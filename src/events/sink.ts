import { logger } from '../logger.js';
import type { AppEvent, EventSink } from './types.js';

let sink: EventSink = { publish: async () => {} };

/** The app installs its bus here at start; until then events go nowhere. */
export function setEventSink(next: EventSink) {
  sink = next;
}

/**
 * Called after commit. The write has happened whatever the bus does, so a failure here is
 * logged, not returned to the client (subscribers recover through replay with `after`).
 */
export async function publish(events: readonly AppEvent[]): Promise<void> {
  if (events.length === 0) return;
  try {
    await sink.publish(events);
  } catch (error) {
    logger.error({ err: error, kinds: events.map((event) => event.kind) }, 'event publish failed');
  }
}

/** Runs a service call, then announces what it did: the one way resolvers publish. */
export async function committed<T>(outcome: Promise<{ result: T; events: AppEvent[] }>): Promise<T> {
  const { result, events } = await outcome;
  await publish(events);
  return result;
}
