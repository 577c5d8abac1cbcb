import { z } from 'zod';
import { CHANNEL_KEY_RULE, CHANNEL_SECRET_RULE, SCHEMA_NAME_RULE, SLUG_RULE, channelKeyProblem, channelSecretProblem, schemaNameProblem, slugProblem } from './ids.js';
import { AGENT_TIMEOUT_MS, GRACE_MS } from './limits.js';
import { RATE_LIMIT_PROFILES } from './rate-limits.js';
import { WEBHOOK_EVENT_TYPES, webhookUrlProblem } from './webhooks.js';
import { ANALYTICS_METRICS } from './api.js';
import { isTimeBound } from './duration.js';
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

/** An app's own channel key and secret (kept from Pusher or soketi); the messages never repeat the value. */
const channelKey = z.string().superRefine((value, ctx) => {
  const problem = channelKeyProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `the channel key ${problem} (${CHANNEL_KEY_RULE})` });
});
const channelSecret = z.string().superRefine((value, ctx) => {
  const problem = channelSecretProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `the channel secret ${problem} (${CHANNEL_SECRET_RULE})` });
});

/** Without channelKey or channelSecret, relayd makes them (20 and 40 hex characters). */
export const RegisterAppBody = z.strictObject({
  id: slug('app id'),
  name,
  description: description.optional(),
  channelKey: channelKey.optional(),
  channelSecret: channelSecret.optional(),
});
export type RegisterAppBody = z.infer<typeof RegisterAppBody>;

/** One channel limit: a number in its range, or null to go back to the default. */
const channelLimits = z.strictObject(
  Object.fromEntries(
    Object.entries(CHANNEL_LIMIT_RANGES).map(([key, range]) => [key, z.number().int().min(range.min).max(range.max).nullable().optional()]),
  ) as Record<keyof ChannelLimits, z.ZodOptional<z.ZodNullable<z.ZodNumber>>>,
);

const updateAppFields = {
  name: name.optional(),
  description: description.optional(),
  rateLimitProfile: profile.optional(),
  clientEvents: z.boolean().optional(),
  subscriptionCount: z.boolean().optional(),
  channelLimits: channelLimits.optional(),
};
const atLeastOne = (fields: object) => `give at least one of ${Object.keys(fields).join(', ')}`;

/** `PATCH /api/v1/apps/{appId}` (an API token with app:manage): the app's settings, never its credentials. */
export const UpdateAppBody = z
  .strictObject(updateAppFields)
  .refine((body) => Object.values(body).some((v) => v !== undefined), atLeastOne(updateAppFields))
  // The refine in JSON Schema's words, for the API's document (docs/openapi.json): JSON has no undefined.
  .meta({ minProperties: 1 });
export type UpdateAppBody = z.infer<typeof UpdateAppBody>;

const adminUpdateAppFields = { ...updateAppFields, channelKey: channelKey.optional(), channelSecret: channelSecret.optional() };

/**
 * The admin API's PATCH: the settings, and the channel key and secret (an admin's alone: a
 * new key closes the subscribers connected with the old one, a new secret is in force at once).
 */
export const AdminUpdateAppBody = z
  .strictObject(adminUpdateAppFields)
  .refine((body) => Object.values(body).some((v) => v !== undefined), atLeastOne(adminUpdateAppFields));
export type AdminUpdateAppBody = z.infer<typeof AdminUpdateAppBody>;

/** App and agent token rotation: grace up to 30 days; 0 ends the old token at once. */
export const RotateBody = z.strictObject({ graceMs: z.number().int().min(GRACE_MS.min).max(GRACE_MS.max).optional() });
export type RotateBody = z.infer<typeof RotateBody>;

/** An agent's reply timeout: 1 s to 24 h (default 2 min). */
export const RegisterAgentBody = z.strictObject({ id: slug('agent id'), name, timeoutMs: z.number().int().min(AGENT_TIMEOUT_MS.min).max(AGENT_TIMEOUT_MS.max).optional() });
export type RegisterAgentBody = z.infer<typeof RegisterAgentBody>;

/** `APP/NAME`: a schema of an app of the agent's organization; null unbinds. */
export const schemaRef = z.string().superRefine((value, ctx) => {
  const problem = schemaRefProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export function schemaRefProblem(value: string): string | null {
  const [app, name, ...rest] = value.split('/');
  if (app === undefined || name === undefined || rest.length > 0) return `invalid schema "${value.slice(0, 100)}": name it as APP/NAME (an app id, a slash, the schema's name)`;
  const appProblem = slugProblem(app);
  if (appProblem) return `invalid app id "${app.slice(0, 64)}" in schema "${value.slice(0, 100)}": ${appProblem} (${SLUG_RULE})`;
  const nameProblem = schemaNameProblem(name);
  if (nameProblem) return `invalid schema name "${name.slice(0, 64)}": ${nameProblem} (${SCHEMA_NAME_RULE})`;
  return null;
}

export const UpdateAgentBody = z
  .strictObject({
    name: name.optional(),
    timeoutMs: z.number().int().min(AGENT_TIMEOUT_MS.min).max(AGENT_TIMEOUT_MS.max).optional(),
    schema: schemaRef.nullable().optional(),
  })
  .refine((b) => b.name !== undefined || b.timeoutMs !== undefined || b.schema !== undefined, 'nothing to change: give name, timeoutMs or schema');
export type UpdateAgentBody = z.infer<typeof UpdateAgentBody>;

export const AllowlistBody = z.strictObject({ agents: z.array(slug('agent id')).min(1, 'name at least one agent').max(100) });
export type AllowlistBody = z.infer<typeof AllowlistBody>;

export const AuditQuery = z.strictObject({
  since: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});
export type AuditQuery = z.infer<typeof AuditQuery>;

// ---- validation messages: zod's issues in the words of the JSON a user wrote ----

/** What a value must be, as a person would say it. */
const KIND: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object',
  record: 'an object',
  null: 'null',
};
const kind = (expected: string): string => KIND[expected] ?? expected;

function got(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'number') return Number.isInteger(input) ? 'a number' : 'a fraction';
  return kind(typeof input);
}

/** Milliseconds in words, for fields named …Ms: 2592000000 → "30 days". */
function inWords(ms: number): string {
  for (const [unit, size] of [['day', 86_400_000], ['hour', 3_600_000], ['minute', 60_000], ['second', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}${ms === size ? '' : 's'}`;
  }
  return `${ms} ms`;
}

const plural = (n: number | bigint, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * zod's default messages ("Too big: expected number to be <=2592000000", "Invalid input")
 * replaced by plain ones ("may be at most 2592000000 (30 days)", "is required (a string)").
 * Given to every parse of user input (see `parseInput`); a message a schema states itself wins over this.
 * Each message is a predicate: describeIssues puts the field's name before it.
 */
export const plainIssue: z.core.$ZodErrorMap = (issue) => {
  const last = issue.path?.[issue.path.length - 1];
  const ms = typeof last === 'string' && /Ms$/.test(last);
  const number = (n: number | bigint): string => (ms && typeof n === 'number' && n > 0 ? `${n} (${inWords(n)})` : String(n));
  if (issue.input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union' || issue.code === 'invalid_value')) {
    const first = issue.code === 'invalid_union' ? issue.errors[0]?.[0] : undefined;
    const expected = issue.code === 'invalid_type' ? kind(issue.expected) : first?.code === 'invalid_type' ? kind(first.expected) : issue.code === 'invalid_value' ? `one of ${issue.values.join(', ')}` : null;
    return expected ? `is required (${expected})` : 'is required';
  }
  switch (issue.code) {
    case 'invalid_type':
      return `must be ${kind(issue.expected)} (got ${got(issue.input)})`;
    case 'too_big':
      if (issue.origin === 'string') return `may be at most ${plural(issue.maximum, 'character')}`;
      if (issue.origin === 'array' || issue.origin === 'set') return `may hold at most ${plural(issue.maximum, 'item')}`;
      return issue.inclusive ? `may be at most ${number(issue.maximum)}` : `must be less than ${number(issue.maximum)}`;
    case 'too_small':
      if (issue.origin === 'string') return issue.minimum === 1 ? 'must not be empty' : `must be at least ${plural(issue.minimum, 'character')}`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must hold at least ${plural(issue.minimum, 'item')}`;
      return issue.inclusive ? `must be at least ${number(issue.minimum)}` : `must be more than ${number(issue.minimum)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_format':
      return 'is not in the expected format';
    case 'invalid_union':
      return 'is not valid here';
    case 'unrecognized_keys':
      return `has unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    default:
      return undefined;
  }
};

/**
 * Parses user input with the plain messages. Valid input is parsed without them: zod's
 * compiled fast path for objects is skipped when a parse is given options (6x slower on a
 * publish body), so only input that fails is parsed a second time, for its messages.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.ZodSafeParseResult<z.output<S>> {
  const result = schema.safeParse(value);
  return result.success ? result : schema.safeParse(value, { error: plainIssue });
}

/** A path as the JSON reads: `batch[0].data`. */
function fieldName(path: PropertyKey[]): string {
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)).join('');
}

const PREDICATE = /^(is|are|must|may|has|should|cannot|can't)\b/;

/**
 * One sentence per problem, naming the field as the user wrote it: `graceMs may be at most
 * 2592000000 (30 days)`; `whole` names the value itself ("the body") for a problem of the whole.
 */
export function describeIssues(error: z.ZodError, whole = 'the value'): string {
  return error.issues
    .map((issue) => {
      const name = issue.path.length === 0 ? whole : fieldName(issue.path);
      if (issue.code === 'unrecognized_keys' && issue.path.length === 0) return `unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      if (PREDICATE.test(issue.message)) return `${name} ${issue.message}`;
      return issue.path.length === 0 ? issue.message : `${name}: ${issue.message}`;
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
/**
 * Any JSON value. Registered by id without `.meta()`, which would make a copy: z.json() refers
 * to itself, and the API's document names that one (`JsonValue`) rather than an anonymous one.
 */
const jsonValue = z.json();
z.globalRegistry.add(jsonValue, { id: 'JsonValue', description: 'Any JSON value' });
/** Pusher's data is a string; any other JSON value is accepted and sent as its JSON text (a string passes through untransformed: the publish path). */
const eventData = z.string().or(jsonValue.transform((value) => JSON.stringify(value)));
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
  .refine((body) => (body.channels === undefined) !== (body.channel === undefined), 'give either "channels" or "channel", not both or neither')
  .meta({ oneOf: [{ required: ['channels'] }, { required: ['channel'] }] });
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

/** `after` resumes the stream after the change of that seq (the `Relay-After` header, or the last line's `seq`). */
export const EventStreamQuery = z.strictObject({
  ...eventFilters,
  thread: EventsQuery.shape.thread,
  after: z.coerce.number().int().min(0).optional(),
});
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

// ---- channel rules (issue 18) ----

export const CHANNEL_RULE_PATTERN_RULE = 'an exact channel name, or a prefix ending in a single * (`*` alone: every channel)';

/** What is wrong with a rule's pattern, or null. The part before a trailing `*` uses channel-name characters. */
export function channelRulePatternProblem(pattern: string): string | null {
  if (pattern.length === 0) return 'is empty';
  if (pattern.length > MAX_CHANNEL_NAME) return `is ${pattern.length} characters long (at most ${MAX_CHANNEL_NAME})`;
  const prefix = pattern.endsWith('*') ? pattern.slice(0, -1) : pattern;
  if (prefix.includes('*')) return 'may hold one *, at the end only';
  if (prefix.length > 0 && !CHANNEL_NAME.test(prefix)) return 'may contain only A-Z a-z 0-9 and - _ = @ , . ; (and a trailing *)';
  return null;
}

export const channelRulePattern = z.string().superRefine((value, ctx) => {
  const problem = channelRulePatternProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `invalid pattern "${value}": it ${problem}; a pattern is ${CHANNEL_RULE_PATTERN_RULE}` });
});

/** A retention of a rule's channels: 1 minute (the daemon's own minimum) to 10 years. */
export const CHANNEL_RULE_RETENTION_MS = { min: 60_000, max: 3650 * 86_400_000 } as const;

/** An event schema's name, wherever one is given (the registry, a channel rule). */
const schemaName = z.string().superRefine((value, ctx) => {
  const problem = schemaNameProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `invalid schema name "${value.slice(0, 64)}": ${problem} (${SCHEMA_NAME_RULE})` });
});

const channelRuleSettings = {
  schema: schemaName.nullable().optional(),
  schemaEvent: z.string().min(1, 'must not be empty').max(MAX_EVENT_NAME, `must be at most ${MAX_EVENT_NAME} characters`).nullable().optional(),
  clientEvents: z.boolean().nullable().optional(),
  history: z.boolean().nullable().optional(),
  retentionMs: z.number().int().min(CHANNEL_RULE_RETENTION_MS.min).max(CHANNEL_RULE_RETENTION_MS.max).nullable().optional(),
  maxMembers: z
    .number()
    .int()
    .min(CHANNEL_LIMIT_RANGES.maxPresenceMembers.min)
    .max(CHANNEL_LIMIT_RANGES.maxPresenceMembers.max)
    .nullable()
    .optional(),
};

/** `POST .../channel-rules`: a pattern and its settings; an absent or null setting inherits. */
export const CreateChannelRuleBody = z.strictObject({ pattern: channelRulePattern, ...channelRuleSettings });
export type CreateChannelRuleBody = z.infer<typeof CreateChannelRuleBody>;

const updateChannelRuleFields = { pattern: channelRulePattern.optional(), ...channelRuleSettings };
/** `PATCH .../channel-rules/{id}`: what is given changes, null resets a setting to inherit. */
export const UpdateChannelRuleBody = z
  .strictObject(updateChannelRuleFields)
  .refine((body) => Object.values(body).some((v) => v !== undefined), atLeastOne(updateChannelRuleFields))
  .meta({ minProperties: 1 });
export type UpdateChannelRuleBody = z.infer<typeof UpdateChannelRuleBody>;

export const channelRuleIdParam = z.string().regex(/^chr_[0-9A-Z]{26}$/, 'must be a channel rule id (chr_ and 26 characters)');

/** `GET .../channel-rules/test?channel=NAME`. */
export const ChannelRuleTestQuery = z.strictObject({ channel: channelName });
export type ChannelRuleTestQuery = z.infer<typeof ChannelRuleTestQuery>;


// ---- encryption keys (issue 18) ----

export const encryptionKeyIdParam = z.string().regex(/^key_[0-9A-Z]{26}$/, 'must be an encryption key id (key_ and 26 characters)');

/** The 32 key bytes, base64 (standard or URL-safe alphabet, padded or not). */
export const encryptionKeyMaterial = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9+/_-]+={0,2}$/, 'must be base64')
  .refine((value) => Buffer.from(value, 'base64').length === 32, 'must be base64 of exactly 32 bytes (openssl rand -base64 32 makes one)');

/** `keys create`: a fresh random key, or `{"import": base64}` to bring one (a backend's encryptionMasterKeyBase64). */
export const CreateEncryptionKeyBody = z.strictObject({ import: encryptionKeyMaterial.optional() });
export type CreateEncryptionKeyBody = z.infer<typeof CreateEncryptionKeyBody>;
// ---- event schemas (issue 18) ----

export const schemaNameParam = schemaName;
export const schemaVersionParam = z.coerce.number().int('must be a whole number').min(1, 'versions start at 1').max(1_000_000_000);

/** A JSON Schema document: an object (or true/false, the schemas that accept or refuse everything). */
const schemaDocument = z.union([z.record(z.string(), z.unknown()), z.boolean()], { message: 'must be a JSON Schema: an object (or true or false)' });

export const CreateSchemaBody = z.strictObject({ name: schemaNameParam, schema: schemaDocument });
export type CreateSchemaBody = z.infer<typeof CreateSchemaBody>;

export const SchemaVersionBody = z.strictObject({ schema: schemaDocument });
export type SchemaVersionBody = z.infer<typeof SchemaVersionBody>;

export const RemoveSchemaQuery = z.strictObject({ force: z.enum(['true', 'false']).optional() });
export type RemoveSchemaQuery = z.infer<typeof RemoveSchemaQuery>;

// ---- edge functions (issue 19) ----

/** A function's name: the rule of schema names (1-64 lowercase letters, digits, - . _). */
export const functionNameParam = z.string().superRefine((value, ctx) => {
  const problem = schemaNameProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `invalid function name "${value.slice(0, 64)}": ${problem} (${SCHEMA_NAME_RULE})` });
});
export const functionVersionParam = schemaVersionParam;

export const FUNCTION_TRIGGERS = ['before-publish', 'after-publish', 'before-dispatch'] as const;
/** A function's source, as UTF-8: a handler, not a bundle of libraries. */
export const MAX_FUNCTION_SOURCE_BYTES = 256 * 1024;
/** CPU time per call: 50 ms by default; at most 1 s, as a call runs on relayd's event loop. */
export const FUNCTION_TIMEOUT_MS = { min: 1, max: 1000, default: 50 } as const;
/** Memory per call, in MB. */
export const FUNCTION_MEMORY_MB = { min: 1, max: 256, default: 32 } as const;

/**
 * `POST .../functions`: deploys a version (the first makes the function). `channels` and
 * `event` narrow the channel triggers, `agent` and `event` before-dispatch; null or absent:
 * every one.
 */
export const DeployFunctionBody = z
  .strictObject({
    name: functionNameParam,
    source: z.string().min(1, 'must not be empty').refine((s) => Buffer.byteLength(s) <= MAX_FUNCTION_SOURCE_BYTES, `must be at most ${MAX_FUNCTION_SOURCE_BYTES / 1024} KB`),
    trigger: z.enum(FUNCTION_TRIGGERS, { message: `must be one of ${FUNCTION_TRIGGERS.join(', ')}` }),
    channels: channelRulePattern.nullable().optional(),
    event: z.string().min(1, 'must not be empty').max(MAX_EVENT_NAME, `must be at most ${MAX_EVENT_NAME} characters`).nullable().optional(),
    agent: slug('agent id').nullable().optional(),
    timeoutMs: z.number().int().min(FUNCTION_TIMEOUT_MS.min).max(FUNCTION_TIMEOUT_MS.max, `must be at most ${FUNCTION_TIMEOUT_MS.max} ms`).optional(),
    memoryMb: z.number().int().min(FUNCTION_MEMORY_MB.min).max(FUNCTION_MEMORY_MB.max, `must be at most ${FUNCTION_MEMORY_MB.max} MB`).optional(),
    onError: z.enum(['reject', 'pass']).optional(),
  })
  .refine((b) => b.trigger === 'before-dispatch' || b.agent == null, { message: 'agent is for before-dispatch functions; channel triggers take channels', path: ['agent'] })
  .refine((b) => b.trigger !== 'before-dispatch' || b.channels == null, { message: 'channels are for before-publish and after-publish functions; before-dispatch takes agent', path: ['channels'] });
export type DeployFunctionBody = z.infer<typeof DeployFunctionBody>;

/** `POST .../functions/{name}/rollback`: the version to run again. */
export const RollbackFunctionBody = z.strictObject({ version: z.number().int().min(1, 'versions start at 1') });
export type RollbackFunctionBody = z.infer<typeof RollbackFunctionBody>;

/**
 * `POST .../functions/{name}/test`: an event to run it on, as the trigger gives it
 * (channels: `{channel, event, data}`; before-dispatch: `{agent, thread, event, payload}`);
 * `version` tests an earlier one.
 */
export const TestFunctionBody = z.strictObject({ event: z.record(z.string(), z.unknown(), { message: 'must be an object' }), version: z.number().int().min(1).optional() });
export type TestFunctionBody = z.infer<typeof TestFunctionBody>;

/** `GET .../functions/{name}/logs`: the newest `limit` lines, or those after `after`. */
export const FunctionLogsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
export type FunctionLogsQuery = z.infer<typeof FunctionLogsQuery>;

// ---- usage analytics (issue 20) ----

/** A duration back from now (`24h`), an ISO 8601 time or epoch milliseconds: see `parseTimeBound`. */
const timeBound = (what: string) =>
  z.string().superRefine((value, ctx) => {
    if (!isTimeBound(value)) ctx.addIssue({ code: 'custom', message: `invalid ${what} "${value}": use a duration back from now (90s, 15m, 24h, 30d), an ISO 8601 time or epoch milliseconds` });
  });

/**
 * `GET /api/v1/apps/{appId}/analytics`: the range (`since` defaults to 24h ago, `until` to
 * now), the bucket (`by`, chosen from the range when absent) and the metrics, comma-separated
 * (every one when absent).
 */
export const AnalyticsQuery = z.strictObject({
  since: timeBound('since').optional().describe('Start of the range: a duration back from now (24h), an ISO 8601 time or epoch ms; default 24h'),
  until: timeBound('until').optional().describe('End of the range, as since; default now'),
  by: z.enum(['minute', 'hour', 'day']).optional().describe('Bucket size; default: minute up to 6h, hour up to 14d, day beyond. Minutes are kept 2d, hours 30d'),
  metrics: z
    .string()
    .transform((text) => text.split(',').map((m) => m.trim()).filter((m) => m !== ''))
    .superRefine((names, ctx) => {
      const unknown = names.filter((m) => !(ANALYTICS_METRICS as readonly string[]).includes(m));
      if (unknown.length > 0) ctx.addIssue({ code: 'custom', message: `unknown metric ${unknown.map((m) => `"${m}"`).join(', ')}; known: ${ANALYTICS_METRICS.join(', ')}` });
      if (names.length === 0) ctx.addIssue({ code: 'custom', message: 'name at least one metric' });
    })
    .pipe(z.array(z.enum(ANALYTICS_METRICS)))
    .optional()
    .describe(`Comma-separated metrics (default: all): ${ANALYTICS_METRICS.join(', ')}`),
});
export type AnalyticsQuery = z.infer<typeof AnalyticsQuery>;

/** The admin API's: an organization's usage, of one app or (without `app`) every app added up. */
export const AdminAnalyticsQuery = AnalyticsQuery.extend({ app: slug('app id').optional() });
export type AdminAnalyticsQuery = z.infer<typeof AdminAnalyticsQuery>;
