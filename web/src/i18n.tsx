import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';

/** The app's strings: one dictionary per language, the same keys in each (TypeScript checks it). */
const en = {
  appName: 'Salon messages',
  language: 'Language',
  signInTitle: 'Development sign-in',
  signInHelp: 'Pick a user of the local database (“npm run seed” creates the demo salon and clients).',
  salons: 'Salons',
  clients: 'Clients',
  noUsers: 'No users yet: run “npm run seed”.',
  signInFailed: 'Sign-in failed: is the API running with its development secret?',
  loadingUsers: 'Loading users…',
  sessionRefused: 'You were signed out: the API refused the session (expired, or from another database). Sign in again.',
  signOut: 'Sign out',
  signedInAs: 'Signed in as',
  inbox: 'Conversations',
  active: 'Active',
  archived: 'Archived',
  filter: 'Show',
  noConversations: 'No conversations.',
  loading: 'Loading…',
  loadMore: 'Load more',
  loadFailed: 'Could not load: check the connection.',
  notFound: 'Conversation not found: it was deleted, or is not yours.',
  reactionFailed: 'The reaction was not saved.',
  rateLimited: 'Too many changes at once: wait a moment.',
  unread: (n: number) => `${n} unread`,
  online: 'online',
  offline: 'offline',
  typing: (name: string) => `${name} is typing…`,
  you: 'You',
  back: 'Back to conversations',
  chooseConversation: 'Choose a conversation.',
  messages: 'Messages',
  loadingOlder: 'Loading earlier messages…',
  beginning: 'Beginning of the conversation',
  messageLabel: 'Message',
  send: 'Send',
  sending: 'Sending…',
  sent: 'Sent',
  read: 'Read',
  notSent: 'Not sent.',
  retry: 'Retry',
  deleted: 'Message deleted',
  edited: 'edited',
  attachment: 'Attachment',
  react: 'Add a reaction',
  reaction: (emoji: string, count: number, mine: boolean) => `${emoji} ${count}${mine ? ', including you: remove yours' : ': add yours'}`,
  today: 'Today',
  yesterday: 'Yesterday',
  networkOffline: 'Offline: new messages will arrive when the connection is back.',
  archivedNotice: 'This conversation is archived: no new messages.',
};

type Dictionary = typeof en;

const fr: Dictionary = {
  appName: 'Messages du salon',
  language: 'Langue',
  signInTitle: 'Connexion de développement',
  signInHelp: 'Choisissez un utilisateur de la base locale (« npm run seed » crée le salon et les clients de démonstration).',
  salons: 'Salons',
  clients: 'Clients',
  noUsers: 'Aucun utilisateur : lancez « npm run seed ».',
  signInFailed: 'Connexion impossible : l’API tourne-t-elle avec son secret de développement ?',
  loadingUsers: 'Chargement des utilisateurs…',
  sessionRefused: 'Vous avez été déconnecté : l’API a refusé la session (expirée, ou d’une autre base). Reconnectez-vous.',
  signOut: 'Se déconnecter',
  signedInAs: 'Connecté en tant que',
  inbox: 'Conversations',
  active: 'Actives',
  archived: 'Archivées',
  filter: 'Afficher',
  noConversations: 'Aucune conversation.',
  loading: 'Chargement…',
  loadMore: 'Afficher plus',
  loadFailed: 'Chargement impossible : vérifiez la connexion.',
  notFound: 'Conversation introuvable : elle a été supprimée, ou n’est pas la vôtre.',
  reactionFailed: 'La réaction n’a pas été enregistrée.',
  rateLimited: 'Trop de changements à la fois : patientez un instant.',
  unread: (n) => `${n} non lu${n > 1 ? 's' : ''}`,
  online: 'en ligne',
  offline: 'hors ligne',
  typing: (name) => `${name} écrit…`,
  you: 'Vous',
  back: 'Retour aux conversations',
  chooseConversation: 'Choisissez une conversation.',
  messages: 'Messages',
  loadingOlder: 'Chargement des messages précédents…',
  beginning: 'Début de la conversation',
  messageLabel: 'Message',
  send: 'Envoyer',
  sending: 'Envoi…',
  sent: 'Envoyé',
  read: 'Lu',
  notSent: 'Non envoyé.',
  retry: 'Réessayer',
  deleted: 'Message supprimé',
  edited: 'modifié',
  attachment: 'Pièce jointe',
  react: 'Ajouter une réaction',
  reaction: (emoji, count, mine) => `${emoji} ${count}${mine ? ', dont vous : retirer la vôtre' : ' : ajouter la vôtre'}`,
  today: 'Aujourd’hui',
  yesterday: 'Hier',
  networkOffline: 'Hors connexion : les nouveaux messages arriveront au retour du réseau.',
  archivedNotice: 'Cette conversation est archivée : plus de nouveaux messages.',
};

export type Language = 'en' | 'fr';
const dictionaries: Record<Language, Dictionary> = { en, fr };
const STORAGE_KEY = 'salon.language';

function initialLanguage(): Language {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === 'en' || saved === 'fr') return saved;
  return navigator.language.toLowerCase().startsWith('fr') ? 'fr' : 'en';
}

const LanguageContext = createContext<{ language: Language; setLanguage(language: Language): void }>({
  language: 'en',
  setLanguage: () => undefined,
});

export function LanguageProvider({ children }: { children: ReactNode }) {
  const [language, setLanguage] = useState(initialLanguage);
  useEffect(() => {
    document.documentElement.lang = language;
    localStorage.setItem(STORAGE_KEY, language);
  }, [language]);
  return <LanguageContext value={{ language, setLanguage }}>{children}</LanguageContext>;
}

/** The strings of the current language, and the language itself (for dates). */
export function useT(): Dictionary & { language: Language } {
  const { language } = useContext(LanguageContext);
  return { ...dictionaries[language], language };
}

export function LanguageSwitch() {
  const { language, setLanguage } = useContext(LanguageContext);
  const t = dictionaries[language];
  return (
    <label className="language">
      <span className="visually-hidden">{t.language}</span>
      <select value={language} onChange={(event) => setLanguage(event.target.value as Language)} aria-label={t.language}>
        <option value="en" lang="en">English</option>
        <option value="fr" lang="fr">Français</option>
      </select>
    </label>
  );
}
