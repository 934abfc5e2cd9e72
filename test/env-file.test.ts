import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { withEnvFile } from '../src/env-file.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// Inside the checkout (git-ignored .data/) so that a copy of src/ resolves the project's packages.
mkdirSync(join(ROOT, '.data'), { recursive: true });
const work = mkdtempSync(join(ROOT, '.data', 'env-file-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SECRET = 'a-secret-from-the-env-file-of-32-characters';

describe('.env', () => {
  it('adds the variables of the file beneath the environment, which wins', () => {
    const file = join(work, 'sample.env');
    writeFileSync(
      file,
      [
        '# comments and blank lines are skipped',
        '',
        'DATABASE_URL=postgresql://postgres@127.0.0.1:5432/from_file',
        'PORT=4000',
        `JWT_SECRET="${SECRET}"`,
        "FRONTEND_URL='https://app.example.com' # trailing comment",
      ].join('\n'),
    );
    const env = { PORT: '5000', NODE_ENV: 'test' };
    expect(withEnvFile(env, file)).toEqual({
      PORT: '5000',
      NODE_ENV: 'test',
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/from_file',
      JWT_SECRET: SECRET,
      FRONTEND_URL: 'https://app.example.com',
    });
    expect(env).toEqual({ PORT: '5000', NODE_ENV: 'test' });
  });

  it('changes nothing when there is no file', () => {
    const env = { PORT: '5000' };
    expect(withEnvFile(env, join(work, 'missing.env'))).toEqual({ PORT: '5000' });
  });

  it("loadConfig() with no argument reads the project root's .env, under the process environment", async () => {
    // A copy of src/ is a project of its own, with its own root .env: the real checkout's .env
    // (a developer's) is neither read nor touched.
    const project = join(work, 'project');
    cpSync(join(ROOT, 'src'), join(project, 'src'), { recursive: true });
    writeFileSync(join(project, '.env'), `JWT_SECRET=${SECRET}\nPORT=4000\nMESSAGE_MAX_LENGTH=123\nGRAPHIQL=false\n`);
    writeFileSync(
      join(project, 'print-config.ts'),
      "import { loadConfig } from './src/config.js';\nconst c = loadConfig();\nconsole.log(JSON.stringify({ port: c.port, max: c.limits.contentMaxLength, graphiql: c.graphiql, generated: c.jwt.secretIsGenerated }));\n",
    );
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: '5000' };
    for (const name of ['JWT_SECRET', 'MESSAGE_MAX_LENGTH', 'GRAPHIQL']) delete env[name];
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'print-config.ts'], { cwd: project, env });
    expect(JSON.parse(stdout)).toEqual({ port: 5000, max: 123, graphiql: false, generated: false });
  });
});
