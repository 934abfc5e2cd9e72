import pg from 'pg';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { logger } from '../src/logger.js';
import { useTestApp, type TestUser } from './support/app.js';
import { openConversation } from './support/fixtures.js';
import { rawSocket } from './support/ws.js';

// Short, so the test that holds a row lock gets its unexpected error quickly.
const t = useTestApp({ DATABASE_STATEMENT_TIMEOUT_MS: '500' });
let salon: TestUser;
let client: TestUser;
let conversationId: string;

beforeAll(async () => {
  salon = await t.user('SALON', 'Atelier');
  client = await t.user('CLIENT', 'Nina');
  conversationId = await openConversation(t, salon, client);
});

type Level = 'debug' | 'info' | 'warn' | 'error';
interface Line {
  level: Level;
  args: unknown[];
}
interface OperationLine {
  requestId?: string;
  userId?: string;
  errors?: string[];
}
interface WireError {
  message: string;
  extensions?: Record<string, unknown>;
}

let lines: Line[] = [];
beforeEach(() => {
  lines = [];
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    const original = logger[level].bind(logger);
    vi.spyOn(logger, level).mockImplementation(((...args: Parameters<typeof original>) => {
      lines.push({ level, args });
      original(...args);
    }) as typeof original);
  }
});
afterEach(() => vi.restoreAllMocks());

const operationLines = () =>
  lines.filter((line) => line.level === 'info' && line.args[1] === 'operation').map((line) => line.args[0] as OperationLine);

/** `salon_graphql_errors_total` by code, as /metrics shows it. */
async function errorCounts(): Promise<Record<string, number>> {
  const text = await (await fetch(new URL('/metrics', t.app.url()))).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^salon_graphql_errors_total\{code="([^"]+)"\} (\d+)$/gm)) counts[match[1]!] = Number(match[2]);
  return counts;
}

/** How many more of each code /metrics counts than `before`. */
async function countedSince(before: Record<string, number>): Promise<Record<string, number>> {
  const after = await errorCounts();
  const delta: Record<string, number> = {};
  for (const [code, value] of Object.entries(after)) if (value !== (before[code] ?? 0)) delta[code] = value - (before[code] ?? 0);
  return delta;
}

const tally = (codes: string[]) => codes.reduce<Record<string, number>>((all, code) => ({ ...all, [code]: (all[code] ?? 0) + 1 }), {});

async function post(body: Record<string, unknown>, token: string, requestId?: string) {
  const response = await fetch(t.app.url(), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      authorization: `Bearer ${token}`,
      ...(requestId ? { 'x-request-id': requestId } : {}),
    },
    body: JSON.stringify(body),
  });
  return (await response.json()) as { data?: unknown; errors?: WireError[] };
}

const codesOf = (errors: WireError[] | undefined) => (errors ?? []).map((error) => String(error.extensions?.code));

/** Every line is a pino line with a message: no bare arrays, no object without `msg`. */
function expectProperLines() {
  for (const { args } of lines) {
    const [first, second] = args;
    if (typeof first === 'string') continue;
    expect(Array.isArray(first), JSON.stringify(args)).toBe(false);
    expect(typeof second, JSON.stringify(args)).toBe('string');
  }
}

const FORGED_CURSOR = '{ conversations(after: "Zm9v") { totalCount } }';

describe('logs and /metrics count the code the client receives', () => {
  it('a forged cursor is one BAD_USER_INPUT in the operation line and in /metrics, and no error-level line', async () => {
    const before = await errorCounts();
    const response = await post({ query: FORGED_CURSOR }, client.token, 'forged-cursor-1');
    expect(codesOf(response.errors)).toEqual(['BAD_USER_INPUT']);

    expect(await countedSince(before)).toEqual({ BAD_USER_INPUT: 1 });
    expect(operationLines()).toEqual([expect.objectContaining({ requestId: 'forged-cursor-1', userId: client.id, errors: ['BAD_USER_INPUT'] })]);
    expect(lines.filter((line) => line.level === 'error' || line.level === 'warn')).toEqual([]);
    expectProperLines();
  });

  it('an unexpected error is logged once at error level, with its cause, and counted as INTERNAL_SERVER_ERROR', async () => {
    // Another session holds the conversation row: the send waits past the statement timeout.
    const blocker = new pg.Client({ connectionString: t.databaseUrl });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM "Conversation" WHERE id = $1 FOR UPDATE', [conversationId]);
      const before = await errorCounts();
      const response = await post(
        { query: 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }', variables: { input: { conversationId, content: 'stuck' } } },
        client.token,
      );
      expect(codesOf(response.errors)).toEqual(['INTERNAL_SERVER_ERROR']);
      expect(await countedSince(before)).toEqual({ INTERNAL_SERVER_ERROR: 1 });
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    const errorLines = lines.filter((line) => line.level === 'error');
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]!.args[1]).toBe('unexpected error');
    expect((errorLines[0]!.args[0] as { err?: unknown }).err).toBeInstanceOf(Error);
    expect(operationLines()).toEqual([expect.objectContaining({ userId: client.id, errors: ['INTERNAL_SERVER_ERROR'] })]);
    expectProperLines();
  });
});

const deep = `{ ${'conversations(first: 1) { edges { node { salon { '.repeat(4)}id${' } } } }'.repeat(4)} }`;

type Operation = {
  query: string;
  variables?: Record<string, unknown>;
};

/** Documents refused before anything runs, each kind its own way. */
const refusals: Record<string, Operation> = {
  syntax: { query: '{ me { id }' },
  validation: { query: '{ me { nope } }' },
  depth: { query: deep },
  aliases: { query: `{ ${Array.from({ length: 40 }, (_, i) => `a${i}: me { id }`).join(' ')} }` },
  cost: { query: '{ conversations(first: 100) { edges { node { messages(first: 100) { edges { node { conversation { messages(first: 100) { totalCount } } } } } } } } }' },
  pageSize: { query: '{ conversations(first: 1000) { totalCount } }' },
  pageSizeInSubscription: { query: 'subscription { messageAdded { conversation { messages(last: -1) { totalCount } } } }' },
  dateTimeVariable: {
    query: 'mutation($at: DateTime!) { createAppointment(input: { startsAt: $at, service: "Cut", clientUserId: "00000000-0000-4000-8000-000000000000" }) { id } }',
    variables: { at: 'next tuesday' },
  },
  intVariable: { query: 'query($n: Int) { conversations(first: $n) { totalCount } }', variables: { n: 'ten' } },
  twoOperations: { query: 'query A { me { id } } query B { me { id } }' },
};

describe('refused documents get their operation line and their codes counted once', () => {
  it.each(Object.entries(refusals))('over HTTP: %s', async (name, body) => {
    const before = await errorCounts();
    const response = await post(body, salon.token, `refused-${name}`);
    const codes = codesOf(response.errors);
    expect(codes.length).toBeGreaterThan(0);
    expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
    expect(codes).not.toContain('undefined');

    expect(await countedSince(before)).toEqual(tally(codes));
    expect(operationLines()).toEqual([expect.objectContaining({ requestId: `refused-${name}`, errors: codes })]);
    expect(lines.filter((line) => line.level === 'error')).toEqual([]);
    expectProperLines();
  });

  it('over WebSocket: the same errors as HTTP (no `http` extension), a line and counts for each refusal, the socket kept', async () => {
    const raw = await rawSocket(t.app.wsUrl(), { authorization: `Bearer ${salon.token}` });
    const cases: Record<string, Operation> = { ...refusals, forgedCursor: { query: FORGED_CURSOR } };
    for (const [name, body] of Object.entries(cases)) {
      const overHttp = await post(body, salon.token);
      lines = [];
      const before = await errorCounts();
      raw.subscribe(name, body.query, body.variables);
      await expect.poll(() => raw.messages.some((message) => message.id === name)).toBe(true);
      const answer = raw.messages.find((message) => message.id === name)!;
      const errors = (answer.type === 'error' ? answer.payload : (answer.payload as { errors?: unknown }).errors) as WireError[];
      expect(errors, name).toEqual(overHttp.errors);
      for (const error of errors) expect(error.extensions, name).not.toHaveProperty('http');

      const codes = codesOf(errors);
      await expect.poll(() => countedSince(before)).toEqual(tally(codes));
      expect(operationLines(), name).toEqual([expect.objectContaining({ userId: salon.id, errors: codes })]);
      expect(lines.filter((line) => line.level === 'error'), name).toEqual([]);
      expectProperLines();
    }
    expect(raw.socket.readyState).toBe(raw.socket.OPEN);
    raw.socket.close();
  });

  it('over WebSocket, a page size out of range names its argument in `field`, as HTTP does', async () => {
    const raw = await rawSocket(t.app.wsUrl(), { authorization: `Bearer ${client.token}` });
    raw.subscribe('first', refusals.pageSize!.query);
    raw.subscribe('last', refusals.pageSizeInSubscription!.query);
    await expect.poll(() => raw.messages.filter((message) => message.type === 'error').map((message) => message.id).sort()).toEqual(['first', 'last']);
    expect(raw.messages.find((message) => message.id === 'first')?.payload).toEqual([
      { message: '"first" must be between 0 and 100 (got 1000)', extensions: { code: 'BAD_USER_INPUT', field: 'first' } },
    ]);
    expect(raw.messages.find((message) => message.id === 'last')?.payload).toEqual([
      { message: '"last" must be between 0 and 100 (got -1)', extensions: { code: 'BAD_USER_INPUT', field: 'last' } },
    ]);
    raw.socket.close();
  });
});

describe("/metrics shows the event loop's delay", () => {
  it('since the previous scrape: a 400 ms block shows in the next scrape, and not in the one after', async () => {
    const scrape = async () => {
      const text = await (await fetch(new URL('/metrics', t.app.url()))).text();
      const stat = (name: string) => Number(new RegExp(`^salon_event_loop_delay_seconds\\{stat="${name}"\\} ([0-9.e+-]+)$`, 'm').exec(text)?.[1]);
      return { p99: stat('p99'), max: stat('max') };
    };
    await scrape();
    // The app runs in this process: holding the thread holds its event loop. The metric's timer
    // ticks every 50 ms, so the block reads as at least its length less 50 ms.
    const until = Date.now() + 400;
    while (Date.now() < until);
    const blocked = await scrape();
    expect(blocked.max).toBeGreaterThanOrEqual(0.3);
    expect(blocked.p99).toBeGreaterThan(0);
    expect((await scrape()).max).toBeLessThan(0.25);
  });
});
