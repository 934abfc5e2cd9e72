/**
 * Notification preferences and Web Push subscriptions: the rules of the mutations of
 * src/schema/notification.ts. The sending is src/notifications/.
 */
import { isIP } from 'node:net';
import type { Viewer } from '../auth/viewer.js';
import { db } from '../db.js';
import { badInput } from '../errors.js';
import { clockMinutes, isTimeZone } from '../notifications/quiet.js';
import { DestinationRefused, isPublicAddress, parseDestination } from '../webhooks/destination.js';
import { transaction } from './tx.js';

export interface NotificationSettingsShape {
  email: boolean;
  push: boolean;
  quietHoursStart: string | null;
  quietHoursEnd: string | null;
  /** null: the application's zone (APP_TIME_ZONE). */
  timeZone: string | null;
}

export const DEFAULT_SETTINGS: NotificationSettingsShape = { email: true, push: true, quietHoursStart: null, quietHoursEnd: null, timeZone: null };

export interface UpdateNotificationSettingsInput {
  email?: boolean | null;
  push?: boolean | null;
  quietHoursStart?: string | null;
  quietHoursEnd?: string | null;
  timeZone?: string | null;
}

export async function notificationSettingsOf(userId: string): Promise<NotificationSettingsShape> {
  const row = await db.notificationSettings.findUnique({ where: { userId } });
  if (!row) return DEFAULT_SETTINGS;
  return { email: row.email, push: row.push, quietHoursStart: row.quietHoursStart, quietHoursEnd: row.quietHoursEnd, timeZone: row.timeZone };
}

function clockInput(value: string | null | undefined, field: string): string | null | undefined {
  if (value == null) return value;
  if (clockMinutes(value) === null) throw badInput(`${field} must be a time of day as HH:MM (00:00–23:59)`, field);
  return value;
}

/**
 * Changes what was given (a field left out stays; null clears the quiet hours or the zone). Every
 * field is checked against the settings it would produce before anything is written. Pending
 * notifications held back by the old quiet hours are looked at again under the new ones.
 */
export async function updateNotificationSettings(viewer: Viewer, input: UpdateNotificationSettingsInput): Promise<NotificationSettingsShape> {
  const quietHoursStart = clockInput(input.quietHoursStart, 'quietHoursStart');
  const quietHoursEnd = clockInput(input.quietHoursEnd, 'quietHoursEnd');
  if (input.timeZone != null && !isTimeZone(input.timeZone)) throw badInput('timeZone must be an IANA time zone such as Europe/Paris', 'timeZone');
  return transaction(async (tx) => {
    await tx.$executeRaw`INSERT INTO "NotificationSettings" ("userId", "updatedAt") VALUES (${viewer.id}::uuid, now()) ON CONFLICT DO NOTHING`;
    const [current] = await tx.$queryRaw<NotificationSettingsShape[]>`
      SELECT "email", "push", "quietHoursStart", "quietHoursEnd", "timeZone" FROM "NotificationSettings" WHERE "userId" = ${viewer.id}::uuid FOR UPDATE`;
    const next: NotificationSettingsShape = {
      email: input.email ?? current!.email,
      push: input.push ?? current!.push,
      quietHoursStart: quietHoursStart === undefined ? current!.quietHoursStart : quietHoursStart,
      quietHoursEnd: quietHoursEnd === undefined ? current!.quietHoursEnd : quietHoursEnd,
      timeZone: input.timeZone === undefined ? current!.timeZone : input.timeZone,
    };
    if ((next.quietHoursStart === null) !== (next.quietHoursEnd === null)) {
      const missing = next.quietHoursStart === null ? 'quietHoursStart' : 'quietHoursEnd';
      throw badInput('quietHoursStart and quietHoursEnd are set together (or both null for no quiet hours)', missing);
    }
    if (next.quietHoursStart !== null && next.quietHoursStart === next.quietHoursEnd) {
      throw badInput('quietHoursEnd must differ from quietHoursStart', 'quietHoursEnd');
    }
    await tx.notificationSettings.update({ where: { userId: viewer.id }, data: next });
    // Every pending row, not only the held ones: a new version, so that a sweep which read one
    // under the old settings cannot hold it after this commit (src/notifications/index.ts).
    await tx.messageNotification.updateMany({
      where: { userId: viewer.id, OR: [{ notifyNotBefore: { not: null } }, { pendingSince: { not: null } }] },
      data: { notifyNotBefore: null },
    });
    return next;
  });
}

/** Email off, as the one-click unsubscribe link asks. */
export async function turnEmailOff(userId: string): Promise<void> {
  await db.$executeRaw`
    INSERT INTO "NotificationSettings" ("userId", "email", "updatedAt")
    SELECT "id", false, now() FROM "User" WHERE "id" = ${userId}::uuid
        ON CONFLICT ("userId") DO UPDATE SET "email" = false, "updatedAt" = now()`;
}

export interface PushSubscriptionInput {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** At most this many browsers per user: registering one more forgets the oldest. */
export const MAX_PUSH_SUBSCRIPTIONS = 20;

function keyBytes(value: string): number {
  return /^[A-Za-z0-9_-]+={0,2}$/.test(value) ? Buffer.from(value, 'base64url').length : -1;
}

/**
 * Keeps a browser's subscription (PushSubscription.toJSON() in the browser) for the viewer. An
 * endpoint already known moves to the viewer with its new keys: one browser, one owner. The push
 * service must be https and not a loopback or private address, unless private networks are
 * allowed (WEBHOOK_ALLOW_PRIVATE_NETWORKS), and it is reached like a webhook, its address checked where the socket connects.
 */
export async function registerPushSubscription(viewer: Viewer, input: PushSubscriptionInput, allowPrivate: boolean): Promise<boolean> {
  try {
    const url = parseDestination(input.endpoint, { requireHttps: !allowPrivate });
    // Push services have public names; a loopback or private literal could only ever fail at send.
    // (A name is not resolved here: it is checked where the socket connects, like a webhook's.)
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!allowPrivate && (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) !== 0 && !isPublicAddress(host)))) {
      throw new DestinationRefused('must be a public push service, not a loopback or private address');
    }
  } catch (error) {
    if (error instanceof DestinationRefused) throw badInput(`endpoint: ${error.message}`, 'endpoint');
    throw error;
  }
  const p256dh = Buffer.from(input.keys.p256dh, 'base64url');
  if (keyBytes(input.keys.p256dh) !== 65 || p256dh[0] !== 4) throw badInput('keys.p256dh must be a base64url uncompressed P-256 public key (65 bytes)', 'keys.p256dh');
  if (keyBytes(input.keys.auth) !== 16) throw badInput('keys.auth must be a base64url 16-byte secret', 'keys.auth');
  await transaction(async (tx) => {
    await tx.pushSubscription.upsert({
      where: { endpoint: input.endpoint },
      create: { userId: viewer.id, endpoint: input.endpoint, p256dh: input.keys.p256dh, auth: input.keys.auth },
      update: { userId: viewer.id, p256dh: input.keys.p256dh, auth: input.keys.auth, createdAt: new Date() },
    });
    const extra = await tx.pushSubscription.findMany({
      where: { userId: viewer.id },
      orderBy: { createdAt: 'desc' },
      skip: MAX_PUSH_SUBSCRIPTIONS,
      select: { id: true },
    });
    if (extra.length > 0) await tx.pushSubscription.deleteMany({ where: { id: { in: extra.map((row) => row.id) } } });
  });
  return true;
}

/** Forgets one of the viewer's subscriptions; false when the viewer had none with this endpoint. */
export async function unregisterPushSubscription(viewer: Viewer, endpoint: string): Promise<boolean> {
  const { count } = await db.pushSubscription.deleteMany({ where: { userId: viewer.id, endpoint } });
  return count > 0;
}
