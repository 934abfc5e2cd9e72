/** What a notification says, in French, for every channel. */
export interface Burst {
  userId: string;
  email: string;
  conversationId: string;
  subject: string;
  /** The other participant's display name (displayNameOf): the salon, for a client. */
  senderName: string;
  count: number;
  /** The newest of the messages, as sent. */
  latest: string;
}

export const EXCERPT_LENGTH = 140;

/** Whitespace folded, at most EXCERPT_LENGTH characters (an ellipsis when cut, never inside a surrogate pair). */
export function excerptOf(content: string): string {
  const flat = content.replace(/\s+/g, ' ').trim();
  const chars = [...flat];
  return chars.length <= EXCERPT_LENGTH ? flat : `${chars.slice(0, EXCERPT_LENGTH - 1).join('').trimEnd()}…`;
}

/** "3 nouveaux messages de Salon Élégance"; one message: "Nouveau message de Salon Élégance". */
export function titleOf(burst: Pick<Burst, 'count' | 'senderName'>): string {
  return burst.count > 1 ? `${burst.count} nouveaux messages de ${burst.senderName}` : `Nouveau message de ${burst.senderName}`;
}

/** The web app, opened on the conversation. */
export function conversationLink(appUrl: string, conversationId: string): string {
  const url = new URL(appUrl);
  url.searchParams.set('conversation', conversationId);
  return url.toString();
}
