import { v5 as uuidv5 } from 'uuid';

/** Development users get ids derived from their email, so `npm run token` needs no database. */
const DEV_NAMESPACE = 'b7f9e2a4-1c3d-4e5f-8a9b-0c1d2e3f4a5b';

export function devUserId(email: string): string {
  return uuidv5(email.trim().toLowerCase(), DEV_NAMESPACE);
}
