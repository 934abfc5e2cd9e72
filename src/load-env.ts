/**
 * Imported first by the process entry points (server, scripts), like `dotenv/config`: the
 * project's `.env` fills the variables the environment leaves unset, before any module reads
 * `process.env` at load (the logger's LOG_LEVEL, APP_TIME_ZONE).
 */
import { withEnvFile } from './env-file.js';

for (const [name, value] of Object.entries(withEnvFile(process.env))) {
  if (process.env[name] === undefined && value !== undefined) process.env[name] = value;
}
