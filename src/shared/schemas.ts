import { z } from 'zod';
import { SLUG_RULE, slugProblem } from './ids.js';
import { RATE_LIMIT_PROFILES } from './rate-limits.js';
import { WEBHOOK_EVENT_TYPES, webhookUrlProblem } from './webhooks.js';
import { CHANNEL_LIMIT_RANGES, CHANNEL_NAME, MAX_CHANNEL_NAME, MAX_EVENT_NAME, MAX_USER_ID, type ChannelLimits } from './protocol/pusher.js';

/**
 * Request bodies of the admin and public APIs. The daemon validates every body at the edge
 * with these; the types core receives are inferred from them. Unknown keys are refused, so
 * that nothing is accepted and then ignored.
 */

export const slug = (what: string) =>
  z.string().superRefine((value, ctx) => {
    const problem = slugProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `invalid ${what} "${value}": ${problem} (${SLUG_RULE})` });
  });

const name = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const description = z.string().max(2000, 'must be at most 2000 characters').nullable();
const profile = z.enum(Object.keys(RATE_LIMIT_PROFILES) as [keyof typeof RATE_LIMIT_PROFILES, ...(keyof typeof RATE_LIMIT_PROFILES)[]]);

export const CreateOrgBody = z.strictObject({ id: slug('organization id'), name });
export type CreateOrgBody = z.infer<typeof CreateOrgBody>;

export const RegisterAppBody = z.strictObject({ id: slug('app id'), name, description: description.optional() });
export type RegisterAppBody = z.infer<typeof RegisterAppBody>;

/** One channel limit: a number in its range, or null to go back to the default. */
const channelLimits = z.strictObject(
  Object.fromEntries(
    Object.entries(CHANNEL_LIMIT_RANGES).map(([key, range]) => [key, z.number().int().min(range.min).max(range.max).nullable().optional()]),
  ) as Record<keyof ChannelLimits, z.ZodOptional<z.ZodNullable<z.ZodNumber>>>,
);

export const UpdateAppBody = z
  .strictObject({
    name: name.optional(),
    description: description.optional(),
    rateLimitProfile: profile.optional(),
    clientEvents: z.boolean().optional(),
    subscriptionCount: z.boolean().optional(),
    channelLimits: channelLimits.optional(),
  })
  .refine(
    (body) => Object.values(body).some((v) => v !== undefined),
    'give at least one of name, description, rateLimitProfile, clientEvents, subscriptionCount, channelLimits',
  );
export type UpdateAppBody = z.infer<typeof UpdateAppBody>;

/** App and agent token rotation: grace up to 30 days; 0 ends the old token at once. */
export const RotateBody = z.strictObject({ graceMs: z.number().int().min(0).max(30 * 86_400_000).optional() });
export type RotateBody = z.infer<typeof RotateBody>;

/** An agent's reply timeout: 1 s to 24 h (default 2 min). */
export const RegisterAgentBody = z.strictObject({ id: slug('agent id'), name, timeoutMs: z.number().int().min(1000).max(86_400_000).optional() });
export type RegisterAgentBody = z.infer<typeof RegisterAgentBody>;

export const AllowlistBody = z.strictObject({ agents: z.array(slug('agent id')).min(1, 'name at least one agent').max(100) });
export type AllowlistBody = z.infer<typeof AllowlistBody>;

export const AuditQuery = z.strictObject({
  since: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});
export type AuditQuery = z.infer<typeof AuditQuery>;

/** `path.to.field: message` for each problem, the way a 400 names the field and the rule. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join('.');
      const message = issue.code === 'invalid_type' && issue.message.endsWith('received undefined') ? 'is required' : issue.message;
      return path ? `${path}: ${message}` : message;
    })
    .join('; ');
}

// ---- API tokens (admin API) ----

export const CreateTokenBody = z.strictObject({
  name,
  description: description.optional(),
  scopes: z.array(z.string()).max(50).default([]),
  /** A profile name or `N/min,burst=M`; absent: the app's default profile. */
  rateLimit: z.string().max(100).optional(),
  /** A duration from now (`30d`) or a date (`2027-01-31`). */
  expires: z.string().max(100).optional(),
});
export type CreateTokenBody = z.infer<typeof CreateTokenBody>;

// ---- The public API (Pusher's limits) ----

export const MAX_CHANNELS_PER_EVENT = 100;
export const MAX_BATCH = 10;

/** A signed-in user's own channel (§1.10): what the SDKs' sendToUser publishes to. */
export const SERVER_TO_USER_PREFIX = '#server-to-user-';

export const channelName = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_CHANNEL_NAME, `must be at most ${MAX_CHANNEL_NAME} characters`)
  .refine((name) => CHANNEL_NAME.test(name.startsWith(SERVER_TO_USER_PREFIX) ? name.slice(SERVER_TO_USER_PREFIX.length) : name), 'may contain only A-Z a-z 0-9 and - _ = @ , . ;');

const eventName = z.string().min(1, 'must not be empty').max(MAX_EVENT_NAME, `must be at most ${MAX_EVENT_NAME} characters`);
/** Pusher's data is a string; any other JSON value is accepted and sent as its JSON text (a string passes through untransformed: the publish path). */
const eventData = z.string().or(z.json().transform((value) => JSON.stringify(value)));
const socketId = z.string().regex(/^\d+\.\d+$/, 'must look like 1234.5678');
const info = z.string().max(200).optional();

export const PublishBody = z
  .strictObject({
    name: eventName,
    data: eventData,
    channels: z.array(channelName).min(1, 'must name at least one channel').max(MAX_CHANNELS_PER_EVENT, `at most ${MAX_CHANNELS_PER_EVENT} channels per event`).optional(),
    channel: channelName.optional(),
    socket_id: socketId.optional(),
    info,
  })
  .refine((body) => (body.channels === undefined) !== (body.channel === undefined), 'give either "channels" or "channel", not both or neither');
export type PublishBody = z.infer<typeof PublishBody>;

export const BatchBody = z.strictObject({
  batch: z
    .array(z.strictObject({ name: eventName, channel: channelName, data: eventData, socket_id: socketId.optional(), info }))
    .min(1, 'must hold at least one event')
    .max(MAX_BATCH, `at most ${MAX_BATCH} events per batch`),
});
export type BatchBody = z.infer<typeof BatchBody>;

export const HistoryQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.string().regex(/^evt_[0-9A-Z]{26}$/, 'must be a cursor from a previous page').optional(),
});
export type HistoryQuery = z.infer<typeof HistoryQuery>;

// ---- event history (admin API) ----

const eventStatus = z.enum(['pending', 'delivered', 'failed', 'rejected']);
const eventFilters = {
  app: slug('app id').optional(),
  agent: slug('agent id').optional(),
  status: eventStatus.optional(),
};

/** `since` is how far back to look, in milliseconds (the CLI's `--since 1h`). */
export const EventsQuery = z.strictObject({
  ...eventFilters,
  thread: z.string().min(1).max(200).optional(),
  since: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  before: HistoryQuery.shape.before,
});
export type EventsQuery = z.infer<typeof EventsQuery>;

export const EventStreamQuery = z.strictObject(eventFilters);
export type EventStreamQuery = z.infer<typeof EventStreamQuery>;

/** `DELETE` of an app or agent: `?purge=true` deletes its history too. */
export const DeleteQuery = z.strictObject({ purge: z.enum(['true', 'false']).optional() });
export type DeleteQuery = z.infer<typeof DeleteQuery>;

export const ConnectionsQuery = z.strictObject({ app: slug('app id').optional() });
export type ConnectionsQuery = z.infer<typeof ConnectionsQuery>;

export const eventIdParam = z.string().regex(/^evt_[0-9A-Z]{26}$/, 'must be an event id (evt_ and 26 characters)');

export const ChannelsQuery = z.strictObject({ filter_by_prefix: z.string().max(MAX_CHANNEL_NAME).optional() });
export type ChannelsQuery = z.infer<typeof ChannelsQuery>;

/** Pusher's channel queries take `info` attributes (`user_count`, `subscription_count`). */
export const PusherChannelsQuery = ChannelsQuery.extend({ info: info });
export type PusherChannelsQuery = z.infer<typeof PusherChannelsQuery>;
export const PusherChannelQuery = z.strictObject({ info });
export type PusherChannelQuery = z.infer<typeof PusherChannelQuery>;

/** The relay's admin listing of an app's channels. */
export const AdminChannelsQuery = z.strictObject({ prefix: z.string().max(MAX_CHANNEL_NAME).optional() });
export type AdminChannelsQuery = z.infer<typeof AdminChannelsQuery>;

export const userIdParam = z.string().min(1).max(MAX_USER_ID).regex(CHANNEL_NAME, 'may contain only A-Z a-z 0-9 and - _ = @ , . ;');

// ---- webhooks ----

export const CreateWebhookBody = z.strictObject({
  url: z.string().superRefine((value, ctx) => {
    const problem = webhookUrlProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  events: z
    .array(z.enum(WEBHOOK_EVENT_TYPES, { message: `must be one of ${WEBHOOK_EVENT_TYPES.join(', ')}` }))
    .max(WEBHOOK_EVENT_TYPES.length)
    .default([]),
});
export type CreateWebhookBody = z.infer<typeof CreateWebhookBody>;

export const webhookIdParam = z.string().regex(/^wh_[0-9A-Za-z]{16}$/, 'must be a webhook id (wh_ and 16 characters)');

export const DeliveriesQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(20) });
export type DeliveriesQuery = z.infer<typeof DeliveriesQuery>;
