import { afterAll } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';

/** A factory of webhook receivers for one test file, every one closed after the file's tests. */
export function useWebhookReceivers(): () => Promise<WebhookReceiver> {
  const receivers: WebhookReceiver[] = [];
  afterAll(async () => {
    await Promise.all(receivers.map((receiver) => receiver.close()));
  });
  return async () => {
    const started = await startWebhookReceiver();
    receivers.push(started);
    return started;
  };
}
