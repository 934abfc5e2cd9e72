import { lexicographicSortSchema } from 'graphql';
import { freshCachesPerEvent } from '../request-caches.js';
import { builder } from './builder.js';
import './enums.js';
import './user.js';
import './message.js';
import './conversation.js';
import './appointment.js';
import './webhook.js';
import './upload.js';
import './events.js';
import './search.js';
import './notification.js';

export function buildSchema() {
  return freshCachesPerEvent(builder.toSchema());
}

/** The SDL committed as schema.graphql, sorted so diffs show real changes only. */
export function sortedSchema() {
  return lexicographicSortSchema(buildSchema());
}
