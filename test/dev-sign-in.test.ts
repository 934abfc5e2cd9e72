/**
 * The web app's development sign-in (src/auth/dev-sign-in.ts): there with the development secret
 * outside production, and absent (404, like any unknown path) with a real JWT_SECRET or in production.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { devSignInEnabled } from '../src/auth/dev-sign-in.js';
import { loadConfig } from '../src/config.js';
import { TEST_SECRET, useTestApp } from './support/app.js';

// JWT_SECRET empty: the server falls back to the development secret of .data/, as `npm start` does.
const t = useTestApp({ JWT_SECRET: '' });
let salonId: string;
let clientId: string;

beforeAll(async () => {
  // Signed with the development secret, which the app uses here.
  salonId = (await t.user('SALON', 'Atelier')).id;
  clientId = (await t.user('CLIENT', 'Nina')).id;
});

const origin = (app: App) => new URL(app.url()).origin;

describe('development sign-in', () => {
  it('lists the users and signs a token the API accepts, with the development secret', async () => {
    expect(t.config.jwt.secretIsGenerated).toBe(true);
    const list = await fetch(`${origin(t.app)}/dev/users`);
    expect(list.status).toBe(200);
    const { users } = (await list.json()) as { users: { id: string; role: string; displayName: string }[] };
    expect(users).toEqual(expect.arrayContaining([
      expect.objectContaining({ id: salonId, role: 'SALON', displayName: 'Atelier Test' }),
      expect.objectContaining({ id: clientId, role: 'CLIENT', displayName: 'Nina Test' }),
    ]));

    const issued = await fetch(`${origin(t.app)}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: clientId }) });
    expect(issued.status).toBe(200);
    const { token } = (await issued.json()) as { token: string };
    const me = await t.gql<{ me: { id: string; role: string } }>('{ me { id role } }', {}, token);
    expect(me.data?.me).toEqual({ id: clientId, role: 'CLIENT' });

    const post = (body: string) => fetch(`${origin(t.app)}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect((await post(JSON.stringify({ userId: randomUUID() }))).status).toBe(404);
    expect((await post(JSON.stringify({ userId: 'nope' }))).status).toBe(400);
    expect((await post('not json')).status).toBe(400);
  });

  it('is absent (404) with a real JWT_SECRET, and in production', async () => {
    for (const env of [{ NODE_ENV: 'test', JWT_SECRET: TEST_SECRET }, { NODE_ENV: 'production', JWT_SECRET: TEST_SECRET }]) {
      const config = loadConfig({ ...env, DATABASE_URL: t.databaseUrl, WEBHOOK_CONCURRENCY: '1' });
      expect(devSignInEnabled(config)).toBe(false);
      const app = buildApp({ ...config, databaseUrl: t.databaseUrl });
      await app.start(0);
      try {
        expect((await fetch(`${origin(app)}/dev/users`)).status).toBe(404);
        const issued = await fetch(`${origin(app)}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: clientId }) });
        expect(issued.status).toBe(404);
      } finally {
        await app.stop();
      }
    }
    // Production never runs on the development secret (loadConfig refuses to start), and the
    // routes would stay off even if a config said so.
    expect(devSignInEnabled({ ...t.config, isProduction: true })).toBe(false);
  });
});

