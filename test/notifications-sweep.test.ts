import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createInProcessBus } from '../src/events/bus.js';
import { createLocalPresence } from '../src/events/presence.js';
import { createNotifier, type Notifier } from '../src/notifications/index.js';
import { createMetrics } from '../src/observability.js';
import { useTestApp } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';
import { startSmtpServer } from './support/notify-peers.js';

/**
 * One sweep driven by hand, on a notifier of the test's own: the app's own sweep waits ten
 * minutes, so nothing but this test decides when rows are looked at.
 */
const t = useTestApp({ NOTIFY_AFTER_S: '1', NOTIFY_SWEEP_MS: '600000' });
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let notifier: Notifier;
beforeAll(async () => {
  smtp = await startSmtpServer();
  const config = loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: 'x'.repeat(40),
    DATABASE_URL: t.databaseUrl,
    NOTIFY_AFTER_S: '1',
    SMTP_URL: smtp.url,
    MAIL_FROM: 'Salon <notifications@salon.test>',
    APP_URL: 'https://app.salon.test/',
  });
  const bus = createInProcessBus();
  // Nobody is online on this notifier's presence: every due row is for an offline recipient.
  notifier = createNotifier(config, createLocalPresence(bus), createMetrics(bus));
});
afterAll(async () => {
  await notifier?.stop();
  await smtp?.close();
});

/** Whether every counter row of `userIds` with something pending has passed its deadline (1 s). */
async function allDue(userIds: string[]): Promise<boolean> {
  const [row] = await t.sql<{ waiting: number }>(
    `SELECT count(*)::int AS "waiting" FROM "MessageNotification"
      WHERE "userId" = ANY($1::uuid[]) AND ("pendingSince" IS NULL OR "pendingSince" > now() - interval '1 second')`,
    [userIds],
  );
  return row!.waiting === 0;
}

describe('a sweep that sends slowly', () => {
  it('does not notify a recipient who read the messages while earlier notifications of the same batch were being sent', async () => {
    const salon = await t.user('SALON');
    const first = await t.user('CLIENT');
    const second = await t.user('CLIENT');
    const one = await openConversation(t, salon, first, 'Premier');
    const two = await openConversation(t, salon, second, 'Second');
    // Salon-created conversations may leave nothing unread: the two messages below are the rows.
    await send(t, salon, one, 'Pour le premier');
    await send(t, salon, two, 'Pour le second');
    await expect.poll(() => allDue([first.id, second.id])).toBe(true);

    // The first recipient's mail server is slow: the sweep, which read both rows at once, waits
    // on it; meanwhile the second recipient reads their conversation.
    const slow = smtp.hold(first.email);
    const sweeping = notifier.sweep();
    await expect.poll(() => slow.waiting()).toBe(1);
    const read = await t.gql('mutation($id: ID!) { markConversationRead(id: $id) { id } }', { id: two }, second.token);
    expect(read.errors).toBeUndefined();
    slow.release();
    await sweeping;

    expect(smtp.to(first.email)).toHaveLength(1);
    expect(smtp.to(second.email)).toHaveLength(0);
    // The next sweep finds nothing pending for the second recipient and clears the row.
    await notifier.sweep();
    const [row] = await t.sql<{ pendingSince: Date | null }>(
      `SELECT "pendingSince" FROM "MessageNotification" WHERE "userId" = $1 AND "conversationId" = $2`,
      [second.id, two],
    );
    expect(row?.pendingSince).toBeNull();
    expect(smtp.to(second.email)).toHaveLength(0);
  });
});
