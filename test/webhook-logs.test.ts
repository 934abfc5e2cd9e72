/**
 * What an operator reads about webhooks: one log line per attempt, with the delivery, the
 * endpoint, the attempt number, the answer and the duration, and never the body a partner got.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { logger } from '../src/logger.js';
import { useTestApp, type TestUser } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

const t = useTestApp({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_CONCURRENCY: '16', JOB_POLL_MS: '500', WEBHOOK_RETRY_SCHEDULE: '0,0.2' });

let receiver: WebhookReceiver;
let salon: TestUser;
const level = logger.level;
const lines: string[] = [];

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  salon = await t.user('SALON');
  // Under vitest the logger writes through console.log (src/logger.ts), at 'error' unless raised.
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
  logger.level = 'info';
});

afterAll(async () => {
  logger.level = level;
  vi.restoreAllMocks();
  await receiver.close();
});

interface AttemptLine {
  msg: string;
  deliveryId: string;
  endpointId: string;
  eventType: string;
  attempt: number;
  status: number | null;
  durationMs: number;
  error: string | null;
  outcome: string;
}

it('one line per attempt, with its delivery, endpoint, attempt, answer and duration, and no body content', async () => {
  const created = await t.gql<{ createWebhookEndpoint: { secret: string; endpoint: { id: string } } }>(
    'mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { id } } }',
    { input: { url: receiver.url(), eventTypes: ['message.created'] } },
    salon.token,
  );
  const endpointId = created.data!.createWebhookEndpoint.endpoint.id;
  receiver.secrets.add(created.data!.createWebhookEndpoint.secret);
  const client = await t.user('CLIENT');
  const conversationId = await openConversation(t, salon, client);

  receiver.respond(500);
  const secret = 'PRIVATE-NOTE-8812';
  await send(t, client, conversationId, secret);
  await receiver.waitFor(1);
  receiver.respond(204);
  const [first, second] = await receiver.waitFor(2);
  expect(second!.webhookId).toBe(first!.webhookId);

  const attempts = () =>
    lines
      .filter((line) => line.includes('"msg":"webhook attempt"'))
      .map((line) => JSON.parse(line) as AttemptLine)
      .filter((line) => line.deliveryId === first!.webhookId);
  await expect.poll(() => attempts().length).toBe(2);
  expect(attempts()).toEqual([
    expect.objectContaining({ endpointId, eventType: 'message.created', attempt: 1, status: 500, error: 'HTTP 500', outcome: 'PENDING' }),
    expect.objectContaining({ endpointId, eventType: 'message.created', attempt: 2, status: 204, error: null, outcome: 'SUCCEEDED' }),
  ]);
  for (const line of attempts()) expect(line.durationMs).toBeGreaterThanOrEqual(0);
  expect(lines.join('\n')).not.toContain(secret);
});
