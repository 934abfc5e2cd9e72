/** Notification emails over SMTP (nodemailer): French text and HTML parts, RFC 8058 one-click unsubscribe. */
import nodemailer from 'nodemailer';
import { conversationLink, excerptOf, titleOf, type Burst } from './content.js';

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);

export interface EmailParts {
  subject: string;
  text: string;
  html: string;
}

export function emailOf(burst: Burst, link: string, unsubscribeUrl: string): EmailParts {
  const excerpt = excerptOf(burst.latest);
  const intro =
    burst.count > 1
      ? `${burst.senderName} vous a envoyé ${burst.count} messages dans « ${burst.subject} ». Le dernier :`
      : `${burst.senderName} vous a envoyé un message dans « ${burst.subject} » :`;
  const text = [
    'Bonjour,',
    '',
    intro,
    '',
    `« ${excerpt} »`,
    '',
    `Lire et répondre : ${link}`,
    '',
    '--',
    'Vous recevez cet email parce que des messages vous attendent sans avoir été lus.',
    `Ne plus recevoir ces emails : ${unsubscribeUrl}`,
  ].join('\n');
  const html = `<!doctype html>
<html lang="fr"><head><meta charset="utf-8"></head>
<body style="font-family: system-ui, sans-serif; color: #222">
<p>Bonjour,</p>
<p>${escapeHtml(intro)}</p>
<blockquote style="margin: 1em 0; padding: 0.5em 1em; border-left: 3px solid #ccc">${escapeHtml(excerpt)}</blockquote>
<p><a href="${escapeHtml(link)}">Lire et répondre</a></p>
<hr>
<p style="font-size: 0.85em; color: #666">Vous recevez cet email parce que des messages vous attendent sans avoir été lus.
<a href="${escapeHtml(unsubscribeUrl)}">Ne plus recevoir ces emails</a></p>
</body></html>`;
  return { subject: titleOf(burst), text, html };
}

export function createEmailChannel(smtp: { url: string; from: string }, appUrl: string) {
  // Bounded, unlike nodemailer's defaults (2 min to connect, 10 min of silence): a hung SMTP server
  // must not hold a notification worker longer than its job lasts (expireInSeconds 120).
  const transport = nodemailer.createTransport({ url: smtp.url, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000, dnsTimeout: 10_000 });
  return {
    async send(burst: Burst, unsubscribeUrl: string): Promise<void> {
      const parts = emailOf(burst, conversationLink(appUrl, burst.conversationId), unsubscribeUrl);
      await transport.sendMail({
        from: smtp.from,
        to: burst.email,
        subject: parts.subject,
        text: parts.text,
        html: parts.html,
        headers: {
          'List-Unsubscribe': `<${unsubscribeUrl}>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          'Auto-Submitted': 'auto-generated',
        },
      });
    },
  };
}

export type EmailChannel = ReturnType<typeof createEmailChannel>;
