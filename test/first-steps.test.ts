import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { sql, testDatabaseName, withDatabase } from './support/database.js';
import { freePort } from '../src/ports.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The README's first bash block under "## First steps", exactly as a reader copies it. */
function firstStepsBlock(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## First steps'));
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('README.md has no bash block under "## First steps"');
  return block;
}


const work = mkdtempSync(join(tmpdir(), 'salon-first-steps-'));
const database = testDatabaseName();
const databaseUrl = withDatabase(inject('adminDatabaseUrl'), database);
/** Process groups of the pasted blocks: the server started in the background belongs to the first. */
const groups: number[] = [];

afterAll(async () => {
  for (const group of groups) {
    try {
      process.kill(-group, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  await sql(inject('adminDatabaseUrl'), `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  rmSync(work, { recursive: true, force: true });
});

/**
 * Runs the block as a terminal would, with bash at the project root. Only the address and the
 * log file are changed, so the run neither needs port 3000 nor writes into the checkout, and the
 * environment names a database that does not exist yet (the server must create it).
 */
async function paste(block: string, port: number, run: number): Promise<string> {
  const script = block.replaceAll('localhost:3000', `localhost:${port}`).replaceAll('server.log', join(work, 'server.log'));
  const outputPath = join(work, `paste-${run}.out`);
  const output = openSync(outputPath, 'w');
  // Output to a file, not a pipe: the server left running in the background keeps its copy of
  // the terminal's descriptors, and a pipe would then never close.
  const shell = spawn('bash', ['-c', script], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', output, output],
    env: { ...process.env, PORT: String(port), DATABASE_URL: databaseUrl, JWT_SECRET: 'first-steps-secret-of-at-least-32-characters', LOG_LEVEL: 'info' },
  });
  closeSync(output);
  groups.push(shell.pid!);
  const code = await new Promise<number | null>((resolve) => shell.once('exit', resolve));
  const text = readFileSync(outputPath, 'utf8');
  expect(code, text).toBe(0);
  return text;
}

interface Sent {
  data?: { sendMessage: { id: string; seq: number } } | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** The JSON answers the block printed, in order. */
function answers(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{"data"') || line.startsWith('{"errors"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("the README's first steps, pasted as one block", () => {
  it('installs nothing, and two pastes in a row each read the inbox and send a new message', { timeout: 120_000 }, async () => {
    const block = firstStepsBlock();
    expect(block).not.toMatch(/npm (ci|install|i)\b/);
    const port = await freePort();

    const first = answers(await paste(block, port, 1));
    const second = answers(await paste(block, port, 2));
    for (const output of [first, second]) {
      expect(output).toHaveLength(2);
      expect(output.flatMap((answer) => (answer.errors as unknown[] | undefined) ?? [])).toEqual([]);
      expect(output[0]).toMatchObject({ data: { me: { firstName: 'Salon Élégance', role: 'SALON' }, conversations: { totalCount: 3 } } });
    }
    const sends = [first[1], second[1]].map((answer) => (answer as Sent).data!.sendMessage);
    expect(sends[0]!.id).not.toBe(sends[1]!.id);
    expect(sends[1]!.seq).toBe(sends[0]!.seq + 1);

    const rows = await sql<{ id: string; clientMessageId: string | null }>(
      databaseUrl,
      `SELECT m.id, m."clientMessageId" FROM "Message" m JOIN "User" u ON u.id = m."authorId"
        WHERE u.email = 'salon@example.com' AND m.content = 'Bonjour !' ORDER BY m."createdAt"`,
    );
    expect(rows.map((row) => row.id)).toEqual(sends.map((sent) => sent.id));
    expect(rows[0]!.clientMessageId).toMatch(UUID);
    expect(rows[1]!.clientMessageId).toMatch(UUID);
    expect(rows[0]!.clientMessageId).not.toBe(rows[1]!.clientMessageId);

    // One server for both pastes: the second found it answering and started none.
    const log = readFileSync(join(work, 'server.log'), 'utf8');
    expect(log).toContain(`created database \\"${database}\\"`);
    expect(log.match(/GraphQL API ready/g)).toHaveLength(1);
  });
});
