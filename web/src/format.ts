import type { Language } from './i18n';

const locale = (language: Language) => (language === 'fr' ? 'fr-FR' : 'en-GB');

export const time = (iso: string, language: Language) =>
  new Intl.DateTimeFormat(locale(language), { hour: '2-digit', minute: '2-digit' }).format(new Date(iso));

export const dayKey = (iso: string) => new Date(iso).toDateString();

/** "Today", "Yesterday", else the date in full: the separators between days of messages. */
export function dayLabel(iso: string, language: Language, words: { today: string; yesterday: string }) {
  const day = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (day.toDateString() === today.toDateString()) return words.today;
  if (day.toDateString() === yesterday.toDateString()) return words.yesterday;
  return new Intl.DateTimeFormat(locale(language), { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }).format(day);
}

/** A time today, else a short date: the inbox's column. */
export const when = (iso: string, language: Language) =>
  dayKey(iso) === new Date().toDateString() ? time(iso, language) : new Intl.DateTimeFormat(locale(language), { day: 'numeric', month: 'short' }).format(new Date(iso));

/** A UUID v4 for `clientMessageId`; crypto.randomUUID needs a secure context, getRandomValues does not. */
export function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
