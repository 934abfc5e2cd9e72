import { get } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './support/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp, type TestUser } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';
import { liveTopics, untilLive } from './support/ws.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const t = useTestApp();
let browser: Browser;
let salon: TestUser;

beforeAll(async () => {
  browser = await launchChromium();
  salon = await t.user('SALON', 'Atelier');
  const client = await t.user('CLIENT', 'Nina');
  await send(t, client, await openConversation(t, salon, client, 'Balayage'), 'Bonjour');
});

afterAll(async () => {
  await browser?.close();
});

describe('GraphiQL in a real browser', () => {
  it('loads with the examples, runs the inbox query with a token header and shows the result', async () => {
    const page = await browser.newPage();
    await page.goto(t.app.url());
    await page.waitForSelector('.graphiql-container', { timeout: 20_000 });
    expect(await page.title()).toBe('Salon messaging API');
    const editor = page.locator('.graphiql-query-editor .view-lines');
    await expect.poll(async () => (await editor.innerText()).replace(/\s+/g, ' '), { timeout: 10_000 }).toContain('query Inbox');

    await page.getByText('Headers', { exact: true }).click();
    const headers = page.locator('.graphiql-editor-tool .graphiql-editor').last();
    await headers.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(JSON.stringify({ authorization: `Bearer ${salon.token}` }));

    await page.locator('.graphiql-execute-button').click();
    const result = page.locator('.graphiql-response');
    const text = () => result.innerText().then((value) => value.replace(/\s+/g, ' '));
    await expect.poll(text, { timeout: 15_000 }).toContain('Balayage');
    await page.screenshot({ path: process.env.GRAPHIQL_SCREENSHOT ?? '/tmp/graphiql-test.png' });
    expect(await text()).toMatch(/"firstName": "Atelier"/);
    expect(await text()).toMatch(/"unreadCount": 1/);
    await page.close();
  });

  it('runs the preloaded subscription over graphql-ws and shows a message sent meanwhile', async () => {
    const page = await browser.newPage();
    await page.goto(t.app.url());
    await page.waitForSelector('.graphiql-container', { timeout: 20_000 });
    await page.getByText('Live', { exact: true }).click();
    await page.getByText('Headers', { exact: true }).click();
    await page.locator('.graphiql-editor-tool .graphiql-editor').last().click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(JSON.stringify({ authorization: `Bearer ${salon.token}` }));
    const topicsBefore = await liveTopics(t.app);
    await page.locator('.graphiql-execute-button').click();
    await untilLive(t.app, topicsBefore, 1);
    const client = await t.user('CLIENT', 'Live');
    await send(t, client, await openConversation(t, salon, client, 'Live'), 'Vu dans GraphiQL');
    const result = page.locator('.graphiql-response');
    await expect.poll(() => result.innerText().then((v) => v.replace(/\s+/g, ' ')), { timeout: 15_000 }).toContain('Vu dans GraphiQL');
    await page.close();
  });
});

/** Replaces the whole text of the editor of GraphiQL's tool pane tab `tool` (Variables, Headers). */
async function fillTool(page: Page, tool: 'Variables' | 'Headers', text: string) {
  await page.getByText(tool, { exact: true }).click();
  await page.locator('.graphiql-editor-tool .graphiql-editor:visible').click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

const flat = (text: string) => text.replace(/\s+/g, ' ');

/** Runs the current tab and returns the id of the message the response shows. */
async function run(page: Page, previous: string[]): Promise<string> {
  await page.locator('.graphiql-execute-button').click();
  const response = page.locator('.graphiql-response');
  let id = '';
  await expect
    .poll(
      async () => {
        id = /"id": "([^"]+)"/.exec(flat(await response.innerText()))?.[1] ?? '';
        return id !== '' && !previous.includes(id);
      },
      { timeout: 15_000 },
    )
    .toBe(true);
  expect(flat(await response.innerText())).not.toContain('"errors"');
  return id;
}

describe('the preloaded sendMessage tab of GraphiQL', () => {
  it('sends a new message on every run, across a reload of the page (stored tabs), with a fresh clientMessageId each time', async () => {
    const conversationId = await openConversation(t, salon, await t.user('CLIENT', 'Nina'), 'Couleur');
    const page = await browser.newPage();
    await page.goto(t.app.url());
    await page.waitForSelector('.graphiql-container', { timeout: 20_000 });
    const editor = page.locator('.graphiql-query-editor .view-lines');
    // The tab strip slides into place after load; a click during that motion can miss, so click
    // until the tab is the active one.
    await expect
      .poll(
        async () => {
          await page.locator('.graphiql-tab-button[title="Send"]').click();
          return flat(await editor.innerText());
        },
        { timeout: 10_000 },
      )
      .toContain('mutation Send');

    // The preloaded variables carry the marker, not an id that would be sent twice.
    await page.getByText('Variables', { exact: true }).click();
    const tool = page.locator('.graphiql-editor-tool .graphiql-editor:visible .view-lines');
    await expect.poll(async () => flat(await tool.innerText()), { timeout: 10_000 }).toContain('"clientMessageId": "$uuid"');

    await fillTool(page, 'Variables', JSON.stringify({ conversationId, clientMessageId: '$uuid' }));
    await fillTool(page, 'Headers', JSON.stringify({ authorization: `Bearer ${salon.token}` }));
    const ids = [await run(page, [])];
    ids.push(await run(page, ids));

    // The browser got GraphiQL's files compressed, and keeps them: a reload fetches none again.
    const files = () =>
      page.evaluate(() =>
        performance
          .getEntriesByType('resource')
          .filter((entry) => new URL(entry.name).pathname.startsWith('/graphiql/'))
          .map((entry) => {
            const timing = entry as PerformanceResourceTiming;
            return { name: timing.name, transferSize: timing.transferSize, encodedBodySize: timing.encodedBodySize, decodedBodySize: timing.decodedBodySize };
          }),
      );
    // The document's script and style sheet came over the network, compressed. (A worker's script
    // may not say so: one Monaco ends before its script has come is not listed, and the next one
    // gets it from the cache.)
    const first = await files();
    const script = first.find((file) => /\/graphiql\.[0-9a-f]{16}\.js$/.test(file.name));
    const style = first.find((file) => /\/graphiql\.[0-9a-f]{16}\.css$/.test(file.name));
    for (const file of [script, style]) {
      expect(file?.transferSize).toBeGreaterThan(0);
      expect(file!.encodedBodySize).toBeLessThan(file!.decodedBodySize);
    }

    // GraphiQL restores the stored tab, variables and all: the same variables must still send anew.
    await page.reload();
    await page.waitForSelector('.graphiql-container', { timeout: 20_000 });
    const again = await files();
    // The script and style sheet come before the page shows; the editor workers as they start.
    expect(again.map((file) => file.name)).toEqual(expect.arrayContaining([script!.name, style!.name]));
    for (const file of again) expect(file).toMatchObject({ transferSize: 0 });
    await expect.poll(async () => flat(await editor.innerText()), { timeout: 10_000 }).toContain('mutation Send');
    await fillTool(page, 'Headers', JSON.stringify({ authorization: `Bearer ${salon.token}` }));
    ids.push(await run(page, ids));
    // By now the editors have started their workers: every file listed, the workers' too, came
    // from the cache.
    const later = await files();
    expect(later.some((file) => /\.worker\.[0-9a-f]{16}\.js$/.test(file.name))).toBe(true);
    for (const file of later) expect(file).toMatchObject({ transferSize: 0 });
    await page.close();

    const rows = await t.sql<{ id: string; clientMessageId: string | null }>(
      `SELECT id, "clientMessageId" FROM "Message" WHERE "conversationId" = $1 AND kind = 'USER' ORDER BY seq`,
      [conversationId],
    );
    expect(rows.map((row) => row.id)).toEqual(ids);
    const keys = rows.map((row) => row.clientMessageId ?? '');
    expect(new Set(keys).size).toBe(3);
    for (const key of keys) expect(key).toMatch(UUID);
  }, 60_000);
});

/** The paths of the files the GraphiQL page at `url` loads. */
/** A GET through node:http rather than fetch, which would ask for gzip and undo it unseen. */
function rawGet(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
    get(url, { headers }, (response) => {
      const chunks: Buffer[] = [];
      response
        .on('data', (chunk: Buffer) => chunks.push(chunk))
        .on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

async function pageFiles(url: string): Promise<string[]> {
  const page = await (await fetch(url, { headers: { accept: 'text/html' } })).text();
  return [...page.matchAll(/(?:src|href)="(\/graphiql\/[^"]+)"|"(\/graphiql\/[^"]+\.worker\.[0-9a-f]+\.js)"/g)].map((match) => match[1] ?? match[2]!);
}

describe("GraphiQL's files over HTTP", () => {
  it('the page is a few KB; its script, style sheet, editor workers and icon are files cached for a year, gzipped when asked, 304 when unchanged', async () => {
    const page = await (await fetch(t.app.url(), { headers: { accept: 'text/html' } })).text();
    expect(page.length).toBeLessThan(20_000);
    const paths = await pageFiles(t.app.url());
    expect(paths.map((path) => path.replace(/\.[0-9a-f]{16}\./, '.')).sort()).toEqual(
      ['/graphiql/editor.worker.js', '/graphiql/favicon.ico', '/graphiql/graphiql.css', '/graphiql/graphiql.js', '/graphiql/graphql.worker.js', '/graphiql/json.worker.js'].sort(),
    );
    let total = 0;
    for (const path of paths) {
      const url = new URL(path, t.app.url()).toString();
      const plain = await rawGet(url);
      expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(Number(plain.headers['content-length'])).toBe(plain.body.length);
      total += plain.body.length;
      const zipped = await rawGet(url, { 'accept-encoding': 'br, gzip;q=0.8' });
      expect(zipped.headers['content-encoding']).toBe('gzip');
      expect(zipped.headers.vary).toBe('accept-encoding');
      expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
      expect(zipped.body.length).toBeLessThan(plain.body.length);
      // One validator per coding; each answers 304 to its own.
      expect(zipped.headers.etag).not.toBe(plain.headers.etag);
      for (const [etag, encoding] of [
        [plain.headers.etag, 'identity'],
        [zipped.headers.etag, 'gzip'],
        ['*', 'gzip'],
      ]) {
        const unchanged = await rawGet(url, { 'if-none-match': String(etag), 'accept-encoding': String(encoding) });
        expect({ status: unchanged.status, length: unchanged.body.length }).toEqual({ status: 304, length: 0 });
      }
    }
    const refused = await rawGet(new URL(paths.find((path) => path.endsWith('.js'))!, t.app.url()).toString(), { 'accept-encoding': 'gzip;q=0, identity' });
    expect(refused.headers['content-encoding']).toBeUndefined();
    // The whole of GraphiQL and Monaco is there, not a stub.
    expect(total).toBeGreaterThan(5_000_000);
    expect((await fetch(new URL('/graphiql/graphiql.0000000000000000.js', t.app.url()))).status).toBe(404);
  });
});

describe('GraphiQL can be switched off', () => {
  it('GRAPHIQL=false serves no page to a browser, and none of its files', async () => {
    const paths = await pageFiles(t.app.url());
    const { buildApp } = await import('../src/app.js');
    const { loadConfig } = await import('../src/config.js');
    const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), GRAPHIQL: 'false', WEBHOOK_CONCURRENCY: '2' });
    const app = buildApp({ ...config, databaseUrl: t.databaseUrl });
    await app.start(0);
    try {
      const response = await fetch(app.url(), { headers: { accept: 'text/html' } });
      expect(await response.text()).not.toContain('<html');
      expect(paths.length).toBeGreaterThan(0);
      for (const path of paths) expect((await fetch(new URL(path, app.url()))).status).toBe(404);
    } finally {
      await app.stop();
    }
  });
});
