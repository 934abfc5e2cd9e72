import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp, type TestUser } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';

// Debian's Chromium (see .ci/run); the flags keep it off the network this machine does not have.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const t = useTestApp();
let browser: Browser;
let salon: TestUser;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
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
    await page.locator('.graphiql-execute-button').click();
    await page.waitForTimeout(1000);
    const client = await t.user('CLIENT', 'Live');
    await send(t, client, await openConversation(t, salon, client, 'Live'), 'Vu dans GraphiQL');
    const result = page.locator('.graphiql-response');
    await expect.poll(() => result.innerText().then((v) => v.replace(/\s+/g, ' ')), { timeout: 15_000 }).toContain('Vu dans GraphiQL');
    await page.close();
  });
});

describe('GraphiQL can be switched off', () => {
  it('GRAPHIQL=false serves no page to a browser', async () => {
    const { buildApp } = await import('../src/app.js');
    const { loadConfig } = await import('../src/config.js');
    const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), GRAPHIQL: 'false' });
    const app = buildApp({ ...config, databaseUrl: t.databaseUrl });
    const response = await app.yoga.fetch('http://localhost/graphql', { headers: { accept: 'text/html' } });
    expect(await response.text()).not.toContain('<html');
  });
});
