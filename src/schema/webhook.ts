import { db } from '../db.js';
import { requireId } from '../services/validation.js';
import {
  createEndpoint,
  deleteEndpoint,
  endpointForOwner,
  retryDelivery,
  rotateSecret,
  updateEndpoint,
} from '../services/webhooks.js';
import { forbidden } from '../errors.js';
import { WEBHOOK_EVENT_TYPES } from '../webhooks/events.js';
import { builder, pageComplexity, pageLimit, viewerRef } from './builder.js';
import { withSelection } from './selection.js';

const EVENT_TYPES_TEXT = WEBHOOK_EVENT_TYPES.join(', ');

const WebhookEndpointRef = builder.prismaObject('WebhookEndpoint', {
  description:
    "A partner's HTTPS URL that receives this salon's events, signed per the Standard Webhooks specification (see the README's partner section).",
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier (a UUID).' }),
    url: t.exposeString('url', { description: 'Where deliveries are POSTed.' }),
    description: t.exposeString('description', { nullable: true, description: 'A note for the salon, e.g. which system this is.' }),
    eventTypes: t.exposeStringList('eventTypes', { description: `The event types it receives, among: ${EVENT_TYPES_TEXT}.` }),
    enabled: t.boolean({
      description: 'False once disabled, by its owner or after failing every attempt for 5 days (WEBHOOK_DISABLE_AFTER_S); disabled, it receives nothing.',
      resolve: (endpoint) => endpoint.disabledAt === null,
    }),
    disabledAt: t.expose('disabledAt', { type: 'DateTime', nullable: true, description: 'When it was disabled; null while enabled.' }),
    disabledReason: t.exposeString('disabledReason', { nullable: true, description: 'Why it was disabled; null while enabled.' }),
    previousSecretExpiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'After a rotation: until when the previous secret still signs beside the new one; null when only one secret signs.',
      resolve: (endpoint) =>
        endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > new Date() ? endpoint.previousSecretExpiresAt : null,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was registered.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it last changed.' }),
  }),
});

const WebhookDeliveryStatusEnum = builder.enumType('WebhookDeliveryStatus', {
  description: 'Where a delivery stands.',
  values: {
    PENDING: { description: 'Not delivered yet; `nextAttemptAt` says when the next attempt runs.' },
    SUCCEEDED: { description: 'An attempt got a 2xx answer in time.' },
    FAILED: { description: 'Every attempt of the retry schedule failed, or the endpoint was disabled; `retryWebhookDelivery` tries again.' },
  } as const,
});

builder.prismaObject('WebhookAttempt', {
  description: 'One HTTP attempt of a delivery.',
  fields: (t) => ({
    attemptedAt: t.expose('attemptedAt', { type: 'DateTime', description: 'When the request was sent.' }),
    responseStatus: t.exposeInt('responseStatus', { nullable: true, description: 'The HTTP status answered; null when there was no answer.' }),
    durationMs: t.exposeInt('durationMs', { description: 'From sending the request to the answer (or the error), in milliseconds.' }),
    error: t.exposeString('error', {
      nullable: true,
      description: 'Why it failed: the non-2xx status, a timeout, a refused connection or destination; null on success.',
    }),
    responseBody: t.exposeString('responseBody', { nullable: true, description: 'The first 1 KB of the answer body, as text.' }),
  }),
});

const WebhookDeliveryRef = builder.prismaObject('WebhookDelivery', {
  description: 'One event for one endpoint, with its attempts.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable identifier (a UUID); also its `webhook-id` header, the same on every attempt.' }),
    eventType: t.exposeString('eventType', { description: 'The event type, e.g. message.created.' }),
    payload: t.exposeString('payload', { description: 'The exact JSON body every attempt sends: { "type", "timestamp", "data" }.' }),
    status: t.expose('status', { type: WebhookDeliveryStatusEnum, description: 'PENDING, SUCCEEDED or FAILED.' }),
    attemptCount: t.exposeInt('attemptCount', { description: 'Attempts made so far.' }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true, description: 'When the next attempt is due; null once SUCCEEDED or FAILED.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the event became this delivery.' }),
    attempts: t.relation('attempts', {
      description: 'Its attempts, oldest first.',
      query: { orderBy: [{ attemptedAt: 'asc' as const }, { id: 'asc' as const }] },
    }),
  }),
});

const WebhookEndpointConnection = builder.connectionObject(
  { type: WebhookEndpointRef, name: 'WebhookEndpointConnection', description: 'A page of webhook endpoints.' },
  { name: 'WebhookEndpointEdge', description: 'An endpoint in a page.' },
);

const WebhookDeliveryConnection = builder.connectionObject(
  { type: WebhookDeliveryRef, name: 'WebhookDeliveryConnection', description: 'A page of webhook deliveries.' },
  { name: 'WebhookDeliveryEdge', description: 'A delivery in a page.' },
);

const CreateWebhookEndpointInput = builder.inputType('CreateWebhookEndpointInput', {
  description: 'An endpoint to register.',
  fields: (t) => ({
    url: t.string({
      description:
        'Where to POST: an absolute URL, https in production, whose host resolves to public addresses only (unless WEBHOOK_ALLOW_PRIVATE_NETWORKS=true); at most 2048 characters.',
    }),
    eventTypes: t.stringList({ description: `The event types to receive (at least one), among: ${EVENT_TYPES_TEXT}.` }),
    description: t.string({ required: false, description: 'A note for the salon, at most 500 characters.' }),
  }),
});

const UpdateWebhookEndpointInput = builder.inputType('UpdateWebhookEndpointInput', {
  description: 'What to change; an omitted field stays as it is.',
  fields: (t) => ({
    url: t.string({ required: false, description: 'A new URL (same rules as at creation).' }),
    eventTypes: t.stringList({ required: false, description: 'A new list of event types (at least one).' }),
    description: t.string({ required: false, description: 'A new note; null clears it.' }),
    enabled: t.boolean({
      required: false,
      description: 'false disables it; true re-enables it, and it receives events from then on (not those of the disabled time).',
    }),
  }),
});

interface SecretPayloadShape {
  endpoint: { id: string };
  secret: string;
}

const CreateWebhookEndpointPayload = builder.objectRef<SecretPayloadShape>('CreateWebhookEndpointPayload').implement({
  description: 'The new endpoint and its signing secret.',
  fields: (t) => ({
    endpoint: t.prismaField({
      type: 'WebhookEndpoint',
      description: 'The endpoint.',
      resolve: (query, payload) => db.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: payload.endpoint.id } }),
    }),
    secret: t.exposeString('secret', { description: 'The signing secret (whsec_…), shown this once: keep it where the receiver reads it.' }),
  }),
});

const RotateWebhookSecretPayload = builder.objectRef<SecretPayloadShape>('RotateWebhookSecretPayload').implement({
  description: 'The endpoint and its new signing secret.',
  fields: (t) => ({
    endpoint: t.prismaField({
      type: 'WebhookEndpoint',
      description: 'The endpoint (previousSecretExpiresAt says until when the old secret still signs).',
      resolve: (query, payload) => db.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: payload.endpoint.id } }),
    }),
    secret: t.exposeString('secret', {
      description: 'The new signing secret (whsec_…), shown this once. Until the overlap ends both secrets sign each delivery (two v1 signatures).',
    }),
  }),
});

builder.queryFields((t) => ({
  webhookEndpoints: t.withAuth({ viewer: true }).prismaConnection(
    {
      type: 'WebhookEndpoint',
      description: "The viewer's webhook endpoints, oldest first (salon accounts; a client account gets FORBIDDEN).",
      cursor: 'id',
      defaultSize: 20,
      maxSize: pageLimit,
      complexity: pageComplexity(20),
      resolve: (query, _root, _args, ctx) => {
        if (ctx.viewer.role !== 'SALON') throw forbidden('Only salon accounts have webhook endpoints');
        return db.webhookEndpoint.findMany({ ...query, where: { ownerId: ctx.viewer.id }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
      },
    },
    viewerRef(WebhookEndpointConnection),
  ),
  webhookDeliveries: t.withAuth({ viewer: true }).prismaConnection(
    {
      type: 'WebhookDelivery',
      description: "An endpoint's deliveries, newest event first; another salon's endpoint is NOT_FOUND.",
      cursor: 'id',
      defaultSize: 20,
      maxSize: pageLimit,
      complexity: pageComplexity(20),
      args: {
        endpointId: t.arg.id({ description: 'The endpoint.' }),
        status: t.arg({ type: WebhookDeliveryStatusEnum, required: false, description: 'Only deliveries in this state.' }),
      },
      resolve: async (query, _root, args, ctx) => {
        const endpoint = await endpointForOwner(ctx.viewer, String(args.endpointId));
        return db.webhookDelivery.findMany({
          ...query,
          where: { endpointId: endpoint.id, ...(args.status ? { status: args.status } : {}) },
          orderBy: [{ eventPosition: 'desc' }],
        });
      },
    },
    viewerRef(WebhookDeliveryConnection),
  ),
}));

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.withAuth({ viewer: true }).field({
    type: CreateWebhookEndpointPayload,
    description:
      'Registers an endpoint (salon accounts) that receives the events of the given types from now on; the answer holds its signing secret, shown once.',
    args: { input: t.arg({ type: CreateWebhookEndpointInput, description: 'The endpoint.' }) },
    resolve: (_root, { input }, ctx) => createEndpoint(ctx.viewer, input, ctx.config, ctx.webhooks),
  }),
  updateWebhookEndpoint: t.withAuth({ viewer: true }).prismaField({
    type: 'WebhookEndpoint',
    description: 'Changes an endpoint: URL, event types, note, enabled.',
    args: {
      id: t.arg.id({ description: 'The endpoint.' }),
      input: t.arg({ type: UpdateWebhookEndpointInput, description: 'What to change.' }),
    },
    resolve: async (query, _root, { id, input }, ctx) =>
      withSelection(query, await updateEndpoint(ctx.viewer, String(id), input, ctx.config, ctx.webhooks), (args) =>
        db.webhookEndpoint.findUniqueOrThrow(args),
      ),
  }),
  rotateWebhookSecret: t.withAuth({ viewer: true }).field({
    type: RotateWebhookSecretPayload,
    description:
      'Gives an endpoint a new signing secret; the previous one keeps signing beside it for 24 hours (WEBHOOK_SECRET_OVERLAP_S), so receivers can switch without losing a delivery.',
    args: { id: t.arg.id({ description: 'The endpoint.' }) },
    resolve: (_root, { id }, ctx) => rotateSecret(ctx.viewer, String(id), ctx.config),
  }),
  deleteWebhookEndpoint: t.withAuth({ viewer: true }).id({
    description: 'Deletes an endpoint with its deliveries; nothing more is sent to it. Returns its id.',
    args: { id: t.arg.id({ description: 'The endpoint.' }) },
    resolve: (_root, { id }, ctx) => deleteEndpoint(ctx.viewer, String(id)),
  }),
  retryWebhookDelivery: t.withAuth({ viewer: true }).prismaField({
    type: 'WebhookDelivery',
    description: 'Attempts a delivery again now, whatever its state, with the same webhook-id and body.',
    args: { id: t.arg.id({ description: 'The delivery.' }) },
    resolve: async (query, _root, { id }, ctx) =>
      withSelection(query, await retryDelivery(ctx.viewer, requireId(String(id), 'id'), ctx.webhooks), (args) =>
        db.webhookDelivery.findUniqueOrThrow(args),
      ),
  }),
}));
