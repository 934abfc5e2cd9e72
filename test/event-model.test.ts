/**
 * A model-based test of the per-user event stream (issue 9). fast-check generates sequences of
 * changes (sends, reads, deletes, edits, reactions, marking unread, conversations created,
 * changed and deleted) made by a salon and its three clients on two instances, with subscribers to
 * `Subscription.events` that drop (the socket cut, as a network does) and resume on either
 * instance, from their last cursor or from an earlier one, and a Redis that is killed and
 * restarted. Once a sequence is over and everything is quiet:
 *
 * - each user's log in PostgreSQL holds, position 1, 2, 3…, exactly the events the model
 *   predicts for the commands, in their order;
 * - what each subscriber applied, keeping its last cursor and ignoring what it had already
 *   applied, is that log: same cursors, same order, no gap, no duplicate, the same facts;
 * - each session delivered exactly the log after the cursor it resumed from, the overlap with
 *   what the client already had included;
 * - `Query.events`, paged from the start, gives the same stream.
 *
 * The one allowed difference is the API's documented one (src/services/event-stream.ts,
 * `deliverable`): an event whose subject is gone when it is read from the log — a message, its
 * edit or reaction, or the update of a conversation deleted since — is skipped, since the conversation's deletion follows.
 * Whether it is skipped depends on timing (a wake-up carries it as committed), so the check
 * allows both for those events, and only for those.
 */
import fc from 'fast-check';
import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventCursorDocument,
  EventsDocument,
  MarkConversationReadDocument,
  MarkMessageReadDocument,
  OnEventsDocument,
  SendMessageDocument,
  type EventCursorQuery,
  type EventsQuery,
  type MarkConversationReadMutation,
  type MarkMessageReadMutation,
  type OnEventsSubscription,
  type SendMessageMutation,
  type ViewerEventFieldsFragment,
} from '../operations/generated/graphql.js';
import { encodeCursor } from '../src/events/cursor.js';
import { readEvents, type LoggedEvent } from '../src/events/log.js';
import { useTestApp, type TestUser } from './support/app.js';
import { codes, openConversation, send } from './support/fixtures.js';
import { privateRedis } from './support/redis.js';
import { connectTab, subscribe, type Subscription, type TrackedWebSocket } from './support/ws.js';

// ---------------------------------------------------------------------------------------------
// A private redis-server this file can kill and restart on the same port.

const { url: redisUrl, start: startRedis, kill: killRedis, isUp: redisIsUp } = await privateRedis();

// Registered before the app's hooks, so Redis starts before the instances, which connect to it
// as they start, and stops after them (vitest runs afterAll hooks in reverse).
beforeAll(startRedis);
afterAll(killRedis);
// A short poll period: after an outage, readers find what they missed within EVENT_POLL_MS.
const t = useTestApp({ REDIS_URL: redisUrl, EVENT_POLL_MS: '200', RATE_LIMIT_SENDS_PER_MIN: '1000000' }, { instances: 2 });

// ---------------------------------------------------------------------------------------------
// The commands fast-check generates. Indexes pick among what exists when the command runs
// (modulo its count), so every sequence is valid and shrinks well.

type Instance = 0 | 1;
interface SendSpec {
  conversation: number;
  bySalon: boolean;
  on: Instance;
}
type Step =
  | ({ do: 'send' } & SendSpec)
  | { do: 'concurrentSends'; sends: SendSpec[] }
  | { do: 'markMessageRead'; message: number; on: Instance }
  | { do: 'markConversationRead'; conversation: number; bySalon: boolean; on: Instance }
  | { do: 'deleteMessage'; message: number; on: Instance }
  | { do: 'editMessage'; message: number; on: Instance }
  | { do: 'react'; message: number; bySalon: boolean; emoji: '👍' | '❤️'; remove: boolean; on: Instance }
  | { do: 'markConversationUnread'; conversation: number; bySalon: boolean; from: number; on: Instance }
  | { do: 'changeConversation'; conversation: number; change: 'rename' | 'archive' | 'reopen'; on: Instance }
  | { do: 'createConversation'; client: number; firstMessage: boolean; on: Instance }
  | { do: 'deleteConversation'; conversation: number; on: Instance }
  | { do: 'drop'; user: number }
  | { do: 'resume'; user: number; from: 'last' | number; on: Instance }
  | { do: 'redisDown' }
  | { do: 'redisUp' };

const CLIENTS = 3;
const USERS = CLIENTS + 1;

// Plain objects, so that a counterexample prints as JSON one can paste.
const record = <T extends object>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record<T>(model, { noNullPrototype: true });
const instance = fc.constantFrom<Instance>(0, 1);
const pick = fc.nat({ max: 40 });
const sendSpec = record<SendSpec>({ conversation: pick, bySalon: fc.boolean(), on: instance });
const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: sendSpec.map((spec): Step => ({ do: 'send', ...spec })) },
  { weight: 2, arbitrary: fc.array(sendSpec, { minLength: 2, maxLength: 3 }).map((sends): Step => ({ do: 'concurrentSends', sends })) },
  { weight: 2, arbitrary: record({ do: fc.constant('markMessageRead' as const), message: pick, on: instance }) },
  { weight: 2, arbitrary: record({ do: fc.constant('markConversationRead' as const), conversation: pick, bySalon: fc.boolean(), on: instance }) },
  { weight: 2, arbitrary: record({ do: fc.constant('deleteMessage' as const), message: pick, on: instance }) },
  { weight: 1, arbitrary: record({ do: fc.constant('editMessage' as const), message: pick, on: instance }) },
  {
    weight: 2,
    arbitrary: record({
      do: fc.constant('react' as const),
      message: pick,
      bySalon: fc.boolean(),
      emoji: fc.constantFrom('👍' as const, '❤️' as const),
      remove: fc.boolean(),
      on: instance,
    }),
  },
  {
    weight: 1,
    arbitrary: record({ do: fc.constant('markConversationUnread' as const), conversation: pick, bySalon: fc.boolean(), from: pick, on: instance }),
  },
  {
    weight: 2,
    arbitrary: record({
      do: fc.constant('changeConversation' as const),
      conversation: pick,
      change: fc.constantFrom('rename' as const, 'archive' as const, 'reopen' as const),
      on: instance,
    }),
  },
  { weight: 1, arbitrary: record({ do: fc.constant('createConversation' as const), client: pick, firstMessage: fc.boolean(), on: instance }) },
  { weight: 1, arbitrary: record({ do: fc.constant('deleteConversation' as const), conversation: pick, on: instance }) },
  { weight: 2, arbitrary: record({ do: fc.constant('drop' as const), user: pick }) },
  {
    weight: 3,
    arbitrary: record({ do: fc.constant('resume' as const), user: pick, from: fc.oneof(fc.constant('last' as const), pick), on: instance }),
  },
  { weight: 1, arbitrary: fc.constant<Step>({ do: 'redisDown' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ do: 'redisUp' }) },
);

// ---------------------------------------------------------------------------------------------
// The model: what exists, and what each user's log must say, as readable signatures
// ("unread.changed conv2 1/3": conversation, that conversation's unread count / the total).

interface ConversationModel {
  id: string;
  label: string;
  salon: TestUser;
  client: TestUser;
  status: 'ACTIVE' | 'ARCHIVED';
  deleted: boolean;
}

interface MessageModel {
  id: string;
  label: string;
  conversation: ConversationModel;
  author: TestUser;
  recipient: TestUser;
  read: boolean;
  deleted: boolean;
  /** "<userId> <emoji>" of each reaction it has. */
  reactions: Set<string>;
}

/** A run of the log in a known order, or the blocks of concurrent commands, each contiguous, in any order. */
type Expected = { inOrder: string[] } | { anyOrder: string[][] };

/** The unread total of an event whose value depends on how concurrent sends interleave. */
const ANY_TOTAL = '*';

type Event = ViewerEventFieldsFragment;

interface Session {
  /** The cursor it resumed from. */
  after: string;
  /** The client's last applied position when it started: events up to it are the expected overlap. */
  lastAtStart: bigint;
  on: Instance;
  tab: { client: Client; socket: TrackedWebSocket };
  stream: Subscription<OnEventsSubscription>;
  /** What it delivered before it was cut (later frames a dropped tab never sees). */
  received?: Event[];
  errors?: unknown[];
}

/** One subscribed app tab of a user: the events it applied, and its sessions. */
interface Follower {
  user: TestUser;
  /** The `eventCursor` it started from, before any change of the run. */
  start: string;
  applied: Event[];
  sessions: Session[];
  live?: Session;
}

interface World {
  salon: TestUser;
  clients: TestUser[];
  users: TestUser[];
  conversations: ConversationModel[];
  messages: MessageModel[];
  expected: Map<string, Expected[]>;
  labels: Map<string, string>;
  followers: Follower[];
  /** What the run did, for the failure report. */
  trace: string[];
}

const positionOf = (cursor: string) => BigInt(Buffer.from(cursor, 'base64url').toString('utf8').split(':')[2]!);

const label = (world: World, id: string) => world.labels.get(id) ?? id;

function unreadOf(world: World, conversation: ConversationModel, user: TestUser): number {
  return world.messages.filter((m) => m.conversation === conversation && m.recipient === user && !m.read && !m.deleted).length;
}

function totalUnreadOf(world: World, user: TestUser): number {
  return world.conversations.filter((c) => !c.deleted).reduce((sum, c) => sum + unreadOf(world, c, user), 0);
}

const sig = {
  created: (c: ConversationModel, m: MessageModel) => `message.created ${c.label} ${m.label}`,
  deleted: (c: ConversationModel, m: MessageModel) => `message.deleted ${c.label} ${m.label}`,
  edited: (c: ConversationModel, m: MessageModel) => `message.edited ${c.label} ${m.label}`,
  reaction: (world: World, c: ConversationModel, m: MessageModel, emoji: string, added: boolean, by: TestUser) =>
    `reaction.changed ${c.label} ${m.label} ${emoji} ${added ? 'added' : 'removed'} by ${label(world, by.id)}`,
  markedUnread: (world: World, c: ConversationModel, ms: MessageModel[], reader: TestUser) =>
    `message.unread ${c.label} ${ms.map((m) => m.label).sort().join(',')} by ${label(world, reader.id)}`,
  read: (world: World, c: ConversationModel, ms: MessageModel[], reader: TestUser) =>
    `message.read ${c.label} ${ms.map((m) => m.label).sort().join(',')} by ${label(world, reader.id)}`,
  unread: (world: World, c: ConversationModel, user: TestUser, total: number | typeof ANY_TOTAL = totalUnreadOf(world, user)) =>
    `unread.changed ${c.label} ${unreadOf(world, c, user)}/${total}`,
  conversationCreated: (c: ConversationModel) => `conversation.created ${c.label}`,
  conversationUpdated: (c: ConversationModel) => `conversation.updated ${c.label}`,
  conversationDeleted: (c: ConversationModel) => `conversation.deleted ${c.label}`,
};

/** Appends what a sequential command tells `user`, in order. */
function tell(world: World, user: TestUser, ...sigs: string[]) {
  const runs = world.expected.get(user.id)!;
  const last = runs.at(-1);
  if (last && 'inOrder' in last) last.inOrder.push(...sigs);
  else runs.push({ inOrder: [...sigs] });
}

/** The signature of a log row, in the model's words. */
function logSignature(world: World, event: LoggedEvent): string {
  const p = event.payload;
  const l = (id: string) => label(world, id);
  switch (p.type) {
    case 'message.created':
      return `message.created ${l(p.conversationId)} ${l(p.messageId)}`;
    case 'message.deleted':
      return `message.deleted ${l(p.conversationId)} ${l(p.messageId)}`;
    case 'message.read':
      return `message.read ${l(p.conversationId)} ${p.messageIds.map(l).sort().join(',')} by ${l(p.readerId)}`;
    case 'message.edited':
      return `message.edited ${l(p.conversationId)} ${l(p.messageId)}`;
    case 'message.unread':
      return `message.unread ${l(p.conversationId)} ${p.messageIds.map(l).sort().join(',')} by ${l(p.readerId)}`;
    case 'reaction.changed':
      return `reaction.changed ${l(p.conversationId)} ${l(p.messageId)} ${p.emoji} ${p.added ? 'added' : 'removed'} by ${l(p.userId)}`;
    case 'unread.changed':
      return `unread.changed ${l(p.conversationId)} ${p.conversationUnread}/${p.totalUnread}`;
    case 'conversation.created':
      return `conversation.created ${l(p.conversationId)}`;
    case 'conversation.updated':
      return `conversation.updated ${l(p.conversationId)}`;
    case 'conversation.deleted':
      return `conversation.deleted ${l(p.conversationId)}`;
    case 'appointment.created':
      return `appointment.created ${l(p.appointmentId)}`;
    case 'appointment.updated':
      return `appointment.updated ${l(p.appointmentId)}`;
    case 'user.updated':
      return `user.updated ${l(p.userId)}`;
    case 'webhook_endpoint.disabled':
      return `webhook_endpoint.disabled ${p.endpointId}`;
  }
}

/** The signature of a delivered event: the same words, from what the API sent. */
function eventSignature(world: World, event: Event): string {
  const p = event.payload;
  const l = (id: string) => label(world, id);
  switch (p.__typename) {
    case 'MessageAddedEvent':
      return `message.created ${l(p.message.conversationId)} ${l(p.message.id)}`;
    case 'MessageDeletedEvent':
      return `message.deleted ${l(p.conversationId)} ${l(p.messageId)}`;
    case 'MessageReadEvent':
      return `message.read ${l(p.conversationId)} ${p.messageIds.map(l).sort().join(',')} by ${l(p.reader.id)}`;
    case 'MessageEditedEvent':
      return `message.edited ${l(p.conversationId)} ${l(p.message.id)}`;
    case 'MessageUnreadEvent':
      return `message.unread ${l(p.conversationId)} ${p.messageIds.map(l).sort().join(',')} by ${l(p.reader.id)}`;
    case 'ReactionChangedEvent':
      return `reaction.changed ${l(p.conversationId)} ${l(p.message.id)} ${p.emoji} ${p.added ? 'added' : 'removed'} by ${l(p.user.id)}`;
    case 'UnreadCountEvent':
      return `unread.changed ${l(p.conversationId)} ${p.conversationUnread}/${p.totalUnread}`;
    case 'ConversationUpdatedEvent':
      return `conversation.${p.created ? 'created' : 'updated'} ${l(p.conversation.id)}`;
    case 'ConversationDeletedEvent':
      return `conversation.deleted ${l(p.conversationId)}`;
    case 'AppointmentCreatedEvent':
      return `appointment.created ${l(p.appointment.id)}`;
    case 'AppointmentUpdatedEvent':
      return `appointment.updated ${l(p.appointment.id)}`;
    case 'UserUpdatedEvent':
      return `user.updated ${l(p.user.id)}`;
    case 'WebhookEndpointDisabledEvent':
      return `webhook_endpoint.disabled ${p.endpointId}`;
  }
}

const matches = (expected: string, actual: string | undefined) =>
  expected.endsWith(`/${ANY_TOTAL}`) ? actual !== undefined && /\/\d+$/.test(actual) && actual.replace(/\d+$/, ANY_TOTAL) === expected : expected === actual;

/**
 * The model's prediction laid out in the order the log chose for concurrent blocks (each block
 * placed where its first event is), wildcards filled in, so that `toEqual` against the log shows
 * a readable diff when they differ.
 */
function arrange(expected: Expected[], actual: readonly string[]): string[] {
  const out: string[] = [];
  for (const run of expected) {
    if ('inOrder' in run) {
      out.push(...run.inOrder);
      continue;
    }
    const blocks = [...run.anyOrder];
    while (blocks.length > 0) {
      const at = out.length;
      const index = Math.max(0, blocks.findIndex((block) => block.every((s, i) => matches(s, actual[at + i]))));
      const [block] = blocks.splice(index, 1);
      out.push(...block!.map((s, i) => (matches(s, actual[at + i]) ? actual[at + i]! : s)));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The commands, run against the two instances, each telling the model what it changed.

async function call<T>(world: World, text: string, variables: Record<string, unknown>, user: TestUser, on: Instance): Promise<T> {
  const response = await t.gql<T>(text, variables, user.token, on);
  if (!response.data || response.errors) {
    throw new Error(`${label(world, user.id)} on instance ${on}: ${text.slice(0, 60)}… → ${JSON.stringify(response.errors)}`);
  }
  return response.data;
}

const alive = (world: World) => world.conversations.filter((c) => !c.deleted);
const messagesAlive = (world: World) => world.messages.filter((m) => !m.conversation.deleted);

function newMessage(world: World, id: string, conversation: ConversationModel, author: TestUser): MessageModel {
  const message: MessageModel = {
    id,
    label: `m${world.messages.length + 1}`,
    conversation,
    author,
    recipient: author === conversation.salon ? conversation.client : conversation.salon,
    read: false,
    deleted: false,
    reactions: new Set(),
  };
  world.labels.set(id, message.label);
  world.messages.push(message);
  return message;
}

async function sendOne(world: World, conversation: ConversationModel, author: TestUser, on: Instance): Promise<MessageModel | null> {
  const response = await t.gql<SendMessageMutation>(
    print(SendMessageDocument),
    { input: { conversationId: conversation.id, content: `from ${label(world, author.id)}` } },
    author.token,
    on,
  );
  if (conversation.status === 'ARCHIVED') {
    // Refused, and a refused change records nothing.
    expect(codes(response), `send to archived ${conversation.label}`).toEqual(['BAD_USER_INPUT']);
    return null;
  }
  if (!response.data) throw new Error(`send in ${conversation.label}: ${JSON.stringify(response.errors)}`);
  return newMessage(world, response.data.sendMessage.id, conversation, author);
}

/** A send's events for each participant: the message, then the recipient's unread count (the message is the conversation's change). */
function sendBlock(world: World, message: MessageModel, user: TestUser, total?: typeof ANY_TOTAL): string[] {
  const c = message.conversation;
  return [sig.created(c, message), ...(user === message.recipient ? [sig.unread(world, c, user, total)] : [])];
}

async function createConversation(world: World, client: TestUser, firstMessage: boolean, on: Instance) {
  const data = await call<{ createConversation: { id: string; lastMessage: { id: string } | null } }>(
    world,
    'mutation($input: CreateConversationInput!) { createConversation(input: $input) { id lastMessage { id } } }',
    { input: { clientUserId: client.id, subject: 'Rendez-vous', ...(firstMessage ? { firstMessage: 'Bienvenue' } : {}) } },
    world.salon,
    on,
  );
  const conversation: ConversationModel = {
    id: data.createConversation.id,
    label: `conv${world.conversations.length + 1}`,
    salon: world.salon,
    client,
    status: 'ACTIVE',
    deleted: false,
  };
  world.labels.set(conversation.id, conversation.label);
  world.conversations.push(conversation);
  const first = data.createConversation.lastMessage ? newMessage(world, data.createConversation.lastMessage.id, conversation, world.salon) : null;
  expect(first !== null, 'firstMessage gives the conversation its message').toBe(firstMessage);
  // One transaction: created, then the first message and the client's unread count.
  tell(world, world.salon, sig.conversationCreated(conversation), ...(first ? [sig.created(conversation, first)] : []));
  tell(world, client, sig.conversationCreated(conversation), ...(first ? [sig.created(conversation, first), sig.unread(world, conversation, client)] : []));
}

async function apply(world: World, step: Step): Promise<void> {
  const conversations = alive(world);
  const conversationAt = (index: number) => conversations[index % conversations.length];
  switch (step.do) {
    case 'send': {
      const conversation = conversationAt(step.conversation);
      if (!conversation) return;
      const author = step.bySalon ? conversation.salon : conversation.client;
      world.trace.push(`send ${conversation.label} by ${label(world, author.id)} on ${step.on}`);
      const message = await sendOne(world, conversation, author, step.on);
      if (!message) return;
      for (const user of [conversation.salon, conversation.client]) tell(world, user, ...sendBlock(world, message, user));
      return;
    }
    case 'concurrentSends': {
      // At most one send per conversation: the order of two sends in one conversation, and so
      // their unread counts, would be the test's guess.
      const chosen = new Map<ConversationModel, SendSpec>();
      for (const spec of step.sends) {
        const conversation = conversationAt(spec.conversation);
        if (conversation && conversation.status === 'ACTIVE' && !chosen.has(conversation)) chosen.set(conversation, spec);
      }
      if (chosen.size === 0) return;
      world.trace.push(
        `concurrently: ${[...chosen].map(([c, spec]) => `send ${c.label} by ${spec.bySalon ? 'salon' : label(world, c.client.id)} on ${spec.on}`).join(' | ')}`,
      );
      const sent = await Promise.all([...chosen].map(([c, spec]) => sendOne(world, c, spec.bySalon ? c.salon : c.client, spec.on)));
      const messages = sent.filter((m): m is MessageModel => m !== null);
      for (const user of world.users) {
        // The salon's total depends on which of the concurrent sends committed first: any number.
        const blocks = messages
          .filter((m) => m.conversation.salon === user || m.conversation.client === user)
          .map((m) => sendBlock(world, m, user, ANY_TOTAL));
        if (blocks.length > 0) world.expected.get(user.id)!.push({ anyOrder: blocks });
      }
      return;
    }
    case 'markMessageRead': {
      const candidates = messagesAlive(world);
      const message = candidates[step.message % Math.max(1, candidates.length)];
      if (!message) return;
      world.trace.push(`markMessageRead ${message.label} by ${label(world, message.recipient.id)} on ${step.on}`);
      await call<MarkMessageReadMutation>(world, print(MarkMessageReadDocument), { id: message.id }, message.recipient, step.on);
      if (message.read || message.deleted) return;
      message.read = true;
      const c = message.conversation;
      const read = sig.read(world, c, [message], message.recipient);
      tell(world, message.recipient, read, sig.unread(world, c, message.recipient));
      tell(world, message.author, read);
      return;
    }
    case 'markConversationRead': {
      const conversation = conversationAt(step.conversation);
      if (!conversation) return;
      const reader = step.bySalon ? conversation.salon : conversation.client;
      world.trace.push(`markConversationRead ${conversation.label} by ${label(world, reader.id)} on ${step.on}`);
      await call<MarkConversationReadMutation>(world, print(MarkConversationReadDocument), { id: conversation.id }, reader, step.on);
      const unread = world.messages.filter((m) => m.conversation === conversation && m.recipient === reader && !m.read && !m.deleted);
      if (unread.length === 0) return;
      for (const m of unread) m.read = true;
      const read = sig.read(world, conversation, unread, reader);
      const other = reader === conversation.salon ? conversation.client : conversation.salon;
      tell(world, reader, read, sig.unread(world, conversation, reader));
      tell(world, other, read);
      return;
    }
    case 'deleteMessage': {
      const candidates = messagesAlive(world);
      const message = candidates[step.message % Math.max(1, candidates.length)];
      if (!message) return;
      world.trace.push(`deleteMessage ${message.label} by ${label(world, message.author.id)} on ${step.on}`);
      await call(world, 'mutation($id: ID!) { deleteMessage(id: $id) }', { id: message.id }, message.author, step.on);
      if (message.deleted) return;
      message.deleted = true;
      // Its reactions go with it, silently: the deletion says it all.
      message.reactions.clear();
      const c = message.conversation;
      const deleted = sig.deleted(c, message);
      tell(world, message.author, deleted);
      tell(world, message.recipient, deleted, ...(message.read ? [] : [sig.unread(world, c, message.recipient)]));
      return;
    }
    case 'editMessage': {
      const candidates = messagesAlive(world).filter((m) => !m.deleted);
      const message = candidates[step.message % Math.max(1, candidates.length)];
      if (!message) return;
      world.trace.push(`editMessage ${message.label} by ${label(world, message.author.id)} on ${step.on}`);
      // A new text each time: the same text again would rightly record nothing.
      await call(world, 'mutation($id: ID!, $content: String!) { editMessage(id: $id, content: $content) { id } }', { id: message.id, content: `edit ${world.trace.length}` }, message.author, step.on);
      for (const user of [message.author, message.recipient]) tell(world, user, sig.edited(message.conversation, message));
      return;
    }
    case 'react': {
      const candidates = messagesAlive(world).filter((m) => !m.deleted);
      const message = candidates[step.message % Math.max(1, candidates.length)];
      if (!message) return;
      const c = message.conversation;
      const by = step.bySalon ? c.salon : c.client;
      const key = `${by.id} ${step.emoji}`;
      world.trace.push(`${step.remove ? 'removeReaction' : 'addReaction'} ${step.emoji} ${message.label} by ${label(world, by.id)} on ${step.on}`);
      await call(
        world,
        `mutation($id: ID!, $emoji: String!) { ${step.remove ? 'removeReaction' : 'addReaction'}(messageId: $id, emoji: $emoji) { id } }`,
        { id: message.id, emoji: step.emoji },
        by,
        step.on,
      );
      // Adding one already there, or removing one that is not, records nothing.
      if (step.remove !== message.reactions.has(key)) return;
      if (step.remove) message.reactions.delete(key);
      else message.reactions.add(key);
      for (const user of [c.salon, c.client]) tell(world, user, sig.reaction(world, c, message, step.emoji, !step.remove, by));
      return;
    }
    case 'markConversationUnread': {
      const conversation = conversationAt(step.conversation);
      if (!conversation) return;
      const inConversation = world.messages.filter((m) => m.conversation === conversation);
      const from = inConversation[step.from % Math.max(1, inConversation.length)];
      if (!from) return;
      const reader = step.bySalon ? conversation.salon : conversation.client;
      world.trace.push(`markConversationUnread ${conversation.label} from ${from.label} by ${label(world, reader.id)} on ${step.on}`);
      await call(
        world,
        'mutation($id: ID!, $from: ID!) { markConversationUnread(id: $id, fromMessageId: $from) { id } }',
        { id: conversation.id, from: from.id },
        reader,
        step.on,
      );
      // world.messages of one conversation are in seq order (concurrent sends never share one).
      const affected = inConversation.slice(inConversation.indexOf(from)).filter((m) => m.recipient === reader && m.read && !m.deleted);
      if (affected.length === 0) return;
      for (const m of affected) m.read = false;
      const marked = sig.markedUnread(world, conversation, affected, reader);
      const other = reader === conversation.salon ? conversation.client : conversation.salon;
      tell(world, reader, marked, sig.unread(world, conversation, reader));
      tell(world, other, marked);
      return;
    }
    case 'changeConversation': {
      const conversation = conversationAt(step.conversation);
      if (!conversation) return;
      world.trace.push(`${step.change} ${conversation.label} on ${step.on}`);
      if (step.change === 'archive') {
        await call(world, 'mutation($id: ID!) { archiveConversation(id: $id) { id status } }', { id: conversation.id }, world.salon, step.on);
        if (conversation.status === 'ARCHIVED') return;
        conversation.status = 'ARCHIVED';
      } else {
        const input = step.change === 'rename' ? { subject: `Renamed ${world.trace.length}` } : { status: 'ACTIVE' };
        await call(world, 'mutation($id: ID!, $input: UpdateConversationInput!) { updateConversation(id: $id, input: $input) { id status } }', { id: conversation.id, input }, world.salon, step.on);
        if (step.change === 'reopen') conversation.status = 'ACTIVE';
      }
      for (const user of [conversation.salon, conversation.client]) tell(world, user, sig.conversationUpdated(conversation));
      return;
    }
    case 'createConversation': {
      const client = world.clients[step.client % world.clients.length]!;
      world.trace.push(`createConversation with ${label(world, client.id)}${step.firstMessage ? ' and a first message' : ''} on ${step.on}`);
      await createConversation(world, client, step.firstMessage, step.on);
      return;
    }
    case 'deleteConversation': {
      // Keep a few to talk in.
      if (conversations.length <= 2) return;
      const conversation = conversationAt(step.conversation)!;
      world.trace.push(`deleteConversation ${conversation.label} on ${step.on}`);
      await call(world, 'mutation($id: ID!) { deleteConversation(id: $id) }', { id: conversation.id }, world.salon, step.on);
      conversation.deleted = true;
      for (const user of [conversation.salon, conversation.client]) {
        tell(world, user, sig.conversationDeleted(conversation), `unread.changed ${conversation.label} 0/${totalUnreadOf(world, user)}`);
      }
      return;
    }
    case 'drop': {
      const follower = world.followers[step.user % world.followers.length]!;
      if (!follower.live) return;
      world.trace.push(`drop ${label(world, follower.user.id)}'s socket`);
      drop(follower);
      return;
    }
    case 'resume': {
      const follower = world.followers[step.user % world.followers.length]!;
      if (follower.live) drop(follower);
      const held = [follower.start, ...follower.applied.map((event) => event.cursor)];
      const after = step.from === 'last' ? held.at(-1)! : held[step.from % held.length]!;
      world.trace.push(
        `resume ${label(world, follower.user.id)} on ${step.on} after ${after === held.at(-1) ? 'its last cursor' : `an earlier cursor (${held.indexOf(after)} of ${held.length - 1})`}`,
      );
      await open(follower, after, step.on);
      return;
    }
    case 'redisDown':
      if (!redisIsUp()) return;
      world.trace.push('Redis killed');
      await killRedis();
      return;
    case 'redisUp':
      if (redisIsUp()) return;
      world.trace.push('Redis restarted');
      await startRedis();
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Subscribers, as an app tab runs them.

const lastApplied = (follower: Follower) => positionOf(follower.applied.at(-1)?.cursor ?? follower.start);

async function open(follower: Follower, after: string, on: Instance): Promise<void> {
  const tab = await connectTab(t.apps[on]!.wsUrl(), { authorization: `Bearer ${follower.user.token}` });
  const stream = subscribe<OnEventsSubscription>(tab.client, OnEventsDocument, { after });
  const session: Session = { after, lastAtStart: lastApplied(follower), on, tab, stream };
  follower.sessions.push(session);
  follower.live = session;
}

/**
 * The network goes: the TCP socket is destroyed, no `complete`. The tab keeps what it received;
 * of it, it applies what is past its last cursor (the rest is the overlap of an earlier resume).
 */
function drop(follower: Follower): void {
  const session = follower.live;
  if (!session) return;
  follower.live = undefined;
  session.tab.socket.tcp!.destroy();
  session.received = session.stream.events.map((result) => result.events);
  session.errors = [...session.stream.errors];
  for (const event of session.received) {
    if (positionOf(event.cursor) > lastApplied(follower)) follower.applied.push(event);
  }
  void session.tab.client.dispose();
}

// ---------------------------------------------------------------------------------------------
// One run: a fresh salon and clients, their tabs subscribed, the steps, then the checks.

async function eventCursor(user: TestUser): Promise<string> {
  const response = await t.gql<EventCursorQuery>(print(EventCursorDocument), {}, user.token);
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.eventCursor;
}

async function newWorld(tabsOn: readonly Instance[]): Promise<World> {
  const salon = await t.user('SALON', 'Salon');
  const clients: TestUser[] = [];
  for (let i = 0; i < CLIENTS; i++) clients.push(await t.user('CLIENT', 'Client'));
  const users = [salon, ...clients];
  const world: World = {
    salon,
    clients,
    users,
    conversations: [],
    messages: [],
    expected: new Map(users.map((user) => [user.id, []])),
    labels: new Map(users.map((user, i) => [user.id, i === 0 ? 'salon' : `client${i}`])),
    followers: [],
    trace: [],
  };
  for (const [i, user] of users.entries()) {
    const follower: Follower = { user, start: await eventCursor(user), applied: [], sessions: [] };
    world.followers.push(follower);
    await open(follower, follower.start, tabsOn[i]!);
  }
  // Created after the tabs took their cursor: the catch-up (or live delivery) must bring these too.
  for (const [i, client] of clients.entries()) await createConversation(world, client, i % 2 === 0, (i % 2) as Instance);
  return world;
}

/** The user's whole log as PostgreSQL holds it, oldest first. */
async function logOf(user: TestUser): Promise<LoggedEvent[]> {
  return readEvents(user.id, 0n, 100_000);
}

/** Events the API may skip: the subject (message or conversation) was deleted with its conversation. */
function skippable(world: World, event: LoggedEvent): boolean {
  const gone = world.conversations.some((c) => c.deleted && c.id === event.conversationId);
  return gone && ['message.created', 'message.edited', 'reaction.changed', 'conversation.created', 'conversation.updated'].includes(event.type);
}

/** `delivered`, as cursors and facts, must be `log` minus some of its skippable events, in order. */
function expectLogMinusSkippable(world: World, what: string, delivered: readonly Event[], log: readonly LoggedEvent[], user: TestUser) {
  const got = new Set(delivered.map((event) => event.cursor));
  const wanted = log.filter((event) => !skippable(world, event) || got.has(encodeCursor(user.id, event.position)));
  expect(delivered.map((event) => event.cursor), what).toEqual(wanted.map((event) => encodeCursor(user.id, event.position)));
  expect(delivered.map((event) => eventSignature(world, event)), `${what}: the facts`).toEqual(wanted.map((event) => logSignature(world, event)));
}

/** Everything quiet, Redis up, every tab subscribed: each has received the whole log (bar skipped events). */
async function settle(world: World, logs: Map<string, LoggedEvent[]>): Promise<void> {
  for (const [i, follower] of world.followers.entries()) {
    if (!follower.live) await open(follower, follower.applied.at(-1)?.cursor ?? follower.start, (i % 2) as Instance);
  }
  const missing = (follower: Follower) => {
    const seen = positionOf(follower.live!.stream.events.at(-1)?.events.cursor ?? follower.live!.after);
    const last = lastApplied(follower) > seen ? lastApplied(follower) : seen;
    return logs.get(follower.user.id)!.filter((event) => !skippable(world, event) && event.position > last);
  };
  const caughtUp = () => world.followers.every((follower) => missing(follower).length === 0);
  // A subscription that ended (graphql-ws `error`: a list of errors; or a close) will not catch
  // up: no need to wait for it. An event's own errors (with a `path`) do not end it.
  const ends = (error: unknown) => Array.isArray(error) || !(error as { path?: unknown }).path;
  const failed = () => world.followers.some((follower) => follower.live!.stream.errors.some(ends));
  try {
    await expect.poll(() => caughtUp() || failed(), { timeout: 15_000 }).toBe(true);
    const ended = world.followers.filter((follower) => follower.live!.stream.errors.some(ends));
    expect(
      ended.map((follower) => `${label(world, follower.user.id)}: ${JSON.stringify(follower.live!.stream.errors)}`),
      'subscriptions that ended in error (the others may not have caught up yet)',
    ).toEqual([]);
    expect(world.followers.map((follower) => missing(follower).length), 'events not received').toEqual(world.followers.map(() => 0));
  } catch (error) {
    const report = world.followers.map((follower) => {
      const sessions = follower.sessions.map(
        (session) =>
          `    after ${positionOf(session.after)} on ${session.on}: ${(session.received ?? session.stream.events.map((result) => result.events))
            .map((event) => positionOf(event.cursor))
            .join(',')}; errors ${JSON.stringify(session.errors ?? session.stream.errors)}`,
      );
      const lacking = missing(follower).map((event) => `${event.position} ${logSignature(world, event)}`);
      return `  ${label(world, follower.user.id)} lacks [${lacking.join('; ')}]\n${sessions.join('\n')}`;
    });
    (error as Error).message += `\n\nSubscribers:\n${report.join('\n')}`;
    throw error;
  }
  for (const follower of world.followers) drop(follower);
}

async function pagedEvents(user: TestUser, after: string): Promise<Event[]> {
  const events: Event[] = [];
  for (let cursor = after, page = 0; ; page++) {
    const response = await t.gql<EventsQuery>(print(EventsDocument), { after: cursor, first: 7 }, user.token, (page % 2) as Instance);
    if (!response.data) throw new Error(JSON.stringify(response.errors));
    events.push(...response.data.events.edges.map((edge) => edge.node));
    cursor = response.data.events.pageInfo.endCursor!;
    if (!response.data.events.pageInfo.hasNextPage) return events;
  }
}

async function verify(world: World, logs: Map<string, LoggedEvent[]>): Promise<void> {
  for (const user of world.users) {
    const who = label(world, user.id);
    const log = logs.get(user.id)!;
    expect(log.map((event) => event.position), `${who}'s log positions`).toEqual(log.map((_, i) => BigInt(i + 1)));
    const actual = log.map((event) => logSignature(world, event));
    expect(actual, `${who}'s log against the model`).toEqual(arrange(world.expected.get(user.id)!, actual));
    // An inbox badge is the total of the last unread count applied: each one must be the sum of
    // the conversation counts the log has stated so far (concurrent sends included), and the
    // last one the user's total once everything is quiet.
    // (A deleted conversation's last unread.changed says 0.)
    const counts = new Map<string, number>();
    const totals = log.flatMap(({ payload }) => {
      if (payload.type !== 'unread.changed') return [];
      counts.set(payload.conversationId, payload.conversationUnread);
      return [{ stated: payload.totalUnread, summed: [...counts.values()].reduce((a, b) => a + b, 0) }];
    });
    expect(totals.map((entry) => entry.stated), `${who}'s totalUnread along the log`).toEqual(totals.map((entry) => entry.summed));
    if (totals.length > 0) expect(totals.at(-1)!.stated, `${who}'s last totalUnread against the model`).toBe(totalUnreadOf(world, user));
  }
  for (const follower of world.followers) {
    const user = follower.user;
    const who = label(world, user.id);
    const log = logs.get(user.id)!;
    for (const [n, session] of follower.sessions.entries()) {
      const what = `${who}'s session ${n} (instance ${session.on}, after position ${positionOf(session.after)})`;
      expect(session.errors, `${what}: errors`).toEqual([]);
      const received = session.received!;
      const from = positionOf(session.after);
      const through = received.length > 0 ? positionOf(received.at(-1)!.cursor) : from;
      expectLogMinusSkippable(world, what, received, log.filter((e) => e.position > from && e.position <= through), user);
      // A resume from an earlier cursor: the overlap it delivered is exactly what the tab had
      // applied after that cursor (up to where the session got before it was cut).
      if (from < session.lastAtStart) {
        const end = through < session.lastAtStart ? through : session.lastAtStart;
        const inOverlap = (event: Event) => positionOf(event.cursor) > from && positionOf(event.cursor) <= end;
        const firm = (events: readonly Event[]) =>
          events.filter((event) => inOverlap(event) && !skippable(world, log[Number(positionOf(event.cursor)) - 1]!)).map((event) => event.cursor);
        expect(firm(received), `${what}: the overlap`).toEqual(firm(follower.applied));
      }
    }
    expectLogMinusSkippable(world, `${who}'s applied events`, follower.applied, log, user);
    expectLogMinusSkippable(
      world,
      `${who}'s Query.events pages`,
      await pagedEvents(user, follower.start),
      log.filter((event) => !skippable(world, event)),
      user,
    );
  }
}

async function teardown(world: World | undefined): Promise<void> {
  for (const follower of world?.followers ?? []) {
    const session = follower.live;
    follower.live = undefined;
    if (session) await session.tab.client.dispose();
  }
  if (!redisIsUp()) await startRedis();
}

async function run(tabsOn: readonly Instance[], steps: readonly Step[]): Promise<void> {
  let world: World | undefined;
  try {
    world = await newWorld(tabsOn);
    for (const step of steps) await apply(world, step);
    if (!redisIsUp()) {
      world.trace.push('Redis restarted (end of run)');
      await startRedis();
    }
    const logs = new Map<string, LoggedEvent[]>();
    for (const user of world.users) logs.set(user.id, await logOf(user));
    await settle(world, logs);
    await verify(world, logs);
  } catch (error) {
    if (world) (error as Error).message += `\n\nWhat the run did:\n  ${world.trace.join('\n  ')}`;
    throw error;
  } finally {
    await teardown(world);
  }
}

/** FC_RUNS raises the number of sequences (to hunt); FC_SEED and FC_PATH replay one fast-check reported. */
const RUNS = Number(process.env.FC_RUNS ?? 6);
/** Shrinking restarts a world per attempt: bounded, so that a failure is reported rather than timed out. */
const TIME_LIMIT_MS = Math.max(30_000, RUNS * 1_000);

describe('the event stream against its model', () => {
  it(
    'random changes on two instances, subscribers dropping and resuming, Redis killed and restarted: each subscriber applies its log exactly',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(instance, { minLength: USERS, maxLength: USERS }),
          fc.array(stepArbitrary, { minLength: 20, maxLength: 60 }),
          run,
        ),
        {
          numRuns: RUNS,
          ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
          ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
          plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS)],
        },
      );
    },
    TIME_LIMIT_MS + 60_000,
  );

  // What the property found first, made deterministic: a catch-up read checks that each event's
  // subject exists, then resolves each event's message or conversation as it is delivered; a
  // deletion committed in between turned them into NOT_FOUND results instead of skipped events.
  it('a conversation deleted while a subscriber catches up on it: its events are skipped, never sent as errors', async () => {
    const salon = await t.user('SALON', 'Salon');
    const client = await t.user('CLIENT', 'Client');
    const start = await eventCursor(salon);
    const conversationId = await openConversation(t, salon, client);
    for (let i = 0; i < 20; i++) await send(t, client, conversationId, `message ${i}`);
    const tab = await connectTab(t.apps[1]!.wsUrl(), { authorization: `Bearer ${salon.token}` });
    try {
      const stream = subscribe<OnEventsSubscription>(tab.client, OnEventsDocument, { after: start });
      await stream.waitFor(1);
      const deleted = await t.gql('mutation($id: ID!) { deleteConversation(id: $id) }', { id: conversationId }, salon.token, 0);
      expect(deleted.errors).toBeUndefined();
      const log = await logOf(salon);
      const cursor = (event: LoggedEvent) => encodeCursor(salon.id, event.position);
      await expect.poll(() => stream.events.at(-1)?.events.cursor).toBe(cursor(log.at(-1)!));
      expect(stream.errors).toEqual([]);
      const received = new Set(stream.events.map((result) => result.events.cursor));
      const aboutTheDeleted = (event: LoggedEvent) => ['message.created', 'conversation.created', 'conversation.updated'].includes(event.type);
      expect([...received]).toEqual(log.filter((event) => !aboutTheDeleted(event) || received.has(cursor(event))).map(cursor));
    } finally {
      await tab.client.dispose();
    }
  });
});
