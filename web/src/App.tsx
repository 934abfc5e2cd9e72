import { ApolloProvider } from '@apollo/client/react';
import { useEffect, useState } from 'react';
import { createApi, type Api } from './apollo';
import { Messenger } from './Messenger';
import { loadSession, saveSession } from './session';
import { SignIn } from './SignIn';

export function App() {
  const [session, setSession] = useState(loadSession);
  const [api, setApi] = useState<Api>();

  useEffect(() => {
    saveSession(session);
    if (!session) return setApi(undefined);
    const created = createApi(session.token, () => setSession(null));
    setApi(created);
    return () => created.dispose();
  }, [session]);

  if (!session) return <SignIn onSignedIn={setSession} />;
  if (!api) return null;
  return (
    <ApolloProvider client={api.apollo}>
      <Messenger session={session} api={api} onSignOut={() => setSession(null)} />
    </ApolloProvider>
  );
}

