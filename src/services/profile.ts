import type { Viewer } from '../auth/viewer.js';
import type { User } from '../generated/prisma/client.js';
import { change, type Outcome, type Tx } from './tx.js';
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

/** The user and everyone who shares a conversation with them: who shows their name and avatar. */
async function audienceOf(tx: Tx, userId: string): Promise<string[]> {
  const rows = await tx.$queryRaw<{ id: string }[]>`
    SELECT DISTINCT CASE WHEN "salonId" = ${userId}::uuid THEN "clientUserId" ELSE "salonId" END::text AS "id"
      FROM "Conversation" WHERE ${userId}::uuid IN ("salonId", "clientUserId")`;
  return [userId, ...rows.map((row) => row.id)];
}

/**
 * Changes the viewer's display name and avatar. Everything is checked (the avatar's bytes
 * included) before anything is written; both change in one transaction with a `user.updated`
 * event for the viewer and everyone they talk with (Stream's user.updated), so inboxes show the
 * new name without a reload. A salon with many clients writes one event row per client: a
 * profile changes rarely.
 */
export async function updateProfile(viewer: Viewer, input: UpdateProfileInput): Promise<Outcome<User>> {
  const displayName = input.displayName == null ? undefined : requireText(input.displayName, 'displayName', MAX_NAME_LENGTH);
  const avatar = input.avatarUrl == null ? input.avatarUrl : await verifiedAvatar(viewer, rejectNul(input.avatarUrl, 'avatarUrl').trim());
  return change(async (tx) => {
    // The served type is the sniffed one; it is stored only with the avatar that uses it.
    if (avatar) await tx.upload.update({ where: { id: avatar.upload.id }, data: { sniffedType: avatar.type } });
    const before = await tx.user.findUniqueOrThrow({ where: { id: viewer.id } });
    const user = await tx.user.update({
      where: { id: viewer.id },
      data: {
        ...(displayName ? { displayName } : {}),
        ...(avatar ? { avatarUploadId: avatar.upload.id } : avatar === null ? { avatarUploadId: null } : {}),
      },
    });
    // Nothing that anyone shows changed (the same name again, no avatar to remove): no event.
    if (user.displayName === before.displayName && user.avatarUploadId === before.avatarUploadId) return { result: user, events: [] };
    return { result: user, events: [{ kind: 'userUpdated', userId: viewer.id, participantIds: await audienceOf(tx, viewer.id) }] };
  });
}
