import type { ParsedMail } from 'mailparser';
import pg from 'pg';
import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { quietUntil } from '../src/notifications/quiet.js';
import { sendMessage } from '../src/services/messages.js';
import {
  NotificationSettingsDocument,
  RegisterPushSubscriptionDocument,
  UnregisterPushSubscriptionDocument,
  UpdateNotificationSettingsDocument,
  UpdateProfileDocument,
} from '../operations/generated/graphql.js';
import { print } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { useTestApp, type TestContext, type TestUser } from './support/app.js';
import { codes, openConversation, send } from './support/fixtures.js';
import { browserSubscription, decryptPush, startPushService, startSmtpServer } from './support/notify-peers.js';
import { wsClient } from './support/ws.js';

type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;
type PushService = Awaited<ReturnType<typeof startPushService>>;

const AFTER_S = 1;
const vapid = webpush.generateVAPIDKeys();
const env: Record<string, string> = {
  NOTIFY_AFTER_S: String(AFTER_S),
  NOTIFY_SWEEP_MS: '200',
  JOB_POLL_MS: '500',
  MAIL_FROM: 'Salon <notifications@salon.test>',
  APP_URL: 'https://app.salon.test/',
  VAPID_PUBLIC_KEY: vapid.publicKey,
  VAPID_PRIVATE_KEY: vapid.privateKey,
  VAPID_SUBJECT: 'mailto:admin@salon.test',
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  // Presence across the two instances.
  REDIS_URL: 'redis://127.0.0.1:6379',
  APP_TIME_ZONE: 'Europe/Paris',
};
let smtp: Smtp;
let pushService: PushService;
// Registered before useTestApp's: the peers exist, and their addresses are in `env`, when the apps start.
beforeAll(async () => {
  smtp = await startSmtpServer();
  pushService = await startPushService();
  env.SMTP_URL = smtp.url;
});
afterAll(async () => {
  await smtp?.close();
  await pushService?.close();
});

// Two instances in every test: each notification must arrive once. A short presence grace period:
// a closed socket makes its user offline (and sets lastSeenAt) well before a deadline.
const t = useTestApp(env, { instances: 2, app: { presence: { graceMs: 100 } } });

async function op<T, V>(ctx: TestContext, document: TypedDocumentNode<T, V>, variables: V, token: string, instance = 0) {
  return ctx.gql<T>(print(document), variables as Record<string, unknown>, token, instance);
}

/** salon_notifications_total summed over every instance, by "channel/result". */
async function notificationMetrics(ctx: TestContext): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  for (const app of ctx.apps) {
    const text = await (await fetch(new URL('/metrics', app.url()))).text();
    for (const match of text.matchAll(/^salon_notifications_total\{([^}]*)\} (\d+)/gm)) {
      const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      const key = `${labels.channel}/${labels.result}`;
      totals[key] = (totals[key] ?? 0) + Number(match[2]);
    }
  }
  return totals;
}

async function salonNamed(ctx: TestContext, name: string): Promise<TestUser> {
  const salon = await ctx.user('SALON');
  const renamed = await op(ctx, UpdateProfileDocument, { input: { displayName: name } }, salon.token);
  expect(renamed.errors).toBeUndefined();
  return salon;
}

async function createdAt(ctx: TestContext, messageId: string): Promise<number> {
  const [row] = await ctx.sql<{ at: Date }>('SELECT "createdAt" AS "at" FROM "Message" WHERE "id" = $1', [messageId]);
  return row!.at.getTime();
}

async function notifiedThrough(ctx: TestContext, userId: string, conversationId: string) {
  const [row] = await ctx.sql<{ seq: number; notBefore: Date | null }>(
    'SELECT "notifiedThroughSeq" AS "seq", "notifyNotBefore" AS "notBefore" FROM "MessageNotification" WHERE "userId" = $1 AND "conversationId" = $2',
    [userId, conversationId],
  );
  return row;
}

/** A header as the SMTP server received it (mailparser reads List-* headers into its own shape). */
function rawHeader(mail: ParsedMail, name: string): string {
  const line = mail.headerLines.find((header) => header.key === name)?.line ?? '';
  return line.slice(line.indexOf(':') + 1).trim();
}

const delays: number[] = [];

// Concurrent: each test has its own users, and most of their time is waiting for a deadline.
describe.concurrent('offline notifications of unread messages', () => {
  it('sends one email and one push per browser for a burst of three, with the salon name, an excerpt, a link and one-click unsubscribe; forgets 404/410 subscriptions', async ({ expect }) => {
    const salon = await salonNamed(t, 'Salon Élégance');
    const client = await t.user('CLIENT');
    const browser = browserSubscription(`${pushService.origin}/push/ok/${client.id}`);
    const gone = browserSubscription(`${pushService.origin}/push/gone/${client.id}`);
    const missing = browserSubscription(`${pushService.origin}/push/missing/${client.id}`);
    for (const subscription of [browser, gone, missing]) {
      expect((await op(t, RegisterPushSubscriptionDocument, { input: subscription.input }, client.token)).data?.registerPushSubscription).toBe(true);
    }
    const conversationId = await openConversation(t, salon, client, 'Couleur');
    const first = await send(t, salon, conversationId, 'Bonjour !');
    await send(t, salon, conversationId, 'Votre rendez-vous est confirmé.', {});
    await send(t, salon, conversationId, 'À   mardi\n\n<b>10 h</b> & à bientôt', {});
    const deadline = (await createdAt(t, first.id)) + AFTER_S * 1000;

    await expect.poll(() => smtp.to(client.email).length).toBe(1);
    const { mail, receivedAt } = smtp.to(client.email)[0]!;
    delays.push(receivedAt - deadline);
    expect(receivedAt).toBeGreaterThanOrEqual(deadline);
    expect(mail.subject).toBe('3 nouveaux messages de Salon Élégance');
    expect(mail.from?.value).toEqual([{ name: 'Salon', address: 'notifications@salon.test' }]);
    const unsubscribe = /^<(http:\/\/localhost:\d+\/notifications\/unsubscribe\?user=[^>]+)>$/.exec(rawHeader(mail, 'list-unsubscribe'))?.[1];
    expect(unsubscribe).toBeDefined();
    expect(rawHeader(mail, 'list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    const link = `https://app.salon.test/?conversation=${conversationId}`;
    expect(mail.text).toContain('Salon Élégance vous a envoyé 3 messages dans « Couleur »');
    expect(mail.text).toContain('« À mardi <b>10 h</b> & à bientôt »');
    expect(mail.text).toContain(`Lire et répondre : ${link}`);
    expect(mail.text).toContain(`Ne plus recevoir ces emails : ${unsubscribe}`);
    expect(mail.html).toContain('À mardi &lt;b&gt;10 h&lt;/b&gt; &amp; à bientôt');
    expect(mail.html).toContain(`href="${link}"`);
    expect(mail.html).toContain(`href="${unsubscribe!.replace(/&/g, '&amp;')}"`);

    // The push service got one request per subscription; the browser decrypts its payload.
    await expect.poll(() => pushService.requests.filter((r) => r.path.endsWith(client.id)).length).toBe(3);
    const request = pushService.requests.find((r) => r.path === `/push/ok/${client.id}`)!;
    expect(request.headers['content-encoding']).toBe('aes128gcm');
    expect(request.headers.authorization).toMatch(new RegExp(`^vapid t=[\\w-]+\\.[\\w-]+\\.[\\w-]+, k=${vapid.publicKey}$`));
    expect(JSON.parse(decryptPush(request.body, browser))).toEqual({
      title: '3 nouveaux messages de Salon Élégance',
      body: 'À mardi <b>10 h</b> & à bientôt',
      url: link,
      conversationId,
      count: 3,
    });
    await expect
      .poll(async () => (await t.sql<{ endpoint: string }>('SELECT "endpoint" FROM "PushSubscription" WHERE "userId" = $1', [client.id])).map((r) => r.endpoint))
      .toEqual([browser.input.endpoint]);

    // Once: a later message to the same client, notified after several sweeps of both instances,
    // finds the first burst still notified once.
    const other = await openConversation(t, salon, client, 'Autre');
    await send(t, salon, other, 'Une question ?');
    await expect.poll(() => smtp.to(client.email).length).toBe(2);
    expect(smtp.to(client.email).map((m) => m.mail.subject)).toEqual(['3 nouveaux messages de Salon Élégance', 'Nouveau message de Salon Élégance']);
    await expect.poll(() => pushService.requests.filter((r) => r.path === `/push/ok/${client.id}`).length).toBe(2);
  });

  it('notifies an offline client of its appointment reminder, a SYSTEM message written by a job', async ({ expect }) => {
    const salon = await salonNamed(t, 'Salon Élégance');
    const client = await t.user('CLIENT');
    // REMINDER_BEFORE_H is 24 here: a start 24 h and 4 s away makes the reminder due in 4 s.
    const startsAt = new Date(Date.now() + 24 * 3_600_000 + 4_000).toISOString();
    const booked = await t.gql('mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { id } }', { input: { clientUserId: client.id, startsAt, service: 'Balayage' } }, salon.token);
    expect(booked.errors).toBeUndefined();
    await expect.poll(() => smtp.to(client.email).filter(({ mail }) => mail.text?.includes('Rappel')).length, { timeout: 20_000 }).toBe(1);
    const reminder = smtp.to(client.email).find(({ mail }) => mail.text?.includes('Rappel'))!;
    expect(reminder.mail.text).toContain('Balayage');
  });

  it('notifies one message with its excerpt, cut at 140 characters', async ({ expect }) => {
    const salon = await salonNamed(t, 'Salon Élégance');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client, 'Soin');
    const sent = await send(t, salon, conversationId, 'x'.repeat(200), {});
    const deadline = (await createdAt(t, sent.id)) + AFTER_S * 1000;
    await expect.poll(() => smtp.to(client.email).length).toBe(1);
    const { mail, receivedAt } = smtp.to(client.email)[0]!;
    delays.push(receivedAt - deadline);
    expect(mail.subject).toBe('Nouveau message de Salon Élégance');
    expect(mail.text).toContain(`« ${'x'.repeat(139)}… »`);
    expect(mail.text).toContain('Salon Élégance vous a envoyé un message dans « Soin »');
  });

  it('sends nothing for messages read before the deadline', async ({ expect }) => {
    const salon = await salonNamed(t, 'Salon Lu');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client, 'Lu');
    const before = (await notificationMetrics(t))['email/skipped_read'] ?? 0;
    await send(t, salon, conversationId, 'Lu à temps');
    const read = await t.gql(`mutation($id: ID!) { markConversationRead(id: $id) { id } }`, { id: conversationId }, client.token);
    expect(read.errors).toBeUndefined();
    // A sweep after the deadline found the message read.
    await expect.poll(async () => (await notificationMetrics(t))['email/skipped_read'] ?? 0).toBeGreaterThan(before);
    expect(smtp.to(client.email)).toHaveLength(0);
    expect(pushService.requests.filter((r) => r.path.endsWith(client.id))).toHaveLength(0);
  });

  it('sends nothing to a user online (on the other instance) when the deadline passes', async ({ expect }) => {
    const salon = await salonNamed(t, 'Salon En Ligne');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client, 'En ligne');
    const socket = wsClient(t.apps[1]!.wsUrl(), { authorization: `Bearer ${client.token}` });
    try {
      await expect.poll(async () => (await t.gql<{ me: { online: boolean } }>('{ me { online } }', {}, client.token)).data?.me.online).toBe(true);
      const sent = await send(t, salon, conversationId, 'Vous êtes là ?');
      // Claimed as skipped: the mark moved past the message, and no instance will send it.
      await expect.poll(async () => (await notifiedThrough(t, client.id, conversationId))?.seq).toBe(sent.seq);
      expect((await notificationMetrics(t))['email/skipped_online']).toBeGreaterThan(0);
      expect(smtp.to(client.email)).toHaveLength(0);
    } finally {
      await socket.dispose();
    }
  });

  it('sends nothing to a user who was online after the message came, even offline again at the deadline', async ({ expect }) => {
    const salon = await salonNamed(t, 'Salon Passage');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client, 'Passage');
    const socket = wsClient(t.apps[1]!.wsUrl(), { authorization: `Bearer ${client.token}` });
    await expect.poll(async () => (await t.gql<{ me: { online: boolean } }>('{ me { online } }', {}, client.token)).data?.me.online).toBe(true);
    const sent = await send(t, salon, conversationId, 'Vous passez ?');
    await socket.dispose();
    await expect.poll(async () => (await t.gql<{ me: { online: boolean } }>('{ me { online } }', {}, client.token)).data?.me.online).toBe(false);
    await expect.poll(async () => (await notifiedThrough(t, client.id, conversationId))?.seq).toBe(sent.seq);
    expect(smtp.to(client.email)).toHaveLength(0);
  });

  it('holds notifications during quiet hours and sends them when they are over, not dropped', async ({ expect }) => {
    const salon = await salonNamed(t, 'Salon Calme');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client, 'Nuit');
    const clock = (at: Date) => new Intl.DateTimeFormat('en-GB', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at);
    const now = Date.now();
    const input = { quietHoursStart: clock(new Date(now - 3_600_000)), quietHoursEnd: clock(new Date(now + 3_600_000)), timeZone: 'America/New_York' };
    expect((await op(t, UpdateNotificationSettingsDocument, { input }, client.token)).errors).toBeUndefined();
    await send(t, salon, conversationId, 'Message de nuit');
    // Held until the end of the quiet hours, in the user's zone.
    await expect.poll(async () => (await notifiedThrough(t, client.id, conversationId))?.notBefore?.getTime() ?? 0).toBeGreaterThan(now + 3_500_000);
    expect(smtp.to(client.email)).toHaveLength(0);
    // The quiet hours end (here: the user removes them): the held notification goes out.
    expect((await op(t, UpdateNotificationSettingsDocument, { input: { quietHoursStart: null, quietHoursEnd: null } }, client.token)).errors).toBeUndefined();
    await expect.poll(() => smtp.to(client.email).map((m) => m.mail.subject)).toEqual(['Nouveau message de Salon Calme']);
  });

  it('turns email off through the one-click unsubscribe link; push still comes, email counted as skipped by preference', async ({ expect }) => {
    const salon = await salonNamed(t, 'Salon Désabo');
    const client = await t.user('CLIENT');
    const browser = browserSubscription(`${pushService.origin}/push/ok/${client.id}`);
    await op(t, RegisterPushSubscriptionDocument, { input: browser.input }, client.token);
    const conversationId = await openConversation(t, salon, client, 'Désabo');
    await send(t, salon, conversationId, 'Premier');
    await expect.poll(() => smtp.to(client.email).length).toBe(1);
    const unsubscribe = /^<(.+)>$/.exec(rawHeader(smtp.to(client.email)[0]!.mail, 'list-unsubscribe'))![1]!;
    const url = new URL(unsubscribe);
    const local = `${t.apps[1]!.url().replace('/graphql', '')}${url.pathname}${url.search}`;

    // A forged token is refused; a GET (a mail scanner following the link) changes nothing.
    const forged = await fetch(local.replace(/token=[^&]+/, 'token=AAAA'), { method: 'POST' });
    expect(forged.status).toBe(400);
    const page = await fetch(local);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form method="post"');
    expect((await op(t, NotificationSettingsDocument, {}, client.token)).data?.notificationSettings.email).toBe(true);

    // The mail client's one-click POST (RFC 8058).
    const done = await fetch(local, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    expect(done.status).toBe(200);
    expect((await op(t, NotificationSettingsDocument, {}, client.token)).data?.notificationSettings).toMatchObject({ email: false, push: true });

    const skipped = (await notificationMetrics(t))['email/skipped_preference'] ?? 0;
    await send(t, salon, conversationId, 'Second');
    await expect.poll(() => pushService.requests.filter((r) => r.path === `/push/ok/${client.id}`).length).toBe(2);
    expect(smtp.to(client.email)).toHaveLength(1);
    expect((await notificationMetrics(t))['email/skipped_preference']).toBe(skipped + 1);
    expect((await notificationMetrics(t))['push/sent']).toBeGreaterThan(0);
  });

  it('notifies a message committed by the service alone (no resolver, nothing after the commit): its counter made it due', async ({ expect }) => {
    const salon = await salonNamed(t, 'Salon Balayage');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client, 'Balayage');
    // The service alone commits the message: what makes it notified is in its own transaction.
    const outcome = await sendMessage({ id: salon.id, role: 'SALON', tokenExpiresAt: Date.now() / 1000 + 3600 }, { conversationId, content: 'Sans résolveur' }, 4000);
    const [row] = await t.sql<{ pendingSince: Date | null }>(`SELECT "pendingSince" FROM "MessageNotification" WHERE "userId" = $1 AND "conversationId" = $2`, [client.id, conversationId]);
    expect(row?.pendingSince).not.toBeNull();
    expect(row!.pendingSince!.getTime()).toBeLessThanOrEqual(new Date(outcome.result.createdAt).getTime());
    const deadline = new Date(outcome.result.createdAt).getTime() + AFTER_S * 1000;
    await expect.poll(() => smtp.to(client.email).length).toBe(1);
    const { mail, receivedAt } = smtp.to(client.email)[0]!;
    expect(mail.subject).toBe('Nouveau message de Salon Balayage');
    // Within a sweep period (200 ms here) and the time to send.
    expect(receivedAt - deadline).toBeLessThan(5_000);
    // Notified: nothing pending is left for the sweep.
    await expect
      .poll(async () => (await t.sql<{ pendingSince: Date | null }>(`SELECT "pendingSince" FROM "MessageNotification" WHERE "userId" = $1 AND "conversationId" = $2`, [client.id, conversationId]))[0]?.pendingSince)
      .toBeNull();
  });

  it('does not lose a message that commits while a sweep settles its row: the sweep leaves a row changed since it read it', async ({ expect }) => {
    const salon = await salonNamed(t, 'Salon Course');
    const client = await t.user('CLIENT');
    const conversationId = await openConversation(t, salon, client, 'Course');
    // A first message, read in time: once due, a sweep finds nothing pending and clears the row.
    await send(t, salon, conversationId, 'Lu tout de suite');
    const read = await t.gql(`mutation($id: ID!) { markConversationRead(id: $id) { id } }`, { id: conversationId }, client.token);
    expect(read.errors).toBeUndefined();
    // Before that deadline, a second connection holds the counter row: the next send stops on it
    // with its message written but not committed, and so does the sweep's settlement, which read
    // the row before that message existed.
    const locker = new pg.Client({ connectionString: t.databaseUrl });
    locker.on('error', () => {});
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM "MessageNotification" WHERE "conversationId" = $1 AND "userId" = $2 FOR UPDATE', [conversationId, client.id]);
      const second = send(t, salon, conversationId, 'Arrivé pendant le tri', {});
      second.catch(() => {});
      // Asked on another connection: inside the locker's transaction, pg_stat_activity would stay as first read.
      const waiting = async (marker: string) =>
        (await t.sql(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND strpos(query, $1) > 0`, [marker])).length;
      await expect.poll(() => waiting('prepared:send')).toBe(1);
      await expect.poll(() => waiting('notification settle')).toBeGreaterThan(0);
      await locker.query('COMMIT');
      const sent = await second;
      const deadline = (await createdAt(t, sent.id)) + AFTER_S * 1000;
      await expect.poll(() => smtp.to(client.email).length).toBe(1);
      const { mail, receivedAt } = smtp.to(client.email)[0]!;
      expect(mail.subject).toBe('Nouveau message de Salon Course');
      expect(mail.text).toContain('Arrivé pendant le tri');
      expect(receivedAt).toBeGreaterThanOrEqual(deadline);
    } finally {
      await locker.end();
    }
  });

  it('counts a refused email as failed, and still pushes', async ({ expect }) => {
    const salon = await salonNamed(t, 'Salon Rebond');
    const client = await t.user('CLIENT', 'Bounce');
    const browser = browserSubscription(`${pushService.origin}/push/ok/${client.id}`);
    await op(t, RegisterPushSubscriptionDocument, { input: browser.input }, client.token);
    const before = (await notificationMetrics(t))['email/failed'] ?? 0;
    const conversationId = await openConversation(t, salon, client, 'Rebond');
    await send(t, salon, conversationId, 'Adresse inconnue');
    await expect.poll(async () => (await notificationMetrics(t))['email/failed'] ?? 0).toBe(before + 1);
    await expect.poll(() => pushService.requests.filter((r) => r.path === `/push/ok/${client.id}`).length).toBe(1);
    expect(smtp.to(client.email)).toHaveLength(0);
  });

  it('notifies a salon of its client’s messages by the client’s name', async ({ expect }) => {
    const salon = await salonNamed(t, 'Salon Réponse');
    const client = await t.user('CLIENT', 'Camille');
    const conversationId = await openConversation(t, salon, client, 'Question');
    await send(t, client, conversationId, 'Avez-vous une place samedi ?');
    const [salonEmail] = (await t.sql<{ email: string }>('SELECT "email" FROM "User" WHERE "id" = $1', [salon.id])).map((r) => r.email);
    await expect.poll(() => smtp.to(salonEmail!).map((m) => m.mail.subject)).toEqual(['Nouveau message de Camille Test']);
  });
});

describe('notification settings and push subscriptions', () => {
  it('start with email and push on, no quiet hours, in the server zone', async () => {
    const user = await t.user('CLIENT');
    expect((await op(t, NotificationSettingsDocument, {}, user.token)).data?.notificationSettings).toEqual({
      email: true,
      push: true,
      quietHoursStart: null,
      quietHoursEnd: null,
      timeZone: null,
      effectiveTimeZone: 'Europe/Paris',
    });
  });

  it('refuse bad input with BAD_USER_INPUT and the field, storing nothing', async () => {
    const user = await t.user('CLIENT');
    const bad: [Record<string, unknown>, string][] = [
      [{ quietHoursStart: '25:00', quietHoursEnd: '07:00' }, 'quietHoursStart'],
      [{ quietHoursStart: '22:00', quietHoursEnd: '7h' }, 'quietHoursEnd'],
      [{ quietHoursStart: '22:00' }, 'quietHoursEnd'],
      [{ quietHoursStart: '22:00', quietHoursEnd: '22:00' }, 'quietHoursEnd'],
      [{ email: false, timeZone: 'Mars/Olympus' }, 'timeZone'],
    ];
    for (const [input, field] of bad) {
      const response = await op(t, UpdateNotificationSettingsDocument, { input }, user.token);
      expect({ input, codes: codes(response), field: response.errors?.[0]?.extensions?.field }).toEqual({ input, codes: ['BAD_USER_INPUT'], field });
    }
    expect((await op(t, NotificationSettingsDocument, {}, user.token)).data?.notificationSettings).toMatchObject({ email: true, quietHoursStart: null, timeZone: null });

    const ok = await op(t, UpdateNotificationSettingsDocument, { input: { push: false, quietHoursStart: '22:30', quietHoursEnd: '07:00', timeZone: 'Europe/Lisbon' } }, user.token);
    expect(ok.data?.updateNotificationSettings).toEqual({
      email: true,
      push: false,
      quietHoursStart: '22:30',
      quietHoursEnd: '07:00',
      timeZone: 'Europe/Lisbon',
      effectiveTimeZone: 'Europe/Lisbon',
    });
  });

  it('refuse a malformed subscription, and unregister only the viewer’s own', async () => {
    const user = await t.user('CLIENT');
    const other = await t.user('CLIENT');
    const good = browserSubscription(`${pushService.origin}/push/ok/${user.id}/unregister`);
    const badKey = await op(t, RegisterPushSubscriptionDocument, { input: { ...good.input, keys: { ...good.input.keys, p256dh: 'abc' } } }, user.token);
    expect([codes(badKey), badKey.errors?.[0]?.extensions?.field]).toEqual([['BAD_USER_INPUT'], 'keys.p256dh']);
    const badAuth = await op(t, RegisterPushSubscriptionDocument, { input: { ...good.input, keys: { ...good.input.keys, auth: 'AAAA' } } }, user.token);
    expect([codes(badAuth), badAuth.errors?.[0]?.extensions?.field]).toEqual([['BAD_USER_INPUT'], 'keys.auth']);
    const badEndpoint = await op(t, RegisterPushSubscriptionDocument, { input: { ...good.input, endpoint: 'ftp://push.example' } }, user.token);
    expect([codes(badEndpoint), badEndpoint.errors?.[0]?.extensions?.field]).toEqual([['BAD_USER_INPUT'], 'endpoint']);
    expect(await t.sql('SELECT 1 FROM "PushSubscription" WHERE "userId" = $1', [user.id])).toHaveLength(0);

    await op(t, RegisterPushSubscriptionDocument, { input: good.input }, user.token);
    expect((await op(t, UnregisterPushSubscriptionDocument, { endpoint: good.input.endpoint }, other.token)).data?.unregisterPushSubscription).toBe(false);
    expect((await op(t, UnregisterPushSubscriptionDocument, { endpoint: good.input.endpoint }, user.token)).data?.unregisterPushSubscription).toBe(true);
    expect(await t.sql('SELECT 1 FROM "PushSubscription" WHERE "userId" = $1', [user.id])).toHaveLength(0);
  });

  it('quiet hours end at their end time in the user zone, overnight windows included', () => {
    const paris = { start: '22:00', end: '07:00', timeZone: 'Europe/Paris' };
    // 23:30 in Paris (UTC+1 in November): held until 07:00 Paris, 06:00 UTC.
    expect(quietUntil(new Date('2026-11-25T22:30:00Z'), paris)?.toISOString()).toBe('2026-11-26T06:00:00.000Z');
    expect(quietUntil(new Date('2026-11-26T05:59:30Z'), paris)?.toISOString()).toBe('2026-11-26T06:00:00.000Z');
    expect(quietUntil(new Date('2026-11-26T06:00:00Z'), paris)).toBeNull();
    expect(quietUntil(new Date('2026-11-25T12:00:00Z'), paris)).toBeNull();
    // A daytime window, in New York (UTC-5).
    expect(quietUntil(new Date('2026-11-25T17:10:00Z'), { start: '12:00', end: '13:15', timeZone: 'America/New_York' })?.toISOString()).toBe('2026-11-25T18:15:00.000Z');
    // The night the clocks go back in Paris (2026-10-25, 03:00 → 02:00): the window really ends at 07:00 local.
    expect(quietUntil(new Date('2026-10-25T00:30:00Z'), paris)?.toISOString()).toBe('2026-10-25T06:00:00.000Z');
  });
});

afterAll(() => {
  // The measured delay from each deadline to the SMTP server holding the mail.
  if (delays.length > 0) console.info(`notification delay after the deadline (ms): ${delays.join(', ')}`);
});

describe('notification configuration', () => {
  const base = { NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32) };
  it('is off-the-shelf without variables: log channel, 300 s, links to the first frontend', () => {
    const config = loadConfig({ ...base, FRONTEND_URL: 'https://app.example.com' });
    expect(config.notifications).toEqual({ afterS: 300, sweepMs: 5000, appUrl: 'https://app.example.com', smtp: undefined, vapid: undefined });
  });

  it('refuses half a channel at start, naming the variable', () => {
    expect(() => loadConfig({ ...base, SMTP_URL: 'smtp://127.0.0.1:25' })).toThrow(/MAIL_FROM must be set with SMTP_URL/);
    expect(() => loadConfig({ ...base, MAIL_FROM: 'a@b.c' })).toThrow(/MAIL_FROM set without SMTP_URL/);
    expect(() => loadConfig({ ...base, SMTP_URL: 'https://smtp.example.com', MAIL_FROM: 'a@b.c' })).toThrow(/SMTP_URL must use smtp: or smtps:/);
    expect(() => loadConfig({ ...base, VAPID_PUBLIC_KEY: vapid.publicKey })).toThrow(/must be set together/);
    expect(() => loadConfig({ ...base, VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: 'admin@example.com' })).toThrow(/VAPID_SUBJECT/);
    expect(() => loadConfig({ ...base, VAPID_PUBLIC_KEY: vapid.privateKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: 'mailto:a@b.c' })).toThrow(/VAPID_PUBLIC_KEY/);
    expect(() => loadConfig({ ...base, NOTIFY_AFTER_S: '0' })).toThrow(/NOTIFY_AFTER_S/);
  });
});
