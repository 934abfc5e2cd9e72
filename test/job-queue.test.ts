import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobQueue, type JobQueue } from '../src/jobs/queue.js';
import { createTestDatabase } from './support/database.js';

/**
 * The job queue's workers, run by pg-boss against this file's own database. `JOB_POLL_MS` is a
 * minute here, far longer than any wait below: a job that runs does so because a worker was woken
 * for it, not because a poll came round (an idle queue is looked at once per `JOB_POLL_MS`, not
 * once per worker; see WorkerPool in src/jobs/queue.ts).
 */

const BURST = 'test-burst';
const DUE_SOON = 'test-due-soon';

let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
let queue: JobQueue | undefined;
beforeAll(async () => {
  database = await createTestDatabase();
  queue = await startJobQueue({ databaseUrl: database.url, pollMs: 60_000, stopTimeoutMs: 2_000 }, { [BURST]: {}, [DUE_SOON]: {} });
});
afterAll(async () => {
  await queue?.stop();
  await database?.drop();
});

describe('the job queue', () => {
  it('a burst engages every worker from one wake: each worker that takes a job has another look', async () => {
    const running = new Set<string>();
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    await queue!.work<{ n: number }>(BURST, 4, async (job) => {
      running.add(job.id);
      await released;
    });
    try {
      await queue!.insert([1, 2, 3, 4, 5].map((n) => ({ name: BURST, data: { n } })));
      queue!.wake(BURST, 1);
      // Four at once (the fifth waits for a free worker), all held until released.
      await expect.poll(() => running.size).toBe(4);
    } finally {
      release();
    }
    await expect.poll(() => running.size).toBe(5);
  });

  it('a job inserted to start within the poll interval runs when it is due, not at the next look', async () => {
    const ran: { at: number; due: number }[] = [];
    await queue!.work<{ due: number }>(DUE_SOON, 2, async (job) => {
      ran.push({ at: Date.now(), due: job.data.due });
    });
    const due = Date.now() + 300;
    await queue!.insert([{ name: DUE_SOON, data: { due }, startAfter: new Date(due) }]);
    await expect.poll(() => ran.length).toBe(1);
    // Not before it was due.
    expect(ran[0]!.at).toBeGreaterThanOrEqual(due);
  });
});
