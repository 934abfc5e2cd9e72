import { describe, expect, it } from 'vitest';
import { OnEventsDocument, type OnEventsSubscription } from '../operations/generated/graphql.js';
import { onQuery } from '../src/db.js';
import { useTestApp } from './support/app.js';
import { openConversation, send } from './support/fixtures.js';
import { liveTopics, subscribe, untilLive, wsClient } from './support/ws.js';

const t = useTestApp();

/** The statements a send and everything it sets off run, background sweeps aside. */
async function statementsOf(action: () => Promise<unknown>, settled: () => boolean): Promise<string[]> {
  const statements: string[] = [];
  const stop = onQuery((sql) => void (sql.startsWith('/* background:') || statements.push(sql.replace(/\s+/g, ' '))));
  try {
    await action();
    await expect.poll(settled).toBe(true);
  } finally {
    stop();
  }
  return statements;
}

describe('delivering a new message to a live subscriber', () => {
  it('runs no statement with the shipped OnEvents document: the wake-up carried the message, its files and author, and its reactions are none yet', async () => {
    const salon = await t.user('SALON');
    const clients = [await t.user('CLIENT')];
    const followed = await openConversation(t, salon, clients[0]!);
    // A first send: a later one is the steady state measured below.
    await send(t, salon, followed, 'first');

    const ws = wsClient(t.app.wsUrl(), { authorization: `Bearer ${clients[0]!.token}` });
    const before = await liveTopics(t.app);
    // Connected, subscribed, and announced online (presence's statement runs after the socket is
    // acknowledged): nothing of the connection is left to run inside the windows measured below.
    const connecting: string[] = [];
    const stopConnecting = onQuery((sql) => void connecting.push(sql));
    const stream = subscribe<OnEventsSubscription>(ws, OnEventsDocument, {});
    await untilLive(t.app, before, 1);
    await expect.poll(() => connecting.some((sql) => sql.includes('AS "contacts"'))).toBe(true);
    stopConnecting();
    // One message delivered live first: the subscription has read its log since connecting (a
    // send committed before that read would be read from the log, as it must) and waits live.
    await send(t, salon, followed, 'live now');
    const added = () => stream.events.filter((event) => event.events.payload.__typename === 'MessageAddedEvent');
    await expect.poll(() => added().length).toBe(1);

    // From the send to the client holding the event: everything a delivery would read.
    const delivered = await statementsOf(
      () => send(t, salon, followed!, 'À demain 10h'),
      () => added().length === 2,
    );
    const latest = added()[1]!.events.payload;
    expect(latest.__typename === 'MessageAddedEvent' && latest.message).toMatchObject({
      content: 'À demain 10h',
      author: { id: salon.id, displayName: 'Salon Test' },
      attachments: [],
      reactions: [],
    });
    // Before: a read of the message with its author and files, and one of its reactions, for each
    // delivery. Only the send's own statement touches those tables now (a notification's
    // bookkeeping, when the recipient is offline, is another table and comes after the answer).
    const reads = delivered.filter((sql) => !sql.startsWith('/* prepared:send */') && /"(Message|MessageAttachment|MessageReaction|User|UserEvent|UserEventStream)"/.test(sql));
    expect(reads).toEqual([]);
    expect(delivered.filter((sql) => sql.startsWith('/* prepared:send */'))).toHaveLength(1);
    expect(stream.errors).toEqual([]);
    await ws.dispose();
  });
});

describe('a socket that connects and follows its events', () => {
  it('runs three statements: who its contacts are (presence), where its log stands, and the log since (empty)', async () => {
    const salon = await t.user('SALON');
    const client = await t.user('CLIENT');
    await openConversation(t, salon, client);
    // The user is known to this instance (it has seen their token): the steady state of a reconnect.
    await t.gql('{ me { id } }', {}, client.token);
    const statements: string[] = [];
    const stop = onQuery((sql) => void (sql.startsWith('/* background:') || statements.push(sql.replace(/\s+/g, ' '))));
    const ws = wsClient(t.app.wsUrl(), { authorization: `Bearer ${client.token}` });
    try {
      const before = await liveTopics(t.app);
      subscribe<OnEventsSubscription>(ws, OnEventsDocument, {});
      await untilLive(t.app, before, 1);
      await expect.poll(() => statements.length).toBeGreaterThanOrEqual(3);
      expect(statements.length, statements.join('\n')).toBe(3);
    } finally {
      stop();
      await ws.dispose();
    }
  });
});
