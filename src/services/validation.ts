import { validate as isUuid } from 'uuid';
import { badInput } from '../errors.js';

export const ATTACHMENT_TYPES = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/gif',
  'image/heic',
  'application/pdf',
] as const;
export const MAX_ATTACHMENTS = 10;
export const MAX_URL_LENGTH = 2048;
export const MAX_SUBJECT_LENGTH = 200;
export const MAX_SERVICE_LENGTH = 200;
export const MAX_CLIENT_MESSAGE_ID_LENGTH = 128;
export const MAX_EMAIL_LENGTH = 254;
export const MAX_NAME_LENGTH = 100;

export interface AttachmentInput {
  url: string;
  type: string;
}

/** A malformed id can never name a visible row; saying so beats a database cast error. */
export function requireId(value: string, field: string): string {
  if (!isUuid(value)) throw badInput(`${field} is not a valid ID`, field);
  return value.toLowerCase();
}

/**
 * PostgreSQL text cannot hold U+0000, and no client has a reason to send it: refused as input,
 * in every text a client gives us (fields and token claims alike).
 */
export function rejectNul(value: string, field: string): string {
  if (value.includes('\u0000')) throw badInput(`${field} must not contain NUL characters`, field);
  return value;
}

export function requireText(value: string, field: string, max: number): string {
  const trimmed = rejectNul(value, field).trim();
  if (trimmed.length === 0) throw badInput(`${field} must not be empty`, field);
  if (trimmed.length > max) throw badInput(`${field} must be at most ${max} characters`, field);
  return trimmed;
}

/**
 * The shape of a send's attachments: at most ten, each a URL and an allowed type. Which URLs are
 * accepted is decided against the uploads themselves (claimAttachments in services/uploads.ts):
 * only the attachmentUrl createAttachmentUpload issued, whose bytes are of that type.
 */
export function requireAttachments(attachments: readonly AttachmentInput[] | null | undefined): AttachmentInput[] {
  const list = attachments ?? [];
  if (list.length > MAX_ATTACHMENTS) {
    throw badInput(`At most ${MAX_ATTACHMENTS} attachments per message`, 'attachments');
  }
  return list.map((attachment, index) => {
    const field = `attachments.${index}`;
    const url = rejectNul(attachment.url, `${field}.url`).trim();
    if (url.length > MAX_URL_LENGTH) throw badInput(`${field}.url must be at most ${MAX_URL_LENGTH} characters`, `${field}.url`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw badInput(`${field}.url must be the attachmentUrl of createAttachmentUpload`, `${field}.url`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw badInput(`${field}.url must be the attachmentUrl of createAttachmentUpload`, `${field}.url`);
    }
    const type = rejectNul(attachment.type, `${field}.type`).trim().toLowerCase();
    if (!(ATTACHMENT_TYPES as readonly string[]).includes(type)) {
      throw badInput(`${field}.type must be one of ${ATTACHMENT_TYPES.join(', ')}`, `${field}.type`);
    }
    return { url, type };
  });
}

export function optionalClientMessageId(value: string | null | undefined): string | null {
  if (value == null) return null;
  return requireText(value, 'clientMessageId', MAX_CLIENT_MESSAGE_ID_LENGTH);
}

/** Code units, not graphemes: the longest RGI sequences (family ZWJ, tag flags) stay well under it. */
export const MAX_EMOJI_LENGTH = 32;
// One fully-qualified RGI emoji, sequences included (skin tones, ZWJ families, flags, keycaps).
// Built at run time: the `v` flag is newer than the TypeScript target.
const SINGLE_EMOJI = new RegExp('^\\p{RGI_Emoji}$', 'v');

/**
 * A reaction's emoji: exactly one emoji, as an emoji picker inserts it. A symbol or keycap
 * some keyboards send without its emoji selector (U+2764 for ❤️, 1⃣ for 1️⃣) is stored in the
 * fully qualified form, so both count as one reaction.
 */
export function requireEmoji(value: string): string {
  const emoji = rejectNul(value, 'emoji').trim();
  if (emoji.length === 0) throw badInput('emoji must not be empty', 'emoji');
  if (emoji.length > MAX_EMOJI_LENGTH) throw badInput(`emoji must be at most ${MAX_EMOJI_LENGTH} characters`, 'emoji');
  if (SINGLE_EMOJI.test(emoji)) return emoji;
  if (SINGLE_EMOJI.test(`${emoji}\uFE0F`)) return `${emoji}\uFE0F`;
  // A keycap typed without its selector (1⃣ for 1️⃣).
  const keycap = emoji.replace(/^([0-9#*])\u20E3$/u, '$1\uFE0F\u20E3');
  if (keycap !== emoji && SINGLE_EMOJI.test(keycap)) return keycap;
  throw badInput('emoji must be exactly one emoji, e.g. 👍', 'emoji');
}
