/**
 * The one-click unsubscribe of notification emails (RFC 8058). The link carries the user's id and
 * an HMAC of it, with a key derived from the JWT secret (like the upload URLs): nothing to store,
 * no new secret to configure, and it does not expire, as an unsubscribe link must keep working.
 * A GET shows a page with a button, so that a mail scanner following links unsubscribes nobody;
 * the POST (the button, or the mail client's one-click POST) turns email off.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { logger } from '../logger.js';
import { turnEmailOff } from '../services/notifications.js';

export const UNSUBSCRIBE_PATH = '/notifications/unsubscribe';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function createUnsubscribeSigner(secret: string) {
  const key = createHmac('sha256', secret).update('salon-api:unsubscribe:v1').digest();
  const mac = (userId: string) => createHmac('sha256', key).update(userId).digest();
  return {
    /** The unsubscribe URL of `userId`, on the API's origin. */
    url(origin: string, userId: string): string {
      return `${origin}${UNSUBSCRIBE_PATH}?${new URLSearchParams({ user: userId, token: mac(userId).toString('base64url') })}`;
    },
    /** The user the query's token was signed for, or null. */
    check(query: URLSearchParams): string | null {
      const userId = query.get('user') ?? '';
      if (!UUID.test(userId)) return null;
      const token = Buffer.from(query.get('token') ?? '', 'base64url');
      const expected = mac(userId);
      return token.length === expected.length && timingSafeEqual(token, expected) ? userId : null;
    },
  };
}

export type UnsubscribeSigner = ReturnType<typeof createUnsubscribeSigner>;

const page = (title: string, body: string) => `<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem">${body}</body></html>`;

function answer(res: ServerResponse, status: number, html: string) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
  res.end(html);
}

/** The unsubscribe route in front of `next`. */
export function unsubscribeRoutes(signer: UnsubscribeSigner, next: RequestListener): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== UNSUBSCRIBE_PATH) return next(req, res);
    // Whatever the body says (RFC 8058's "List-Unsubscribe=One-Click", or the page's form), the
    // signed query decides: it is read and dropped.
    req.resume();
    const userId = signer.check(url.searchParams);
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, POST' });
      return void res.end();
    }
    if (!userId) return answer(res, 400, page('Lien invalide', '<p>Ce lien de désabonnement n’est pas valide.</p>'));
    if (req.method === 'GET') {
      const action = `${UNSUBSCRIBE_PATH}?${url.searchParams.toString().replace(/&/g, '&amp;')}`;
      return answer(
        res,
        200,
        page(
          'Se désabonner',
          `<p>Ne plus recevoir par email les notifications de messages non lus ?</p><form method="post" action="${action}"><button type="submit">Me désabonner</button></form>`,
        ),
      );
    }
    turnEmailOff(userId).then(
      () => {
        logger.info({ userId }, 'notification emails turned off by unsubscribe link');
        answer(res, 200, page('Désabonné', '<p>C’est fait : vous ne recevrez plus ces emails. Vous pouvez les réactiver dans l’application.</p>'));
      },
      (error: unknown) => {
        logger.error({ err: error }, 'unsubscribe failed');
        answer(res, 500, page('Erreur', '<p>Le désabonnement a échoué ; réessayez plus tard.</p>'));
      },
    );
  };
}
