/** Who is signed in: a token from the API's development sign-in (src/auth/dev-sign-in.ts). */
export interface DevUser {
  id: string;
  email: string;
  role: 'SALON' | 'CLIENT';
  displayName: string;
}

export interface Session {
  token: string;
  user: DevUser;
}

// Per tab (sessionStorage): two tabs can be a salon and a client side by side.
const KEY = 'salon.session';

export function loadSession(): Session | null {
  const saved = sessionStorage.getItem(KEY);
  return saved ? (JSON.parse(saved) as Session) : null;
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
  return { token, user };
}
