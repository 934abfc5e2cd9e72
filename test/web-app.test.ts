/**
 * The reference web app (web/) in headless Chromium against a real API: built with Vite's build
 * API, served by Vite's preview server with the app's own proxy (web/api-proxy.ts), signed in
 * through the development sign-in. A salon on a desktop and a client on a 360 px phone chat.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArchiveConversationDocument,
  CreateAppointmentDocument,
  CreateAttachmentUploadDocument,
  CreateConversationDocument,
  SendMessageDocument,
} from '../operations/generated/graphql.js';
import { apiProxy } from '../web/api-proxy.js';
import { useTestApp, type TestUser } from './support/app.js';
import { launchChromium } from './support/browser.js';
import { ok, putFile, TINY_PDF, TINY_PNG } from './support/uploads.js';

// No JWT_SECRET: the development secret, so the app's sign-in endpoint exists, as with `npm start`.
const t = useTestApp({ JWT_SECRET: '', RATE_LIMIT_SENDS_PER_MIN: '0' });
const CONFIG = join(import.meta.dirname, '..', 'web', 'vite.config.ts');
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? join(import.meta.dirname, '..', 'docs', 'screenshots') : mkdtempSync(join(tmpdir(), 'web-screens-'));
const outDir = mkdtempSync(join(tmpdir(), 'web-app-'));
let server: PreviewServer;
let base: string;
let browser: Browser;
let salon: TestUser;
let camille: TestUser;
let lucas: TestUser;
let withCamille: string;
let withLucas: string;

beforeAll(async () => {
  // What ships: Vite builds for NODE_ENV, which vitest sets to "test" (React's development build).
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    [browser] = await Promise.all([
      launchChromium(),
      build({ configFile: CONFIG, mode: 'production', logLevel: 'warn', build: { outDir, emptyOutDir: true } }),
    ]);
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  server = await preview({ configFile: CONFIG, logLevel: 'warn', build: { outDir }, preview: { port: 0, proxy: apiProxy(new URL(t.app.url()).origin) } });
  base = server.resolvedUrls!.local[0]!;

  salon = await t.user('SALON', 'Salon Élégance', '');
  camille = await t.user('CLIENT', 'Camille', 'Martin');
  lucas = await t.user('CLIENT', 'Lucas', 'Bernard');
  // An appointment opens its conversation with a SYSTEM confirmation.
  const booked = await ok(t, CreateAppointmentDocument, { input: { clientUserId: camille.id, service: 'Coupe et brushing', startsAt: new Date(Date.now() + 3 * 86_400_000).toISOString() } }, salon.token);
  withCamille = booked.createAppointment.conversation!.id;
  const say = (user: TestUser, conversationId: string, content: string, attachments?: { url: string; type: string }[]) =>
    ok(t, SendMessageDocument, { input: { conversationId, content, ...(attachments ? { attachments } : {}) } }, user.token);
  await say(camille, withCamille, 'Merci ! Puis-je venir 15 minutes plus tôt ?');
  await say(salon, withCamille, 'Bien sûr, à bientôt !');
  const files = [];
  for (const [bytes, type, filename] of [[TINY_PNG, 'image/png', 'photo.png'], [TINY_PDF, 'application/pdf', 'devis.pdf']] as const) {
    const { createAttachmentUpload: upload } = await ok(t, CreateAttachmentUploadDocument, { input: { conversationId: withCamille, filename, contentType: type, byteSize: bytes.length } }, camille.token);
    expect((await putFile(upload, bytes)).status).toBe(200);
    files.push({ url: upload.attachmentUrl, type });
  }
  await say(camille, withCamille, 'La photo et le devis', files);
  // Longer than a page (30): the conversation view loads the rest when scrolled to the top.
  withLucas = (await ok(t, CreateConversationDocument, { input: { clientUserId: lucas.id, subject: 'Coupe homme' } }, salon.token)).createConversation.id;
  for (let i = 1; i <= 40; i++) await say(i % 2 ? lucas : salon, withLucas, `Message ${i}`);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(outDir, { recursive: true, force: true });
  if (process.env.UPDATE_SCREENSHOTS !== '1') rmSync(SCREENSHOTS, { recursive: true, force: true });
});

/** Signs in through the app's sign-in screen, with a conversation open when given. */
async function signIn(context: BrowserContext, name: string, conversationId?: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(conversationId ? `${base}?conversation=${conversationId}` : base);
  await page.getByRole('button', { name: new RegExp(name) }).click();
  return page;
}

const row = (page: Page, conversationId: string) => page.locator(`a.row[data-conversation="${conversationId}"]`);

/**
 * When a message with this text is on the page, by the page's clock (the machine's, as the
 * test's): waits at most 1 s, the bound the app is held to.
 */
async function shownAt(page: Page, text: string): Promise<number> {
  const handle = await page.waitForFunction(
    (content) => [...document.querySelectorAll('.conversation .message .content')].some((node) => node.textContent === content) && Date.now(),
    text,
    { timeout: 1_000 },
  );
  return (await handle.jsonValue()) as number;
}

async function screenshot(page: Page, name: string) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path });
  expect(statSync(path).size).toBeGreaterThan(1_000);
}

describe('the web app in two browsers, a salon and a client', () => {
  it('chats live: messages, typing, unread badges, reactions, presence, and what an offline client missed', async () => {
    const desk = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
    const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: 'fr-FR' });

    // Time to first message: from choosing the user to the conversation's messages on screen.
    const signInStarted = Date.now();
    const salonPage = await signIn(desk, 'Salon Élégance', withCamille);
    await salonPage.getByText('Bien sûr, à bientôt !').waitFor();
    console.log(`time to first message (sign-in click → first message visible): ${Date.now() - signInStarted} ms`);
    const salonView = salonPage.locator('.conversation');
    await expect.poll(() => salonView.locator('.system').count()).toBe(1);
    await salonView.locator('.day', { hasText: 'Today' }).waitFor();
    await salonView.locator('a.file', { hasText: 'PDF' }).waitFor();
    await expect.poll(() => salonView.locator('img.attachment').evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(1);

    // The client's first inbox request fails: the inbox says so (not "no conversations") and its
    // retry loads it, and only then does the live stream start.
    let aborted = false;
    await phone.route('**/graphql', (route) => {
      if (aborted || !route.request().postData()?.includes('"Inbox"')) return route.fallback();
      aborted = true;
      return route.abort();
    });
    const clientPage = await signIn(phone, 'Camille Martin', withCamille);
    const clientView = clientPage.locator('.conversation');
    await clientView.getByText('Bien sûr, à bientôt !').waitFor();
    // French from the browser's language.
    await clientPage.getByRole('button', { name: 'Envoyer' }).waitFor();
    await clientPage.getByRole('button', { name: 'Retour aux conversations' }).click();
    await clientPage.locator('.inbox [role="alert"]').getByRole('button', { name: 'Réessayer' }).click();
    await phone.unroute('**/graphql');
    await row(clientPage, withCamille).click();
    // The French header fits the 360 px screen.
    expect(await clientPage.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);

    // Presence: the client's socket is up, the salon's dot turns on.
    await salonView.locator('.conversation-head .dot.on').waitFor();

    // Typing shows in the salon's conversation and inbox row, then clears when the message is sent.
    await clientPage.locator('#composer-input').pressSequentially('Je serai', { delay: 20 });
    await salonView.locator('.typing-line', { hasText: 'Camille Martin is typing…' }).waitFor();
    await row(salonPage, withCamille).locator('.typing').waitFor();
    await clientPage.locator('#composer-input').pressSequentially(' là à 9h45', { delay: 20 });
    const received = shownAt(salonPage, 'Je serai là à 9h45');
    const sentAt = Date.now();
    await clientPage.keyboard.press('Enter');
    console.log(`client → salon: message on screen ${(await received) - sentAt} ms after Enter`);
    await expect.poll(() => salonView.locator('.typing-line').innerText()).toBe('');
    await expect.poll(() => row(salonPage, withCamille).locator('.typing').count()).toBe(0);
    // Opened conversation: read at once, and the client's tick turns to read.
    await clientView.locator('.message.mine', { hasText: 'Je serai là à 9h45' }).locator('.ticks.read').waitFor();

    await salonPage.locator('#composer-input').fill('Parfait, à jeudi');
    const replied = shownAt(clientPage, 'Parfait, à jeudi');
    const replyAt = Date.now();
    await salonPage.getByRole('button', { name: 'Send' }).click();
    console.log(`salon → client: message on screen ${(await replied) - replyAt} ms after the click`);
    await screenshot(salonPage, 'conversation');

    // Unread: with another conversation open, the badge rises; opening the conversation clears it.
    // By keyboard: arrows move between conversations (latest activity first), Enter opens one and
    // the focus goes to its title.
    await row(salonPage, withCamille).focus();
    await salonPage.keyboard.press('ArrowDown');
    await salonPage.keyboard.press('Enter');
    await salonPage.locator('.conversation').getByText('Message 40').waitFor();
    await expect.poll(() => salonPage.evaluate(() => document.activeElement?.textContent)).toBe('Lucas Bernard');
    await clientPage.locator('#composer-input').fill('Une question');
    await clientPage.keyboard.press('Enter');
    await clientPage.locator('#composer-input').fill('sur la couleur');
    await clientPage.keyboard.press('Enter');
    await row(salonPage, withCamille).locator('.badge', { hasText: '2' }).waitFor();
    await salonPage.locator('header .badge', { hasText: '2' }).waitFor();
    await screenshot(salonPage, 'inbox');
    // Infinite scroll: the top of the list loads the page before (messages 1 to 10).
    await salonPage.locator('.messages').evaluate((list) => list.scrollTo(0, 0));
    await salonPage.locator('.conversation').getByText('Message 1', { exact: true }).waitFor();
    await salonPage.locator('.conversation .top', { hasText: 'Beginning of the conversation' }).waitFor();
    await row(salonPage, withCamille).click();
    await salonPage.locator('.conversation').getByText('sur la couleur').waitFor();
    await expect.poll(() => row(salonPage, withCamille).locator('.badge').count()).toBe(0);
    await expect.poll(() => salonPage.locator('header .badge').count()).toBe(0);

    // Reactions: the salon adds one, the client sees it; removed, it goes.
    const question = salonPage.locator('.message', { hasText: 'sur la couleur' });
    await question.getByRole('button', { name: 'Add a reaction' }).click();
    await question.getByRole('button', { name: '👍' }).click();
    const seen = clientView.locator('.message', { hasText: 'sur la couleur' }).locator('.reaction', { hasText: '👍 1' });
    await seen.waitFor();
    await question.locator('.reaction[aria-pressed="true"]').click();
    await expect.poll(() => seen.count()).toBe(0);
    await screenshot(clientPage, 'mobile');

    // Offline: the client misses a message and cannot send; back online, it gets the one and
    // retries the other (same clientMessageId).
    await phone.setOffline(true);
    await clientPage.locator('.offline-banner').waitFor();
    await salonPage.locator('#composer-input').fill('Message pendant la coupure');
    await salonPage.keyboard.press('Enter');
    await salonPage.locator('.message.mine', { hasText: 'Message pendant la coupure' }).locator('.ticks').getByText('Sent').waitFor();
    await clientPage.locator('#composer-input').fill('Envoyé hors ligne');
    await clientPage.keyboard.press('Enter');
    await clientView.getByRole('button', { name: 'Réessayer' }).waitFor();
    expect(await clientView.getByText('Message pendant la coupure').count()).toBe(0);
    await phone.setOffline(false);
    await clientView.getByText('Message pendant la coupure').waitFor();
    await clientView.getByRole('button', { name: 'Réessayer' }).click();
    await salonView.getByText('Envoyé hors ligne').waitFor();
    await expect.poll(() => clientView.locator('.failed').count()).toBe(0);
    expect(await salonView.getByText('Envoyé hors ligne').count()).toBe(1);

    // Away for longer than the API keeps events: the retention job has pruned what the client
    // had not read (done here by hand), so its cursor is CURSOR_EXPIRED; the app reloads.
    await phone.setOffline(true);
    await clientPage.locator('.offline-banner').waitFor();
    await salonPage.locator('#composer-input').fill('Après une longue absence');
    await salonPage.keyboard.press('Enter');
    await salonPage.locator('.message.mine', { hasText: 'Après une longue absence' }).locator('.ticks').getByText('Sent').waitFor();
    await t.sql('UPDATE "UserEventStream" SET "prunedThrough" = "lastPosition" WHERE "userId" = $1', [camille.id]);
    await t.sql('DELETE FROM "UserEvent" WHERE "userId" = $1', [camille.id]);
    await phone.setOffline(false);
    await clientView.getByText('Après une longue absence').waitFor();
    // Followed again from the new cursor: live as before.
    await salonPage.locator('#composer-input').fill('Toujours en direct');
    await salonPage.keyboard.press('Enter');
    await clientView.getByText('Toujours en direct').waitFor();

    // A conversation opened elsewhere joins the inbox; archived, it moves to the archived filter.
    const opened = (await ok(t, CreateConversationDocument, { input: { clientUserId: lucas.id, subject: 'Couleur' } }, salon.token)).createConversation.id;
    await row(salonPage, opened).waitFor();
    await ok(t, ArchiveConversationDocument, { id: opened }, salon.token);
    await expect.poll(() => row(salonPage, opened).count()).toBe(0);
    await salonPage.getByLabel('Archived').check();
    await row(salonPage, opened).waitFor();
    await salonPage.getByLabel('Active').check();

    // The client leaves: after the API's grace period its dot goes off on the salon's screen.
    await phone.close();
    await salonView.locator('.conversation-head .dot.off').waitFor({ timeout: 10_000 });

    // A conversation that is not there says so; a token the API refuses signs out and says why.
    await salonPage.goto(`${base}?conversation=${crypto.randomUUID()}`);
    await salonPage.getByText('Conversation not found').waitFor();
    await salonPage.evaluate(() => sessionStorage.setItem('salon.session', JSON.stringify({ token: 'not-a-token' })));
    await salonPage.reload();
    await salonPage.getByRole('alert').getByText('the API refused the session').waitFor();
    await desk.close();
  });
});
