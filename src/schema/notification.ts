import { builder } from './builder.js';
import {
  MAX_PUSH_SUBSCRIPTIONS,
  notificationSettingsOf,
  registerPushSubscription,
  unregisterPushSubscription,
  updateNotificationSettings,
  type NotificationSettingsShape,
} from '../services/notifications.js';

const NotificationSettings = builder.objectRef<NotificationSettingsShape & { effectiveTimeZone: string }>('NotificationSettings').implement({
  description:
    'How the viewer is told of messages left unread while they are offline (NOTIFY_AFTER_S after a message, one notification per conversation and burst).',
  fields: (t) => ({
    email: t.exposeBoolean('email', { description: 'Notifications by email, to the address of the viewer’s token. Default true; the unsubscribe link of an email sets it to false.' }),
    push: t.exposeBoolean('push', { description: 'Web Push notifications to every browser the viewer registered (registerPushSubscription). Default true.' }),
    quietHoursStart: t.exposeString('quietHoursStart', {
      nullable: true,
      description: 'Start of the daily quiet hours ("HH:MM", local time in timeZone); null: none. A notification due in them waits for their end.',
    }),
    quietHoursEnd: t.exposeString('quietHoursEnd', { nullable: true, description: 'End of the quiet hours ("HH:MM"); earlier than the start means overnight (22:00–07:00).' }),
    timeZone: t.exposeString('timeZone', {
      nullable: true,
      description: 'IANA time zone of the quiet hours (such as Europe/Paris); null: the server’s (effectiveTimeZone).',
    }),
    effectiveTimeZone: t.exposeString('effectiveTimeZone', { description: 'The zone the quiet hours are read in: timeZone, or the server’s APP_TIME_ZONE.' }),
  }),
});

const UpdateNotificationSettingsInput = builder.inputType('UpdateNotificationSettingsInput', {
  description: 'Changes to the viewer’s notification settings; a field left out stays as it is.',
  fields: (t) => ({
    email: t.boolean({ required: false, description: 'Email notifications on or off (null: unchanged).' }),
    push: t.boolean({ required: false, description: 'Web Push notifications on or off (null: unchanged).' }),
    quietHoursStart: t.string({ required: false, description: '"HH:MM" (00:00–23:59); null clears it. The window needs both ends: give both the first time; afterwards one end alone moves that end. Different from quietHoursEnd.' }),
    quietHoursEnd: t.string({ required: false, description: '"HH:MM" (00:00–23:59); null clears it. The window needs both ends: give both the first time; afterwards one end alone moves that end.' }),
    timeZone: t.string({ required: false, description: 'An IANA time zone such as Europe/Paris; null: the server’s.' }),
  }),
});

const PushSubscriptionKeysInput = builder.inputType('PushSubscriptionKeysInput', {
  description: 'The keys of a browser PushSubscription (subscription.toJSON().keys).',
  fields: (t) => ({
    p256dh: t.string({ required: true, description: 'The browser’s P-256 public key, base64url (65 bytes uncompressed).' }),
    auth: t.string({ required: true, description: 'The authentication secret, base64url (16 bytes).' }),
  }),
});

const PushSubscriptionInput = builder.inputType('PushSubscriptionInput', {
  description: 'A browser PushSubscription, as subscription.toJSON() gives it, made with the server’s VAPID_PUBLIC_KEY as applicationServerKey.',
  fields: (t) => ({
    endpoint: t.string({ required: true, description: 'The push service URL of the subscription (https).' }),
    keys: t.field({ type: PushSubscriptionKeysInput, required: true, description: 'Its encryption keys.' }),
  }),
});

builder.queryFields((t) => ({
  notificationSettings: t.withAuth({ viewer: true }).field({
    type: NotificationSettings,
    description: 'The viewer’s notification settings (defaults until changed: email and push on, no quiet hours).',
    resolve: async (_root, _args, ctx) => {
      const settings = await notificationSettingsOf(ctx.viewer.id);
      return { ...settings, effectiveTimeZone: settings.timeZone ?? ctx.config.timeZone };
    },
  }),
}));

builder.mutationFields((t) => ({
  updateNotificationSettings: t.withAuth({ viewer: true }).field({
    type: NotificationSettings,
    description:
      'Changes the viewer’s notification settings and returns them. A bad time ("25:00"), an unknown zone, or quiet hours with one end only are BAD_USER_INPUT with `extensions.field`, and nothing is stored. Notifications held by quiet hours are looked at again under the new settings.',
    args: { input: t.arg({ type: UpdateNotificationSettingsInput, required: true, description: 'What to change.' }) },
    resolve: async (_root, { input }, ctx) => {
      const settings = await updateNotificationSettings(ctx.viewer, input);
      return { ...settings, effectiveTimeZone: settings.timeZone ?? ctx.config.timeZone };
    },
  }),
  registerPushSubscription: t.withAuth({ viewer: true }).boolean({
    description: `Keeps a browser's Web Push subscription for the viewer (true). Registering an endpoint again updates its keys (and moves it to the viewer). At most ${MAX_PUSH_SUBSCRIPTIONS} per user: the oldest is forgotten. A subscription whose push service answers 404 or 410 is forgotten. Bad keys or a non-https endpoint: BAD_USER_INPUT.`,
    args: { input: t.arg({ type: PushSubscriptionInput, required: true, description: 'The subscription.' }) },
    resolve: (_root, { input }, ctx) => registerPushSubscription(ctx.viewer, input, ctx.config.webhooks.allowPrivateNetworks),
  }),
  unregisterPushSubscription: t.withAuth({ viewer: true }).boolean({
    description: 'Forgets one of the viewer’s push subscriptions (when the browser unsubscribes or the user logs out); false when the viewer had none with this endpoint.',
    args: { endpoint: t.arg.string({ required: true, description: 'The endpoint given to registerPushSubscription.' }) },
    resolve: (_root, { endpoint }, ctx) => unregisterPushSubscription(ctx.viewer, endpoint),
  }),
}));
