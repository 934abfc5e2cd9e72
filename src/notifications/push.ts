/**
 * Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291): the
 * `web-push` package builds the request, which is sent like a webhook attempt (postWebhook: a
 * deadline, no redirect, the push service's address checked where the socket connects), since its
 * endpoint is a URL a client gave us.
 */
import webpush from 'web-push';
import { db } from '../db.js';
import { logger } from '../logger.js';
import { postWebhook } from '../webhooks/post.js';
import { conversationLink, excerptOf, titleOf, type Burst } from './content.js';

const PUSH_TIMEOUT_MS = 10_000;
/** A notification about messages is worth little after a day: the push service may drop it then. */
const TTL_S = 86_400;

export type PushOutcome = { sent: number; failed: number; forgotten: number };

export function createPushChannel(vapid: { publicKey: string; privateKey: string; subject: string }, appUrl: string, allowPrivate: boolean) {
  return {
    /** One request per subscription of the user; a subscription its push service says is gone (404, 410) is forgotten. */
    async send(burst: Burst): Promise<PushOutcome> {
      const subscriptions = await db.pushSubscription.findMany({ where: { userId: burst.userId } });
      const payload = JSON.stringify({
        title: titleOf(burst),
        body: excerptOf(burst.latest),
        url: conversationLink(appUrl, burst.conversationId),
        conversationId: burst.conversationId,
        count: burst.count,
      });
      const outcome: PushOutcome = { sent: 0, failed: 0, forgotten: 0 };
      await Promise.all(
        subscriptions.map(async (subscription) => {
          const details = webpush.generateRequestDetails({ endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } }, payload, {
            vapidDetails: vapid,
            TTL: TTL_S,
            // A newer notification of the same conversation replaces one still waiting at the push service.
            topic: burst.conversationId.replace(/-/g, ''),
            contentEncoding: 'aes128gcm',
          });
          const headers = Object.fromEntries(Object.entries(details.headers).filter(([name]) => name.toLowerCase() !== 'content-length').map(([name, value]) => [name, String(value)]));
          const result = await postWebhook({ url: details.endpoint, headers, body: details.body ?? Buffer.alloc(0), timeoutMs: PUSH_TIMEOUT_MS, allowPrivate });
          if (result.ok) {
            outcome.sent++;
            return;
          }
          if (result.status === 404 || result.status === 410) {
            await db.pushSubscription.deleteMany({ where: { id: subscription.id } });
            outcome.forgotten++;
            logger.info({ userId: burst.userId, status: result.status }, 'push subscription gone: forgotten');
            return;
          }
          outcome.failed++;
          logger.warn({ userId: burst.userId, status: result.status, error: result.error }, 'push notification failed');
        }),
      );
      return outcome;
    },
  };
}

export type PushChannel = ReturnType<typeof createPushChannel>;
