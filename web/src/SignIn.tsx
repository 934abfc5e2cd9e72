import { useEffect, useState } from 'react';
import { LanguageSwitch, useT } from './i18n';
import { listDevUsers, signIn, type DevUser, type Session } from './session';

/** Pick a user of the local database; the API's development sign-in gives their token. */
export function SignIn({ onSignedIn, refused }: { onSignedIn(session: Session): void; refused: boolean }) {
  const t = useT();
  const [users, setUsers] = useState<DevUser[]>();
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    listDevUsers().then(setUsers, () => setFailed(true));
  }, []);

  const choose = (user: DevUser) => signIn(user).then(onSignedIn, () => setFailed(true));
  const group = (role: DevUser['role'], title: string) => {
    const members = users?.filter((user) => user.role === role) ?? [];
    return (
      <section aria-labelledby={`role-${role}`}>
        <h2 id={`role-${role}`}>{title}</h2>
        <ul className="users">
          {members.map((user) => (
            <li key={user.id}>
              <button type="button" onClick={() => void choose(user)}>
                <strong>{user.displayName}</strong> <span className="muted">{user.email}</span>
              </button>
            </li>
          ))}
        </ul>
      </section>
    );
  };

  return (
    <main className="sign-in">
      <header className="bar">
        <h1>{t.signInTitle}</h1>
        <LanguageSwitch />
      </header>
      <p>{t.signInHelp}</p>
      {refused && <p role="alert">{t.sessionRefused}</p>}
      {failed && <p role="alert">{t.signInFailed}</p>}
      {!users && !failed && <p role="status">{t.loadingUsers}</p>}
      {users?.length === 0 && <p>{t.noUsers}</p>}
      {users && users.length > 0 && (
        <div className="groups">
          {group('SALON', t.salons)}
          {group('CLIENT', t.clients)}
        </div>
      )}
    </main>
  );
}
