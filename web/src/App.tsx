import { ApolloProvider } from '@apollo/client/react';
import { useEffect, useState } from 'react';
import { createApi, type Api } from './apollo';
import { Messenger } from './Messenger';
import { loadSession, saveSession, type Session } from './session';
import { SignIn } from './SignIn';

export function App() {
  const [session, setSession] = useState(loadSession);
  const [api, setApi] = useState<Api>();
  // Signed out by the API (a token expired or from another database): the sign-in screen says so.
  const [refused, setRefused] = useState(false);

  useEffect(() => {
    saveSession(session);
    if (!session) return setApi(undefined);
    const created = createApi(session.token, () => {
      setRefused(true);
      setSession(null);
    });
    setApi(created);
    return () => created.dispose();
  }, [session]);

  const signedIn = (next: Session) => {
    setRefused(false);
    setSession(next);
  };
  if (!session) return <SignIn onSignedIn={signedIn} refused={refused} />;
  if (!api) return null;
  return (
    <ApolloProvider client={api.apollo}>
      <Messenger api={api} onSignOut={() => setSession(null)} />
    </ApolloProvider>
  );
}
