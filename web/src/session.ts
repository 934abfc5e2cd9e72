import type { Role } from '../../operations/generated/graphql';

/**
 * A user the API's development sign-in offers (src/auth/dev-sign-in.ts). It only picks whom to sign
 * in as: once signed in, who the viewer is comes from the `Me` query.
 */
export interface DevUser {
  id: string;
  email: string;
  role: Role;
  displayName: string;
}


/** A token from the development sign-in; the rest is asked of the API with it. */
export interface Session {
  token: string;
}

// Per tab (sessionStorage): two tabs can be a salon and a client side by side.
const KEY = 'salon.session';

export function loadSession(): Session | null {
  const saved = sessionStorage.getItem(KEY);
  return saved ? { token: (JSON.parse(saved) as Session).token } : null;
}

export function saveSession(session: Session | null) {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
}

export async function listDevUsers(): Promise<DevUser[]> {
  const response = await fetch('/dev/users');
  if (!response.ok) throw new Error(`GET /dev/users: ${response.status}`);
  return ((await response.json()) as { users: DevUser[] }).users;
}

export async function signIn(user: DevUser): Promise<Session> {
  const response = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId: user.id }),
  });
  if (!response.ok) throw new Error(`POST /dev/token: ${response.status}`);
  const { token } = (await response.json()) as { token: string };
  return { token };
}
