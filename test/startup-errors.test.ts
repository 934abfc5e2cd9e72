import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SECRET } from './support/app.js';
import { createTestDatabase } from './support/database.js';

/**
 * A start that cannot succeed says why in one line at level fatal, with no stack, and exits 1:
 * what an operator reads in `kubectl logs` or a terminal.
 */
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let occupied: Server;
beforeAll(async () => {
  database = await createTestDatabase();
  occupied = await new Promise<Server>((resolve) => {
    const server = createServer().listen(0, () => resolve(server));
  });
});
afterAll(async () => {
  occupied?.close();
  await database?.drop();
});

async function failedStart(env: Record<string, string>) {
  const server = spawn(process.execPath, ['dist/server.js'], {
    env: { ...process.env, NODE_ENV: 'production', DATABASE_URL: database.url, PORT: '0', JWT_SECRET: TEST_SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  server.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => server.once('exit', resolve));
  const fatal = output.split('\n').filter((line) => line.includes('"level":60'));
  return { code, fatal, output };
}

describe('a start that cannot succeed', () => {
  it('says in one line that the port is taken, that LOG_LEVEL or APP_TIME_ZONE is not valid', async () => {
    const port = (occupied.address() as { port: number }).port;
    const [portTaken, logLevel, timeZone] = await Promise.all([
      failedStart({ PORT: String(port) }),
      failedStart({ LOG_LEVEL: 'verbose' }),
      failedStart({ APP_TIME_ZONE: 'Nowhere/Bogus' }),
    ]);
    for (const [result, expected] of [
      [portTaken, `PORT ${port} is already in use`],
      [logLevel, 'LOG_LEVEL must be one of'],
      [timeZone, 'APP_TIME_ZONE must be an IANA time zone'],
    ] as const) {
      expect(result.code, result.output).toBe(1);
      expect(result.fatal, result.output).toHaveLength(1);
      expect(result.fatal[0]).toContain(expected);
      // No stack anywhere: neither in the fatal line nor printed by a library.
      expect(result.output).not.toMatch(/\n\s+at /);
      expect(result.output).not.toContain('"stack"');
    }
  });
});
