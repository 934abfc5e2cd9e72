import type { Viewer } from '../auth/viewer.js';
import { db } from '../db.js';
import type { User } from '../generated/prisma/client.js';
import { verifiedAvatar } from './uploads.js';
import { MAX_NAME_LENGTH, rejectNul, requireText } from './validation.js';

export interface UpdateProfileInput {
  displayName?: string | null;
  /** null removes the avatar; undefined keeps it. */
  avatarUrl?: string | null;
}

/** What clients show for a user: the display name they chose, else "firstName lastName" from their token. */
export function displayNameOf(user: Pick<User, 'displayName' | 'firstName' | 'lastName'>): string {
  return user.displayName ?? [user.firstName, user.lastName].filter((part) => part !== '').join(' ');
}

/**
 * Changes the viewer's display name and avatar. Everything is checked (the avatar's bytes
 * included) before anything is written, and both change in one statement.
 */
export async function updateProfile(viewer: Viewer, input: UpdateProfileInput): Promise<User> {
  const displayName = input.displayName == null ? undefined : requireText(input.displayName, 'displayName', MAX_NAME_LENGTH);
  const avatar = input.avatarUrl == null ? input.avatarUrl : await verifiedAvatar(viewer, rejectNul(input.avatarUrl, 'avatarUrl').trim());
  if (avatar) {
    // The served type is the sniffed one; it is stored only with the avatar that uses it.
    const [, user] = await db.$transaction([
      db.upload.update({ where: { id: avatar.upload.id }, data: { sniffedType: avatar.type } }),
      db.user.update({ where: { id: viewer.id }, data: { avatarUploadId: avatar.upload.id, ...(displayName ? { displayName } : {}) } }),
    ]);
    return user;
  }
  return db.user.update({
    where: { id: viewer.id },
    data: { ...(displayName ? { displayName } : {}), ...(avatar === null ? { avatarUploadId: null } : {}) },
  });
}
