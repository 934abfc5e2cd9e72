/**
 * Real protocol peers for the notification tests: an SMTP server on loopback (smtp-server) whose
 * mails are parsed with mailparser, and a Web Push service on loopback (plain HTTP) that keeps
 * each request, plus the browser's side of RFC 8291: a subscription's keys and the decryption of
 * an aes128gcm payload with its private key.
 */
import { createDecipheriv, createECDH, createHmac, randomBytes, type ECDH } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  mail: ParsedMail;
  /** Date.now() when the SMTP server had the whole message. */
  receivedAt: number;
  to: string[];
}

/** Refuses (550) every recipient whose address starts with "bounce-". */
export async function startSmtpServer() {
  const mails: ReceivedMail[] = [];
  /** Recipients whose mail is held at RCPT TO until the test lets it go (`hold`), and the sessions waiting there. */
  const holds = new Map<string, { released: Promise<void>; waiting: number }>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    // No reverse DNS of 127.0.0.1: its timeout would be measured as our delay.
    disableReverseLookup: true,
    logger: false,
    // A mailbox that does not exist, as a real server refuses it.
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith('bounce-')) return callback(Object.assign(new Error('No such user here'), { responseCode: 550 }));
      const hold = holds.get(address.address);
      if (!hold) return callback();
      hold.waiting++;
      void hold.released.then(() => callback());
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const receivedAt = Date.now();
        simpleParser(Buffer.concat(chunks)).then(
          (mail) => {
            mails.push({ mail, receivedAt, to: session.envelope.rcptTo.map((rcpt) => rcpt.address) });
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    to: (address: string) => mails.filter((received) => received.to.includes(address)),
    /** Holds mail to `address` at RCPT TO (a slow server): returns how many sessions wait there, and the release. */
    hold(address: string) {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const hold = { released, waiting: 0 };
      holds.set(address, hold);
      return {
        waiting: () => hold.waiting,
        release: () => {
          holds.delete(address);
          release();
        },
      };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface PushRequest {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Answers 201 on /push/ok/*, 410 on /push/gone/*, 404 on /push/missing/*. */
export async function startPushService() {
  const requests: PushRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      requests.push({ path, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(path.startsWith('/push/gone/') ? 410 : path.startsWith('/push/missing/') ? 404 : 201).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A browser's push subscription: its ECDH key pair and auth secret. */
export function browserSubscription(endpoint: string) {
  const ecdh: ECDH = createECDH('prime256v1');
  const publicKey = ecdh.generateKeys();
  const auth = randomBytes(16);
  return {
    ecdh,
    auth,
    input: { endpoint, keys: { p256dh: publicKey.toString('base64url'), auth: auth.toString('base64url') } },
  };
}

const hmac = (key: Buffer, data: Buffer) => createHmac('sha256', key).update(data).digest();

/** RFC 8291 + RFC 8188 (aes128gcm, one record): the plaintext the user agent would read. */
export function decryptPush(body: Buffer, subscription: { ecdh: ECDH; auth: Buffer }): string {
  const salt = body.subarray(0, 16);
  const idLength = body[20]!;
  const senderKey = body.subarray(21, 21 + idLength);
  const ciphertext = body.subarray(21 + idLength);
  const shared = subscription.ecdh.computeSecret(senderKey);
  const receiverKey = subscription.ecdh.getPublicKey();
  const prkKey = hmac(subscription.auth, shared);
  const ikm = hmac(prkKey, Buffer.concat([Buffer.from('WebPush: info\0'), receiverKey, senderKey, Buffer.from([1])]));
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01', 'binary')).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01', 'binary')).subarray(0, 12);
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  // The last record ends with the delimiter 0x02, then zero padding.
  const end = padded.lastIndexOf(2);
  return padded.subarray(0, end).toString('utf8');
}
