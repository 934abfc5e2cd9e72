import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withEnvFile } from './env-file.js';

export type PersistedOperationsMode = 'off' | 'allow' | 'only';

export interface Config {
  nodeEnv: string;
  isProduction: boolean;
  port: number;
  /** Unset: the server starts an embedded PostgreSQL (src/db/embedded.ts). */
  databaseUrl: string | undefined;
  databasePoolSize: number;
  /**
   * How long a pooled connection may sit idle before it is closed (milliseconds); 0 keeps every
   * connection once opened, up to `databasePoolSize`.
   */
  databasePoolIdleTimeoutMs: number;
  /** PostgreSQL cancels any statement running longer than this (milliseconds). */
  databaseStatementTimeoutMs: number;
  /** Port the embedded PostgreSQL tries first (a free one when it is taken). */
  embeddedPostgresPort: number;
  /** Data folder of the embedded PostgreSQL, relative to the project or absolute. */
  embeddedPostgresDir: string;
  /** Unset (and no cluster): in-process event bus and presence. */
  redisUrl: string | undefined;
  /**
   * Seed nodes of a Redis Cluster (`redis://host:port` URLs): the bus then publishes with SPUBLISH
   * and subscribes with SSUBSCRIBE (sharded pub/sub). Exclusive with `redisUrl`.
   */
  redisClusterNodes: string[] | undefined;
  jwt: {
    secret: string;
    /** True when no JWT_SECRET was given and the development secret of .data/ is in use. */
    secretIsGenerated: boolean;
    jwksUrl: string | undefined;
    clockToleranceS: number;
    /** When set, a token's `aud` must name one of these (HS256 and JWKS alike). */
    audience?: string[] | undefined;
    /** When set, a token's `iss` must be one of these. */
    issuer?: string[] | undefined;
  };
  frontendOrigins: string[];
  persistedOperations: PersistedOperationsMode;
  /** APQ documents longer than this (bytes) run but are not registered. */
  apqMaxBytes: number;
  graphiql: boolean;
  introspection: boolean;
  limits: {
    contentMaxLength: number;
    sendsPerMin: number;
    reactionsPerMin: number;
    typingPerMin: number;
    /** createAttachmentUpload and createAvatarUpload, per user. */
    uploadsPerMin: number;
    typingTtlS: number;
    depth: number;
    aliases: number;
    directives: number;
    tokens: number;
    cost: number;
    /** Largest HTTP request body and WebSocket frame accepted, in bytes. */
    requestBytes: number;
  };
  /** How often each WebSocket is pinged; a socket that has not answered by the next ping is dropped. */
  wsPingIntervalMs: number;
  /**
   * How long an idle kept-alive HTTP connection stays open for the next request (ms). Longer than
   * the idle timeout of the load balancers and proxies in front (60 s for an AWS Application Load
   * Balancer by default, and for nginx's upstream keep-alive), so that they retire a pooled connection before the server does: when the server
   * closes first, a request sent on it as it closes fails (a 502 from the balancer, ECONNRESET in
   * a client). Node's default is 5 s.
   */
  httpKeepAliveTimeoutMs: number;
  /** Log each gap over this (ms) between ticks of a 2 ms timer: the event loop stalled; 0: off. A diagnostic for latency (src/observability.ts). */
  logLoopStallsMs: number;
  /** Events of the user event log older than this (days) are pruned; older cursors get CURSOR_EXPIRED. */
  eventRetentionDays: number;
  /** How often event readers re-check the log without a wake-up (a lost Redis message only delays). */
  eventPollMs: number;
  webhooks: WebhookConfig;
  uploads: UploadConfig;
  /** How often idle job workers (pg-boss) look for due jobs; a job added on the same instance starts at once. */
  jobPollMs: number;
  logLevel: string;
  /** The salon's time zone, for dates written in French in SYSTEM messages and subjects. */
  timeZone: string;
  /** How long before an appointment its reminder is posted, in hours (fractions allowed, for tests). */
  reminderBeforeH: number;
  notifications: NotificationConfig;
}

/** Offline notifications of unread messages (src/notifications/). No channel configured: they are logged. */
export interface NotificationConfig {
  /** A message still unread this long after it was sent, its recipient offline, is notified. */
  afterS: number;
  /** How often each instance looks for due notifications whose job was lost. */
  sweepMs: number;
  /** Where the links of an email lead (the web app). */
  appUrl: string;
  smtp: { url: string; from: string } | undefined;
  vapid: { publicKey: string; privateKey: string; subject: string } | undefined;
}

function smtpVar(env: Env): NotificationConfig['smtp'] {
  const url = urlVar(env, 'SMTP_URL', ['smtp:', 'smtps:']);
  const from = env.MAIL_FROM?.trim();
  if (!url) {
    if (from) throw new ConfigError('MAIL_FROM set without SMTP_URL: set SMTP_URL to send emails, or unset MAIL_FROM');
    return undefined;
  }
  if (!from) throw new ConfigError('MAIL_FROM must be set with SMTP_URL (e.g. "Salon <notifications@example.com>")');
  return { url, from };
}

function base64UrlBytes(value: string): number {
  return /^[A-Za-z0-9_-]+={0,2}$/.test(value) ? Buffer.from(value, 'base64url').length : -1;
}

function vapidVar(env: Env): NotificationConfig['vapid'] {
  const publicKey = env.VAPID_PUBLIC_KEY?.trim() ?? '';
  const privateKey = env.VAPID_PRIVATE_KEY?.trim() ?? '';
  const subject = env.VAPID_SUBJECT?.trim() ?? '';
  if (!publicKey && !privateKey && !subject) return undefined;
  if (!publicKey || !privateKey || !subject) {
    throw new ConfigError('VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT must be set together (npx web-push generate-vapid-keys)');
  }
  if (base64UrlBytes(publicKey) !== 65) throw new ConfigError('VAPID_PUBLIC_KEY must be a base64url P-256 public key (65 bytes)');
  if (base64UrlBytes(privateKey) !== 32) throw new ConfigError('VAPID_PRIVATE_KEY must be a base64url P-256 private key (32 bytes)');
  if (!/^(mailto:|https:\/\/)/.test(subject)) throw new ConfigError('VAPID_SUBJECT must be a mailto: or https: URL');
  return { publicKey, privateKey, subject };
}

export interface WebhookConfig {
  /** Lets endpoints resolve to loopback, private, link-local and metadata addresses (tests, local development). */
  allowPrivateNetworks: boolean;
  /** An attempt without a 2xx answer within this is a failure. */
  timeoutMs: number;
  /** Seconds to wait before attempt 1, 2, …; after the last one fails the delivery is FAILED (Svix's schedule by default). */
  retryScheduleS: number[];
  /** An endpoint whose every attempt has failed for this long is disabled. */
  disableAfterS: number;
  /** How long a rotated-out secret keeps signing beside the new one. */
  secretOverlapS: number;
  /** Deliveries in flight at once per instance. */
  concurrency: number;
  /** False: this instance fans out and enqueues but makes no attempts (API-only nodes). */
  workers: boolean;
  /** How often each instance re-reads which accounts have enabled endpoints and looks for events no instance turned into deliveries (a crash between commit and fan-out, an announcement lost with Redis away). */
  sweepMs: number;
}

/** Where uploaded files go: S3-compatible storage when S3_BUCKET is set, else a folder served by the API. */
export interface UploadConfig {
  s3: S3Config | undefined;
  /** Folder of the local store (relative to the project, or absolute); unused with S3. */
  localDir: string;
  /**
   * The API's origin as clients reach it (behind a proxy: the public one), for the upload and
   * download URLs it hands out. Unset: http://localhost:<the port it listens on>.
   */
  publicUrl: string | undefined;
  /** How long an upload URL accepts the file. */
  uploadUrlTtlS: number;
  /** How long a download URL (MessageAttachment.url, User.avatarUrl) works. */
  downloadUrlTtlS: number;
}

export interface S3Config {
  bucket: string;
  region: string;
  /** Unset: AWS S3 itself. R2: https://<account>.r2.cloudflarestorage.com; MinIO: its URL. */
  endpoint: string | undefined;
  /** Unset: the AWS SDK's default credential chain (environment, instance role…). */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** bucket in the path (http://host/bucket/key) rather than the host name; MinIO needs it. */
  forcePathStyle: boolean;
}

function s3Var(env: Env): S3Config | undefined {
  const bucket = env.S3_BUCKET?.trim();
  const accessKeyId = env.S3_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.S3_SECRET_ACCESS_KEY?.trim();
  if (!bucket) {
    const stray = ['S3_REGION', 'S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_FORCE_PATH_STYLE'].filter((name) => env[name]?.trim());
    if (stray.length > 0) throw new ConfigError(`${stray.join(', ')} set without S3_BUCKET: set S3_BUCKET to use S3, or unset them`);
    return undefined;
  }
  if (!!accessKeyId !== !!secretAccessKey) {
    throw new ConfigError('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together (or neither, for the default AWS credential chain)');
  }
  return {
    bucket,
    region: env.S3_REGION?.trim() || 'us-east-1',
    endpoint: urlVar(env, 'S3_ENDPOINT', ['https:', 'http:']),
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
    forcePathStyle: boolVar(env, 'S3_FORCE_PATH_STYLE', false),
  };
}

function publicUrlVar(env: Env): string | undefined {
  const raw = urlVar(env, 'PUBLIC_URL', ['https:', 'http:']);
  if (!raw) return undefined;
  const url = new URL(raw);
  if (url.pathname !== '/' || url.search || url.hash) throw new ConfigError('PUBLIC_URL must be an origin such as https://api.example.com (no path)');
  return url.origin;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function intVar(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max} (got "${raw}")`);
  }
  return value;
}

/** A number of hours, fractions allowed (0.001 h is 3.6 s: short delays for tests). */
function hoursVar(env: Env, name: string, fallback: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || value > max) {
    throw new ConfigError(`${name} must be a number of hours above 0 and at most ${max} (got "${raw}")`);
  }
  return value;
}

function boolVar(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false (got "${env[name]}")`);
}

function urlVar(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(' or ')}`);
  }
  return raw;
}

/**
 * REDIS_CLUSTER_NODES: comma-separated seed nodes, each `host:port` or a redis:// / rediss:// URL
 * (credentials in it apply to every node). A few seeds are enough: the rest are discovered.
 */
function clusterNodesVar(env: Env): string[] | undefined {
  const entries = listVar(env, 'REDIS_CLUSTER_NODES');
  if (!entries) return undefined;
  if (env.REDIS_URL?.trim()) {
    throw new ConfigError('REDIS_URL and REDIS_CLUSTER_NODES are both set: set REDIS_URL for one Redis, or REDIS_CLUSTER_NODES for a Redis Cluster');
  }
  const nodes = entries.map((entry) => {
    const raw = /^[a-z]+:\/\//i.test(entry) ? entry : `redis://${entry}`;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError(`REDIS_CLUSTER_NODES entry "${entry}" is not host:port or a redis:// URL`);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new ConfigError(`REDIS_CLUSTER_NODES entry "${entry}" must use redis: or rediss:`);
    }
    if (!url.hostname || !url.port || (url.pathname !== '' && url.pathname !== '/')) {
      throw new ConfigError(`REDIS_CLUSTER_NODES entry "${entry}" must be host:port (a cluster has no database number)`);
    }
    return url;
  });
  // One set of credentials and one scheme for the whole cluster: nodes found later get the seeds'.
  const first = nodes[0]!;
  if (nodes.some((url) => url.protocol !== first.protocol || url.username !== first.username || url.password !== first.password)) {
    throw new ConfigError('REDIS_CLUSTER_NODES entries must share one scheme (redis: or rediss:) and the same credentials');
  }
  return nodes.map((url) => url.toString().replace(/\/$/, ''));
}

/** A comma-separated list; unset or empty: undefined (no check). */
function listVar(env: Env, name: string): string[] | undefined {
  const values = (env[name] ?? '').split(',').map((value) => value.trim()).filter(Boolean);
  return values.length > 0 ? values : undefined;
}

/** Seconds before each attempt, e.g. "0,5,300" (fractions allowed, for tests). */
function scheduleVar(env: Env, name: string, fallback: number[]): number[] {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const values = raw.split(',').map((part) => Number(part.trim()));
  if (values.length > 20 || values.some((value) => !Number.isFinite(value) || value < 0 || value > 86_400)) {
    throw new ConfigError(`${name} must be 1 to 20 comma-separated delays in seconds, each 0–86400 (got "${raw}")`);
  }
  return values;
}

/** Svix's schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
const SVIX_SCHEDULE_S = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function logLevelVar(env: Env, nodeEnv: string): string {
  const raw = env.LOG_LEVEL?.trim().toLowerCase();
  if (!raw) return nodeEnv === 'test' ? 'error' : 'info';
  if (!LOG_LEVELS.includes(raw)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${env.LOG_LEVEL}")`);
  return raw;
}

function timeZoneVar(env: Env): string {
  const raw = env.APP_TIME_ZONE?.trim() || 'Europe/Paris';
  try {
    new Intl.DateTimeFormat('fr-FR', { timeZone: raw });
  } catch {
    throw new ConfigError(`APP_TIME_ZONE must be an IANA time zone such as Europe/Paris (got "${raw}")`);
  }
  return raw;
}

const MIN_SECRET_LENGTH = 32;

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DEV_SECRET_FILE = join(PROJECT_ROOT, '.data', 'dev-jwt-secret');

/**
 * Outside production, a missing JWT_SECRET gets a random one kept in the git-ignored .data/
 * folder, so `npm start` and `npm run token` agree without any setup.
 */
function developmentSecret(): string {
  if (existsSync(DEV_SECRET_FILE)) return readFileSync(DEV_SECRET_FILE, 'utf8').trim();
  const secret = randomBytes(32).toString('hex');
  mkdirSync(dirname(DEV_SECRET_FILE), { recursive: true });
  writeFileSync(DEV_SECRET_FILE, secret, { mode: 0o600 });
  return secret;
}

/**
 * Reads and validates the environment once, at start, so a bad deployment fails before serving.
 * With no argument: the process environment, over the project's `.env` when there is one.
 */
export function loadConfig(env: Env = withEnvFile(process.env)): Config {
  const nodeEnv = env.NODE_ENV ?? 'development';
  const isProduction = nodeEnv === 'production';

  let secret = env.JWT_SECRET ?? '';
  let secretIsGenerated = false;
  if (secret.length < MIN_SECRET_LENGTH) {
    if (isProduction || secret.length > 0) {
      throw new ConfigError(
        `JWT_SECRET must be set to at least ${MIN_SECRET_LENGTH} characters` +
          (secret.length > 0 ? ` (it has ${secret.length})` : ' in production'),
      );
    }
    secret = developmentSecret();
    secretIsGenerated = true;
  }

  const persisted = (env.PERSISTED_OPERATIONS ?? 'allow').trim().toLowerCase();
  if (persisted !== 'off' && persisted !== 'allow' && persisted !== 'only') {
    throw new ConfigError(`PERSISTED_OPERATIONS must be off, allow or only (got "${persisted}")`);
  }

  const frontendOrigins = ['FRONTEND_URL', 'FRONTEND_URL_BIS', 'FRONTEND_URL_FR', 'FRONTEND_URL_FR_BIS']
    .flatMap((name) => (env[name] ?? '').split(','))
    .map((value) => value.trim())
    .filter(Boolean)
    .map((value) => {
      try {
        return new URL(value).origin;
      } catch {
        throw new ConfigError(`FRONTEND_URL* entry "${value}" is not a valid URL`);
      }
    });

  return {
    nodeEnv,
    isProduction,
    port: intVar(env, 'PORT', 3000, 0, 65535),
    databaseUrl: urlVar(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    databasePoolSize: intVar(env, 'DATABASE_POOL_SIZE', 10, 1, 500),
    databasePoolIdleTimeoutMs: intVar(env, 'DATABASE_POOL_IDLE_TIMEOUT_MS', 0, 0, 86_400_000),
    databaseStatementTimeoutMs: intVar(env, 'DATABASE_STATEMENT_TIMEOUT_MS', 5000, 100, 600_000),
    embeddedPostgresPort: intVar(env, 'EMBEDDED_POSTGRES_PORT', 54329, 1, 65535),
    embeddedPostgresDir: env.EMBEDDED_POSTGRES_DIR?.trim() || '.data/postgres',
    redisUrl: urlVar(env, 'REDIS_URL', ['redis:', 'rediss:']),
    redisClusterNodes: clusterNodesVar(env),
    jwt: {
      secret,
      secretIsGenerated,
      jwksUrl: urlVar(env, 'JWT_JWKS_URL', ['https:', 'http:']),
      clockToleranceS: intVar(env, 'JWT_CLOCK_TOLERANCE_S', 5, 0, 30),
      audience: listVar(env, 'JWT_AUDIENCE'),
      issuer: listVar(env, 'JWT_ISSUER'),
    },
    frontendOrigins,
    persistedOperations: persisted,
    apqMaxBytes: intVar(env, 'APQ_MAX_BYTES', 8192, 0, 1_048_576),
    graphiql: boolVar(env, 'GRAPHIQL', true),
    introspection: boolVar(env, 'INTROSPECTION', true),
    limits: {
      contentMaxLength: intVar(env, 'MESSAGE_MAX_LENGTH', 4000, 1, 100_000),
      sendsPerMin: intVar(env, 'RATE_LIMIT_SENDS_PER_MIN', 120, 0, 1_000_000),
      reactionsPerMin: intVar(env, 'RATE_LIMIT_REACTIONS_PER_MIN', 120, 0, 1_000_000),
      typingPerMin: intVar(env, 'RATE_LIMIT_TYPING_PER_MIN', 60, 0, 1_000_000),
      uploadsPerMin: intVar(env, 'RATE_LIMIT_UPLOADS_PER_MIN', 60, 0, 1_000_000),
      typingTtlS: intVar(env, 'TYPING_TTL_S', 5, 1, 10),
      depth: intVar(env, 'MAX_DEPTH', 10, 1, 100),
      aliases: intVar(env, 'MAX_ALIASES', 15, 0, 1000),
      directives: intVar(env, 'MAX_DIRECTIVES', 50, 0, 1000),
      tokens: intVar(env, 'MAX_TOKENS', 2000, 10, 100_000),
      cost: intVar(env, 'MAX_COST', 10_000, 1, 1_000_000),
      requestBytes: intVar(env, 'MAX_REQUEST_BYTES', 262_144, 1024, 67_108_864),
    },
    wsPingIntervalMs: intVar(env, 'WS_PING_INTERVAL_MS', 12_000, 50, 600_000),
    httpKeepAliveTimeoutMs: intVar(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 65_000, 1000, 3_600_000),
    logLoopStallsMs: intVar(env, 'LOG_LOOP_STALLS_MS', 0, 0, 60_000),
    eventRetentionDays: intVar(env, 'EVENT_RETENTION_DAYS', 30, 1, 3650),
    eventPollMs: intVar(env, 'EVENT_POLL_MS', 30_000, 50, 600_000),
    webhooks: {
      allowPrivateNetworks: boolVar(env, 'WEBHOOK_ALLOW_PRIVATE_NETWORKS', false),
      timeoutMs: intVar(env, 'WEBHOOK_TIMEOUT_MS', 15_000, 100, 60_000),
      retryScheduleS: scheduleVar(env, 'WEBHOOK_RETRY_SCHEDULE', SVIX_SCHEDULE_S),
      disableAfterS: intVar(env, 'WEBHOOK_DISABLE_AFTER_S', 5 * 86_400, 1, 365 * 86_400),
      secretOverlapS: intVar(env, 'WEBHOOK_SECRET_OVERLAP_S', 86_400, 0, 30 * 86_400),
      concurrency: intVar(env, 'WEBHOOK_CONCURRENCY', 16, 1, 100),
      workers: boolVar(env, 'WEBHOOK_WORKERS', true),
      sweepMs: intVar(env, 'WEBHOOK_SWEEP_MS', 5000, 50, 600_000),
    },
    uploads: {
      s3: s3Var(env),
      localDir: env.UPLOADS_DIR?.trim() || '.data/uploads',
      publicUrl: publicUrlVar(env),
      uploadUrlTtlS: intVar(env, 'UPLOAD_URL_TTL_S', 900, 10, 86_400),
      downloadUrlTtlS: intVar(env, 'DOWNLOAD_URL_TTL_S', 3600, 10, 7 * 86_400),
    },
    jobPollMs: intVar(env, 'JOB_POLL_MS', 2000, 500, 600_000),
    logLevel: logLevelVar(env, nodeEnv),
    timeZone: timeZoneVar(env),
    reminderBeforeH: hoursVar(env, 'REMINDER_BEFORE_H', 24, 24 * 30),
    notifications: {
      afterS: intVar(env, 'NOTIFY_AFTER_S', 300, 1, 7 * 86_400),
      sweepMs: intVar(env, 'NOTIFY_SWEEP_MS', 5000, 50, 600_000),
      appUrl: urlVar(env, 'APP_URL', ['https:', 'http:']) ?? frontendOrigins[0] ?? 'http://localhost:5173',
      smtp: smtpVar(env),
      vapid: vapidVar(env),
    },
  };
}
