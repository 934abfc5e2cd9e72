import { describe, expect, it, vi } from 'vitest';
import { logger } from '../src/logger.js';
import { useTestApp } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';

// The zero-config start: no SMTP_URL, no VAPID keys.
const t = useTestApp({ NOTIFY_AFTER_S: '1', NOTIFY_SWEEP_MS: '200', JOB_POLL_MS: '500' });

function parsed(lines: string[]): Record<string, unknown>[] {
  return lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

describe('notifications with no channel configured', () => {
  it('are written to the log, without the message content', async () => {
    const lines: string[] = [];
    // The logger writes through console.log under vitest: its lines are collected here.
    const spy = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
    const level = logger.level;
    logger.level = 'info';
    try {
      const salon = await t.user('SALON');
      expect((await t.gql(`mutation { updateProfile(input: { displayName: "Salon Journal" }) { id } }`, {}, salon.token)).errors).toBeUndefined();
      const client = await t.user('CLIENT');
      const conversationId = await openConversation(t, salon, client, 'Journal');
      await send(t, salon, conversationId, 'contenu secret');
      await expect.poll(() => parsed(lines).filter((line) => line.conversationId === conversationId && line.title)).toEqual([
        expect.objectContaining({ msg: 'notification (no channel configured: logged)', userId: client.id, count: 1, title: 'Nouveau message de Salon Journal' }),
      ]);
      expect(lines.join('\n')).not.toContain('contenu secret');
      const metrics = await (await fetch(new URL('/metrics', t.app.url()))).text();
      expect(metrics).toMatch(/^salon_notifications_total\{channel="log",result="sent"\} 1$/m);
    } finally {
      logger.level = level;
      spy.mockRestore();
    }
  });
});

describe('push subscriptions with private networks not allowed (the default)', () => {
  it('refuse a loopback or private push endpoint at registration, where it could only fail at every send', async () => {
    const user = await t.user('CLIENT');
    const keys = { p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 7)]).toString('base64url'), auth: Buffer.alloc(16, 1).toString('base64url') };
    const register = 'mutation($input: PushSubscriptionInput!) { registerPushSubscription(input: $input) }';
    for (const endpoint of ['https://127.0.0.1:9/push/x', 'https://localhost/sub', 'https://[::1]/sub', 'https://10.0.0.8/sub', 'http://push.example.com/sub']) {
      const response = await t.gql(register, { input: { endpoint, keys } }, user.token);
      expect({ endpoint, codes: (response.errors ?? []).map((error) => error.extensions?.code), field: response.errors?.[0]?.extensions?.field }).toEqual({
        endpoint,
        codes: ['BAD_USER_INPUT'],
        field: 'endpoint',
      });
    }
    expect(await t.sql('SELECT 1 FROM "PushSubscription" WHERE "userId" = $1', [user.id])).toHaveLength(0);
    // A public push service's name is taken (it is checked where the socket connects, at send).
    expect((await t.gql(register, { input: { endpoint: 'https://fcm.googleapis.com/fcm/send/abc', keys } }, user.token)).errors).toBeUndefined();
  });
});
