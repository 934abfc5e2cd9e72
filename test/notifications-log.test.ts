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
