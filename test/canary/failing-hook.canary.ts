import { beforeAll, expect, it } from 'vitest';

beforeAll(() => {
  throw new Error('a setup hook that throws must fail the run');
});

it('never runs: its hook failed', () => {
  expect(true).toBe(true);
});
