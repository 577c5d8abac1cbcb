import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import {
  AuditQuery,
  BatchBody,
  ChannelsQuery,
  CreateOrgBody,
  CreateTokenBody,
  HistoryQuery,
  PublishBody,
  AdminUpdateAppBody,
  RegisterAppBody,
  RotateBody,
  RegisterAgentBody,
  AllowlistBody,
  UpdateAppBody,
  channelName,
  ConnectionsQuery,
  EventsQuery,
  EventStreamQuery,
  eventIdParam,
  PusherChannelsQuery,
  PusherChannelQuery,
  AdminChannelsQuery,
  userIdParam,
  CreateWebhookBody,
  DeliveriesQuery,
  webhookIdParam,
  DeleteQuery,
  CreateChannelRuleBody,
  UpdateChannelRuleBody,
  ChannelRuleTestQuery,
  channelRuleIdParam,
  CreateEncryptionKeyBody,
  encryptionKeyIdParam,
  UpdateAgentBody,
  CreateSchemaBody,
  SchemaVersionBody,
  RemoveSchemaQuery,
  schemaNameParam,
  schemaVersionParam,
  DeployFunctionBody,
  RollbackFunctionBody,
  TestFunctionBody,
  FunctionLogsQuery,
  functionNameParam,
  functionVersionParam,
  MAX_FUNCTION_SOURCE_BYTES,
  AnalyticsQuery,
  AdminAnalyticsQuery,
} from '../../src/shared/schemas.js';
import type { FunctionService } from '../core/functions.js';
import type { AnalyticsService } from '../core/analytics.js';
import type { Usage } from '../core/usage.js';
import type { Schemas } from '../core/schemas.js';
import { PUSHER_CLOSE } from '../../src/shared/protocol/pusher.js';
import type { Publisher } from '../core/channels.js';
import type { ChannelAppDirectory } from '../core/pusher-auth.js';
import type { WebhookService } from '../core/webhooks.js';
import type { ChannelRules } from '../core/channel-rules.js';
import type { EncryptionKeyService } from '../core/encryption-keys.js';
import { parseExpiry } from '../../src/shared/duration.js';
import { parseRateLimit } from '../../src/shared/rate-limits.js';
import { validateScopes, type Scope } from '../../src/shared/scopes.js';
import type { AgentService } from '../core/agents.js';
import type { ChannelService } from '../core/channels.js';
import type { ConnectionRegistry } from '../core/connections.js';
import type { EventLog } from '../core/events.js';
import type { RateLimiter } from '../ratelimit/rate-limiter.js';
import type { ApiPrincipal, TokenService } from '../core/tokens.js';
import { validate } from './middleware/body.js';
import { OPENAPI_PATH, openApiDocument } from './openapi.js';
import type { DaemonStatus } from '../../src/shared/api.js';
import type { AdminAuth } from '../core/admin.js';
import { DEFAULT_GRACE_MS, appNotFound, type AppService } from '../core/apps.js';
import type { Actor } from '../core/audit.js';
import type { OrgService } from '../core/orgs.js';
import type { AuditEntry } from '../../src/shared/api.js';

/** What the HTTP transport may call: core services only (no store, no SQL). */
export interface HttpServices {
  version: string;
  adminAuth: AdminAuth;
  apps: AppService;
  orgs: OrgService;
  tokens: TokenService;
  agents: AgentService;
  channels: ChannelService;
  webhooks: WebhookService;
  channelRules: ChannelRules;
  encryptionKeys: EncryptionKeyService;
  schemas: Schemas;
  functions: FunctionService;
  analytics: AnalyticsService;
  /** Where the transports count what they refuse (429s) for analytics and metrics. */
  usage: Usage;
  /** The apps by Pusher key, for signed requests. */
  channelApps: ChannelAppDirectory;
  /** How far a signed request's auth_timestamp may be from now. */
  authTimestampWindowMs: number;
  events: EventLog;
  connections: ConnectionRegistry;
  /** Relay-protocol connections across organizations, for the admin API. */
  rateLimiter: RateLimiter;
  now(): number;
  audit(query: { sinceMs: number | null; limit: number }): Promise<AuditEntry[]>;
  status(): Promise<DaemonStatus>;
}

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface RouteContext<B, Q> {
  req: IncomingMessage;
  params: Record<string, string>;
  body: B;
  query: Q;
  /** Who is calling: `admin:<id>` on admin routes, `token:<id>` on public ones. */
  actor: Actor;
  /** The API token's principal on public routes. */
  principal: ApiPrincipal;
  /** The app the request acts for: from the API token on public routes, from the signature on Pusher ones. */
  publisher: Publisher;
}

export interface Answer {
  status?: number;
  body: unknown;
}

/**
 * A long-lived answer: one JSON value a line (NDJSON) for as long as the client stays, ended
 * cleanly (the last chunk) when relayd shuts down. `stream` starts sending and returns what
 * stops it when the client goes; `fail` cuts the answer short, as an error the client sees.
 */
export interface StreamAnswer {
  headers?: Record<string, string>;
  stream(send: (value: unknown) => void, fail: (err: unknown) => void): () => void;
}

export interface Route<B = unknown, Q = unknown> {
  method: HttpMethod;
  path: string;
  /**
   * `{ scope }`: the public API, with an API token that holds that scope, for the app in the path.
   * `pusher`: Pusher's REST API, signed with the app's channel key and secret.
   */
  auth: 'none' | 'admin' | 'pusher' | { scope: Scope };
  /**
   * One line for the API's document (docs/openapi.json): every route but the admin API's has
   * one (relayd refuses to start without it).
   */
  summary?: string;
  /** A success's status when it is not 200, for the document (the handler answers with it). */
  status?: 201;
  /** The answer is a stream of NDJSON lines (a StreamAnswer), for the document. */
  ndjson?: true;
  /** Largest body accepted, in bytes. */
  bodyLimit?: number;
  body?: z.ZodType<B>;
  query?: z.ZodType<Q>;
  handle(ctx: RouteContext<B, Q>): Promise<Answer | StreamAnswer>;
}

/** Keeps each route's body and query types while the table holds them side by side. */
function route<B = undefined, Q = undefined>(r: Route<B, Q>): Route {
  return r as unknown as Route;
}

const p = (ctx: { params: Record<string, string> }, name: string): string => ctx.params[name] as string;

/** The whole HTTP surface of this issue: one table of method, path, auth, schema and handler. */
export function routes(s: HttpServices): Route[] {
  const table = [
    ...adminRoutes(s),
    ...schemaRoutes(s, '/admin/v1/orgs/:org/apps/:app', 'admin', 'admin'),
    ...publicRoutes(s),
    ...schemaRoutes(s, '/api/v1/apps/:app', { scope: 'schemas:read' }, { scope: 'schemas:manage' }),
    ...functionRoutes(s, '/admin/v1/orgs/:org/apps/:app', 'admin'),
    ...functionRoutes(s, '/api/v1/apps/:app', { scope: 'functions:manage' }),
    ...pusherRoutes(s),
    ...analyticsRoutes(s),
  ];
  // The document describes the table it is served from, its own route included; built at the
  // first request for it rather than at every start (it takes tens of milliseconds).
  let document: ReturnType<typeof openApiDocument> | null = null;
  table.push(
    route({
      method: 'GET',
      path: OPENAPI_PATH,
      auth: 'none',
      summary: 'This document: the public API in OpenAPI 3.1',
      handle: async () => ({ body: (document ??= openApiDocument(table, { version: s.version })) }),
    }),
  );
  return table;
}

/** Usage analytics: an app's on the public API (its token's app), an org's or one app's on the admin API. */
function analyticsRoutes(s: HttpServices): Route[] {
  return [
    route<undefined, AnalyticsQuery>({
      method: 'GET',
      path: '/api/v1/apps/:app/analytics',
      summary: "The app's usage analytics, bucket by bucket (minute, hour or day): publishes, deliveries, connections, agent events, webhooks, 429s, bytes",
      auth: { scope: 'analytics:read' },
      query: AnalyticsQuery,
      handle: async (ctx) => ({ body: { analytics: await s.analytics.query(ctx.publisher.org, ctx.publisher.appId, ctx.query) } }),
    }),
    route<undefined, AdminAnalyticsQuery>({
      method: 'GET',
      path: '/admin/v1/orgs/:org/analytics',
      auth: 'admin',
      query: AdminAnalyticsQuery,
      handle: async (ctx) => {
        const org = p(ctx, 'org');
        await s.orgs.require(org);
        const { app, ...query } = ctx.query;
        if (app !== undefined && !(await s.channelApps.byId(org, app))) throw appNotFound(org, app);
        return { body: { analytics: await s.analytics.query(org, app ?? null, query) } };
      },
    }),
  ];
}

/** A schema document (up to 64 KB) in its JSON body, with room for escaping. */
const SCHEMA_BODY_LIMIT = 256 * 1024;

/**
 * An app's event schemas, the same routes on the admin API (the app in the path) and the
 * public one (the token's app): reads under `read`, changes under `manage`.
 */
function schemaRoutes(s: HttpServices, base: string, read: Route['auth'], manage: Route['auth']): Route[] {
  const app = (ctx: RouteContext<unknown, unknown>): [string, string] => (ctx.publisher ? [ctx.publisher.org, ctx.publisher.appId] : [p(ctx, 'org'), p(ctx, 'app')]);
  const schemaName = (ctx: RouteContext<unknown, unknown>): string => validate(schemaNameParam, p(ctx, 'name'), 'schema name');
  return [
    route({
      method: 'GET',
      path: `${base}/schemas`,
      auth: read,
      summary: "List the app's event schemas",
      handle: async (ctx) => ({ body: { schemas: await s.schemas.list(...app(ctx)) } }),
    }),
    route<CreateSchemaBody>({
      method: 'POST',
      path: `${base}/schemas`,
      auth: manage,
      summary: 'Add an event schema',
      status: 201,
      bodyLimit: SCHEMA_BODY_LIMIT,
      body: CreateSchemaBody,
      handle: async (ctx) => ({ status: 201, body: { schema: await s.schemas.add(ctx.actor, ...app(ctx), ctx.body) } }),
    }),
    route({
      method: 'GET',
      path: `${base}/schemas/:name`,
      auth: read,
      summary: 'Show an event schema, at its latest version',
      handle: async (ctx) => ({ body: { schema: await s.schemas.show(...app(ctx), schemaName(ctx)) } }),
    }),
    route<SchemaVersionBody>({
      method: 'POST',
      path: `${base}/schemas/:name/versions`,
      auth: manage,
      summary: "Add an event schema's next version",
      status: 201,
      bodyLimit: SCHEMA_BODY_LIMIT,
      body: SchemaVersionBody,
      handle: async (ctx) => ({ status: 201, body: { schema: await s.schemas.update(ctx.actor, ...app(ctx), schemaName(ctx), ctx.body.schema) } }),
    }),
    route({
      method: 'GET',
      path: `${base}/schemas/:name/versions/:version`,
      auth: read,
      summary: 'Show one version of an event schema',
      handle: async (ctx) => ({ body: { schema: await s.schemas.show(...app(ctx), schemaName(ctx), validate(schemaVersionParam, p(ctx, 'version'), 'version')) } }),
    }),
    route<undefined, RemoveSchemaQuery>({
      method: 'DELETE',
      path: `${base}/schemas/:name`,
      auth: manage,
      summary: 'Remove an event schema (409 while in use unless force=true)',
      query: RemoveSchemaQuery,
      handle: async (ctx) => ({ body: await s.schemas.remove(ctx.actor, ...app(ctx), schemaName(ctx), { force: ctx.query.force === 'true' }) }),
    }),
  ];
}

/** A function's source (up to 256 KB) in its JSON body, with room for escaping. */
const FUNCTION_BODY_LIMIT = MAX_FUNCTION_SOURCE_BYTES * 2 + 64 * 1024;

/**
 * An app's edge functions, the same routes on the admin API (the app in the path) and the
 * public one (the token's app, `functions:manage` for everything: a function's source and
 * logs are as sensitive as deploying one).
 */
function functionRoutes(s: HttpServices, base: string, auth: Route['auth']): Route[] {
  const app = (ctx: RouteContext<unknown, unknown>): [string, string] => (ctx.publisher ? [ctx.publisher.org, ctx.publisher.appId] : [p(ctx, 'org'), p(ctx, 'app')]);
  const fn = (ctx: RouteContext<unknown, unknown>): string => validate(functionNameParam, p(ctx, 'name'), 'function name');
  return [
    route({
      method: 'GET',
      path: `${base}/functions`,
      auth,
      summary: "List the app's edge functions",
      handle: async (ctx) => ({ body: { functions: await s.functions.list(...app(ctx)) } }),
    }),
    route<DeployFunctionBody>({
      method: 'POST',
      path: `${base}/functions`,
      auth,
      summary: 'Deploy an edge function: its next version, running from the next event',
      status: 201,
      bodyLimit: FUNCTION_BODY_LIMIT,
      body: DeployFunctionBody,
      handle: async (ctx) => ({ status: 201, body: { function: await s.functions.deploy(ctx.actor, ...app(ctx), ctx.body) } }),
    }),
    route({
      method: 'GET',
      path: `${base}/functions/:name`,
      auth,
      summary: 'Show an edge function with its source',
      handle: async (ctx) => ({ body: { function: await s.functions.show(...app(ctx), fn(ctx)) } }),
    }),
    route({
      method: 'GET',
      path: `${base}/functions/:name/versions/:version`,
      auth,
      summary: 'Show one version of an edge function with its source',
      handle: async (ctx) => ({ body: { function: await s.functions.show(...app(ctx), fn(ctx), validate(functionVersionParam, p(ctx, 'version'), 'version')) } }),
    }),
    route<RollbackFunctionBody>({
      method: 'POST',
      path: `${base}/functions/:name/rollback`,
      auth,
      summary: 'Roll an edge function back to an earlier version',
      body: RollbackFunctionBody,
      handle: async (ctx) => ({ body: { function: await s.functions.rollback(ctx.actor, ...app(ctx), fn(ctx), ctx.body.version) } }),
    }),
    route({
      method: 'DELETE',
      path: `${base}/functions/:name`,
      auth,
      summary: 'Remove an edge function',
      handle: async (ctx) => ({ body: { function: await s.functions.remove(ctx.actor, ...app(ctx), fn(ctx)), removed: true } }),
    }),
    route<undefined, FunctionLogsQuery>({
      method: 'GET',
      path: `${base}/functions/:name/logs`,
      auth,
      summary: "Read an edge function's log lines, oldest first",
      query: FunctionLogsQuery,
      handle: async (ctx) => ({ body: await s.functions.logs(...app(ctx), fn(ctx), { after: ctx.query.after ?? null, limit: ctx.query.limit ?? 100 }) }),
    }),
    route<undefined, FunctionLogsQuery>({
      method: 'GET',
      path: `${base}/functions/:name/logs/stream`,
      auth,
      summary: "Follow an edge function's log lines live, as NDJSON",
      ndjson: true,
      query: FunctionLogsQuery,
      handle: async (ctx) => {
        const following = await s.functions.follow(...app(ctx), fn(ctx), ctx.query.after ?? null);
        return { headers: { 'relay-after': String(following.after) }, stream: following.start };
      },
    }),
    route<TestFunctionBody>({
      method: 'POST',
      path: `${base}/functions/:name/test`,
      auth,
      summary: 'Run an edge function on an event, publishing nothing',
      bodyLimit: PUBLIC_BODY_LIMIT,
      body: TestFunctionBody,
      handle: async (ctx) => ({ body: await s.functions.test(...app(ctx), fn(ctx), ctx.body.event, ctx.body.version) }),
    }),
  ];
}

/** A batch of 10 events at the highest per-app data limit (100 KB), JSON-escaped, fits. */
const PUBLIC_BODY_LIMIT = 2 * 1024 * 1024;

const ruleId = (ctx: { params: Record<string, string> }): string => validate(channelRuleIdParam, p(ctx, 'id'), 'channel rule id');

function adminRoutes(s: HttpServices): Route[] {
  return [
    ...adminChannelRuleRoutes(s),
    route({ method: 'GET', path: '/healthz', auth: 'none', summary: 'Health check: 200 while relayd runs', handle: async () => ({ body: { status: 'ok', version: s.version } }) }),

    route({ method: 'GET', path: '/admin/v1/status', auth: 'admin', handle: async () => ({ body: await s.status() }) }),

    route({ method: 'GET', path: '/admin/v1/orgs', auth: 'admin', handle: async () => ({ body: { orgs: await s.orgs.list() } }) }),
    route<CreateOrgBody>({
      method: 'POST',
      path: '/admin/v1/orgs',
      auth: 'admin',
      body: CreateOrgBody,
      handle: async (ctx) => ({ status: 201, body: { org: await s.orgs.create(ctx.actor, ctx.body) } }),
    }),

    route({
      method: 'GET',
      path: '/admin/v1/orgs/:org/apps',
      auth: 'admin',
      handle: async (ctx) => ({ body: { apps: await s.apps.list(p(ctx, 'org')) } }),
    }),
    route<RegisterAppBody>({
      method: 'POST',
      path: '/admin/v1/orgs/:org/apps',
      auth: 'admin',
      body: RegisterAppBody,
      handle: async (ctx) => ({ status: 201, body: await s.apps.register(ctx.actor, p(ctx, 'org'), ctx.body) }),
    }),
    route({
      method: 'GET',
      path: '/admin/v1/orgs/:org/apps/:app',
      auth: 'admin',
      handle: async (ctx) => ({ body: await s.apps.show(p(ctx, 'org'), p(ctx, 'app')) }),
    }),
    route<AdminUpdateAppBody>({
      method: 'PATCH',
      path: '/admin/v1/orgs/:org/apps/:app',
      auth: 'admin',
      body: AdminUpdateAppBody,
      handle: async (ctx) => ({ body: { app: await s.apps.update(ctx.actor, p(ctx, 'org'), p(ctx, 'app'), ctx.body) } }),
    }),
    route({
      method: 'POST',
      path: '/admin/v1/orgs/:org/apps/:app/deactivate',
      auth: 'admin',
      handle: async (ctx) => ({ body: await s.apps.deactivate(ctx.actor, p(ctx, 'org'), p(ctx, 'app')) }),
    }),
    route<undefined, DeleteQuery>({
      method: 'DELETE',
      path: '/admin/v1/orgs/:org/apps/:app',
      auth: 'admin',
      query: DeleteQuery,
      handle: async (ctx) => ({ body: await s.apps.delete(ctx.actor, p(ctx, 'org'), p(ctx, 'app'), { purge: ctx.query.purge === 'true' }) }),
    }),
    route({
      method: 'POST',
      path: '/admin/v1/orgs/:org/apps/:app/activate',
      auth: 'admin',
      handle: async (ctx) => ({ body: await s.apps.activate(ctx.actor, p(ctx, 'org'), p(ctx, 'app')) }),
    }),
    route<RotateBody>({
      method: 'POST',
      path: '/admin/v1/orgs/:org/apps/:app/rotate',
      auth: 'admin',
      body: RotateBody,
      handle: async (ctx) => ({ body: await s.apps.rotate(ctx.actor, p(ctx, 'org'), p(ctx, 'app'), ctx.body.graceMs ?? DEFAULT_GRACE_MS) }),
    }),
    route<AllowlistBody>({
      method: 'POST',
      path: '/admin/v1/orgs/:org/apps/:app/allow',
      auth: 'admin',
      body: AllowlistBody,
      handle: async (ctx) => ({ body: await s.apps.allow(ctx.actor, p(ctx, 'org'), p(ctx, 'app'), ctx.body.agents) }),
    }),
    route<AllowlistBody>({
      method: 'POST',
      path: '/admin/v1/orgs/:org/apps/:app/disallow',
      auth: 'admin',
      body: AllowlistBody,
      handle: async (ctx) => ({ body: await s.apps.disallow(ctx.actor, p(ctx, 'org'), p(ctx, 'app'), ctx.body.agents) }),
    }),

    route({ method: 'GET', path: '/admin/v1/orgs/:org/agents', auth: 'admin', handle: async (ctx) => ({ body: { agents: await s.agents.list(p(ctx, 'org')) } }) }),
    route<RegisterAgentBody>({
      method: 'POST',
      path: '/admin/v1/orgs/:org/agents',
      auth: 'admin',
      body: RegisterAgentBody,
      handle: async (ctx) => ({ status: 201, body: await s.agents.register(ctx.actor, p(ctx, 'org'), ctx.body) }),
    }),
    route({
      method: 'GET',
      path: '/admin/v1/orgs/:org/agents/:agent',
      auth: 'admin',
      handle: async (ctx) => ({ body: { agent: await s.agents.show(p(ctx, 'org'), p(ctx, 'agent')) } }),
    }),
    route<UpdateAgentBody>({
      method: 'PATCH',
      path: '/admin/v1/orgs/:org/agents/:agent',
      auth: 'admin',
      body: UpdateAgentBody,
      handle: async (ctx) => ({ body: { agent: await s.agents.update(ctx.actor, p(ctx, 'org'), p(ctx, 'agent'), ctx.body) } }),
    }),
    route({
      method: 'POST',
      path: '/admin/v1/orgs/:org/agents/:agent/deactivate',
      auth: 'admin',
      handle: async (ctx) => ({ body: await s.agents.deactivate(ctx.actor, p(ctx, 'org'), p(ctx, 'agent')) }),
    }),
    route<undefined, DeleteQuery>({
      method: 'DELETE',
      path: '/admin/v1/orgs/:org/agents/:agent',
      auth: 'admin',
      query: DeleteQuery,
      handle: async (ctx) => ({ body: await s.agents.delete(ctx.actor, p(ctx, 'org'), p(ctx, 'agent'), { purge: ctx.query.purge === 'true' }) }),
    }),
    route({
      method: 'POST',
      path: '/admin/v1/orgs/:org/agents/:agent/activate',
      auth: 'admin',
      handle: async (ctx) => ({ body: await s.agents.activate(ctx.actor, p(ctx, 'org'), p(ctx, 'agent')) }),
    }),
    route<RotateBody>({
      method: 'POST',
      path: '/admin/v1/orgs/:org/agents/:agent/rotate',
      auth: 'admin',
      body: RotateBody,
      handle: async (ctx) => ({ body: await s.agents.rotate(ctx.actor, p(ctx, 'org'), p(ctx, 'agent'), ctx.body.graceMs ?? DEFAULT_GRACE_MS) }),
    }),

    route({
      method: 'POST',
      path: '/admin/v1/orgs/:org/apps/:app/rotate-channel-secret',
      auth: 'admin',
      handle: async (ctx) => ({ body: await s.apps.rotateChannelSecret(ctx.actor, p(ctx, 'org'), p(ctx, 'app')) }),
    }),
    route({
      method: 'GET',
      path: '/admin/v1/orgs/:org/apps/:app/credentials',
      auth: 'admin',
      handle: async (ctx) => ({ body: await s.apps.credentials(ctx.actor, p(ctx, 'org'), p(ctx, 'app')) }),
    }),

    route<CreateTokenBody>({
      method: 'POST',
      path: '/admin/v1/orgs/:org/apps/:app/tokens',
      auth: 'admin',
      body: CreateTokenBody,
      handle: async (ctx) => ({
        status: 201,
        body: await s.tokens.create(ctx.actor, p(ctx, 'org'), p(ctx, 'app'), {
          name: ctx.body.name,
          description: ctx.body.description,
          scopes: validateScopes(ctx.body.scopes),
          rateLimit: ctx.body.rateLimit === undefined ? null : parseRateLimit(ctx.body.rateLimit),
          expiresAt: ctx.body.expires === undefined ? null : parseExpiry(ctx.body.expires, s.now()),
        }),
      }),
    }),
    route({
      method: 'GET',
      path: '/admin/v1/orgs/:org/apps/:app/tokens',
      auth: 'admin',
      handle: async (ctx) => ({ body: { tokens: await s.tokens.list(p(ctx, 'org'), p(ctx, 'app')) } }),
    }),
    route({ method: 'GET', path: '/admin/v1/tokens/:id', auth: 'admin', handle: async (ctx) => ({ body: { token: await s.tokens.show(p(ctx, 'id')) } }) }),
    route({
      method: 'POST',
      path: '/admin/v1/tokens/:id/revoke',
      auth: 'admin',
      handle: async (ctx) => ({ body: await s.tokens.revoke(ctx.actor, p(ctx, 'id')) }),
    }),
    route({
      method: 'POST',
      path: '/admin/v1/tokens/:id/rotate',
      auth: 'admin',
      handle: async (ctx) => ({ body: await s.tokens.rotate(ctx.actor, p(ctx, 'id')) }),
    }),

    route<undefined, EventsQuery>({
      method: 'GET',
      path: '/admin/v1/orgs/:org/events',
      auth: 'admin',
      query: EventsQuery,
      handle: async (ctx) => {
        const q = ctx.query;
        await s.orgs.require(p(ctx, 'org'));
        const since = q.since === undefined ? undefined : s.now() - q.since;
        return { body: await s.events.list(p(ctx, 'org'), { appId: q.app, agent: q.agent, thread: q.thread, status: q.status, since, before: q.before, limit: q.limit }) };
      },
    }),
    route<undefined, EventStreamQuery>({
      method: 'GET',
      path: '/admin/v1/orgs/:org/events/stream',
      auth: 'admin',
      query: EventStreamQuery,
      handle: async (ctx) => {
        const org = p(ctx, 'org');
        await s.orgs.require(org);
        const q = ctx.query;
        const following = s.events.follow({ org, app: q.app, agent: q.agent, thread: q.thread, status: q.status }, q.after ?? null);
        return { headers: { 'relay-after': String(following.after) }, stream: following.start };
      },
    }),
    route({
      method: 'GET',
      path: '/admin/v1/events/:id',
      auth: 'admin',
      handle: async (ctx) => ({ body: { event: await s.events.show(validate(eventIdParam, p(ctx, 'id'), 'event id')) } }),
    }),
    route<undefined, ConnectionsQuery>({
      method: 'GET',
      path: '/admin/v1/orgs/:org/connections',
      auth: 'admin',
      query: ConnectionsQuery,
      handle: async (ctx) => {
        await s.orgs.require(p(ctx, 'org'));
        const all = await s.connections.list({ org: p(ctx, 'org'), ownerId: ctx.query.app });
        // An app id names apps; an agent may share it, and is not what `--app` asks for.
        return { body: { connections: ctx.query.app === undefined ? all : all.filter((c) => c.role !== 'agent') } };
      },
    }),
    route({
      method: 'GET',
      path: '/admin/v1/orgs/:org/apps/:app/webhooks',
      auth: 'admin',
      handle: async (ctx) => ({ body: { webhooks: await s.webhooks.list(p(ctx, 'org'), p(ctx, 'app')) } }),
    }),
    route<CreateWebhookBody>({
      method: 'POST',
      path: '/admin/v1/orgs/:org/apps/:app/webhooks',
      auth: 'admin',
      body: CreateWebhookBody,
      handle: async (ctx) => ({ status: 201, body: { webhook: await s.webhooks.add(ctx.actor, p(ctx, 'org'), p(ctx, 'app'), ctx.body) } }),
    }),
    route({
      method: 'DELETE',
      path: '/admin/v1/webhooks/:id',
      auth: 'admin',
      handle: async (ctx) => ({ body: { webhook: await s.webhooks.remove(ctx.actor, validate(webhookIdParam, p(ctx, 'id'), 'webhook id')) } }),
    }),
    route<undefined, DeliveriesQuery>({
      method: 'GET',
      path: '/admin/v1/webhooks/:id/deliveries',
      auth: 'admin',
      query: DeliveriesQuery,
      handle: async (ctx) => ({ body: { deliveries: await s.webhooks.deliveries(validate(webhookIdParam, p(ctx, 'id'), 'webhook id'), ctx.query.limit) } }),
    }),
    route<undefined, AdminChannelsQuery>({
      method: 'GET',
      path: '/admin/v1/orgs/:org/apps/:app/channels',
      auth: 'admin',
      query: AdminChannelsQuery,
      handle: async (ctx) => {
        await s.apps.require(p(ctx, 'org'), p(ctx, 'app'));
        return { body: { channels: await s.channels.list({ org: p(ctx, 'org'), appId: p(ctx, 'app') }, ctx.query.prefix) } };
      },
    }),
    route({
      method: 'DELETE',
      path: '/admin/v1/connections/:id',
      auth: 'admin',
      handle: async (ctx) => ({ body: { connection: await s.connections.closeById(p(ctx, 'id')) } }),
    }),

    // ---- encryption keys (issue 18)
    route({
      method: 'GET',
      path: '/admin/v1/orgs/:org/apps/:app/keys',
      auth: 'admin',
      handle: async (ctx) => ({ body: { keys: await s.encryptionKeys.list(p(ctx, 'org'), p(ctx, 'app')) } }),
    }),
    route<CreateEncryptionKeyBody>({
      method: 'POST',
      path: '/admin/v1/orgs/:org/apps/:app/keys',
      auth: 'admin',
      body: CreateEncryptionKeyBody,
      handle: async (ctx) => ({ status: 201, body: await s.encryptionKeys.create(ctx.actor, p(ctx, 'org'), p(ctx, 'app'), ctx.body.import) }),
    }),
    route({
      method: 'POST',
      path: '/admin/v1/orgs/:org/apps/:app/keys/rotate',
      auth: 'admin',
      handle: async (ctx) => ({ status: 201, body: await s.encryptionKeys.rotate(ctx.actor, p(ctx, 'org'), p(ctx, 'app')) }),
    }),
    route({
      method: 'DELETE',
      path: '/admin/v1/keys/:id',
      auth: 'admin',
      handle: async (ctx) => ({ body: await s.encryptionKeys.retire(ctx.actor, validate(encryptionKeyIdParam, p(ctx, 'id'), 'key id')) }),
    }),

    route<undefined, AuditQuery>({
      method: 'GET',
      path: '/admin/v1/audit',
      auth: 'admin',
      query: AuditQuery,
      handle: async (ctx) => ({ body: { entries: await s.audit({ sinceMs: ctx.query.since ?? null, limit: ctx.query.limit }) } }),
    }),
  ];
}

/** The public API of PRODUCT.md: `/api/v1/apps/{appId}/...`, each route with its scope. */
function publicRoutes(s: HttpServices): Route[] {
  const base = '/api/v1/apps/:app';
  return [
    ...publicChannelRuleRoutes(s, base),
    route<PublishBody>({
      method: 'POST',
      path: `${base}/events`,
      auth: { scope: 'events:publish' },
      summary: 'Publish an event to one channel or several, answered once stored',
      bodyLimit: PUBLIC_BODY_LIMIT,
      body: PublishBody,
      // relayd encrypts what goes to private-encrypted- channels (the Pusher REST API's SDKs encrypt themselves).
      handle: async (ctx) => ({ body: await s.channels.publish(ctx.publisher, ctx.body, { seal: true }) }),
    }),
    route<BatchBody>({
      method: 'POST',
      path: `${base}/batch_events`,
      auth: { scope: 'events:batch' },
      summary: 'Publish a batch of up to 10 events, all or none stored',
      bodyLimit: PUBLIC_BODY_LIMIT,
      body: BatchBody,
      handle: async (ctx) => ({ body: await s.channels.publishBatch(ctx.publisher, ctx.body, { seal: true }) }),
    }),
    route<undefined, ChannelsQuery>({
      method: 'GET',
      path: `${base}/channels`,
      auth: { scope: 'channels:read' },
      summary: "List the app's occupied channels, by name prefix",
      query: ChannelsQuery,
      handle: async (ctx) => ({ body: { channels: await s.channels.list(ctx.publisher, ctx.query.filter_by_prefix) } }),
    }),
    route({
      method: 'GET',
      path: `${base}/channels/:channel`,
      auth: { scope: 'channels:read' },
      summary: 'Show a channel: whether occupied, its subscription and user counts',
      handle: async (ctx) => ({ body: await s.channels.show(ctx.publisher, validate(channelName, p(ctx, 'channel'), 'channel name')) }),
    }),
    route({
      method: 'GET',
      path: `${base}/channels/:channel/users`,
      auth: { scope: 'presence:read' },
      summary: "List a presence channel's distinct users",
      handle: async (ctx) => ({ body: { users: await s.channels.users(ctx.publisher, validate(channelName, p(ctx, 'channel'), 'channel name')) } }),
    }),
    route({
      method: 'GET',
      path: `${base}/connections`,
      auth: { scope: 'connections:read' },
      summary: "List the app's sockets (relay protocol and channel subscribers)",
      handle: async (ctx) => ({ body: { connections: (await s.connections.list({ org: ctx.principal.org, ownerId: ctx.principal.appId })).filter((c) => c.role !== 'agent') } }),
    }),
    route({
      method: 'DELETE',
      path: `${base}/connections/:id`,
      auth: { scope: 'connections:manage' },
      summary: "Close one of the app's sockets (code 4009)",
      handle: async (ctx) => ({ body: { connection: await s.connections.closeOne(ctx.principal.org, ctx.principal.appId, p(ctx, 'id')) } }),
    }),
    route({
      method: 'GET',
      path: base,
      auth: { scope: 'app:read' },
      summary: 'Show the app',
      handle: async (ctx) => ({ body: { app: (await s.apps.show(ctx.principal.org, ctx.principal.appId)).app } }),
    }),
    route<UpdateAppBody>({
      method: 'PATCH',
      path: base,
      auth: { scope: 'app:manage' },
      summary: "Change the app's settings (never its credentials)",
      body: UpdateAppBody,
      handle: async (ctx) => ({ body: { app: await s.apps.update(ctx.actor, ctx.principal.org, ctx.principal.appId, ctx.body) } }),
    }),
    route({
      method: 'GET',
      path: `${base}/webhooks`,
      auth: { scope: 'webhooks:manage' },
      summary: "List the app's webhooks",
      handle: async (ctx) => ({ body: { webhooks: await s.webhooks.list(ctx.publisher.org, ctx.publisher.appId) } }),
    }),
    route<CreateWebhookBody>({
      method: 'POST',
      path: `${base}/webhooks`,
      auth: { scope: 'webhooks:manage' },
      summary: 'Add a webhook',
      status: 201,
      body: CreateWebhookBody,
      handle: async (ctx) => ({ status: 201, body: { webhook: await s.webhooks.add(ctx.actor, ctx.publisher.org, ctx.publisher.appId, ctx.body) } }),
    }),
    route({
      method: 'DELETE',
      path: `${base}/webhooks/:id`,
      auth: { scope: 'webhooks:manage' },
      summary: 'Remove a webhook',
      handle: async (ctx) => ({ body: { webhook: await s.webhooks.remove(ctx.actor, validate(webhookIdParam, p(ctx, 'id'), 'webhook id'), ctx.publisher) } }),
    }),
    route<undefined, HistoryQuery>({
      method: 'GET',
      path: `${base}/history`,
      auth: { scope: 'app:read' },
      summary: "Page through the app's event history, newest first",
      query: HistoryQuery,
      handle: async (ctx) => ({
        body: await s.events.history(ctx.principal.org, ctx.principal.appId, { before: ctx.query.before ?? null, limit: ctx.query.limit }),
      }),
    }),

    // ---- encryption keys (issue 18)
    route({
      method: 'GET',
      path: `${base}/keys`,
      auth: { scope: 'encryption:manage' },
      summary: "List the app's encryption keys",
      handle: async (ctx) => ({ body: { keys: await s.encryptionKeys.list(ctx.principal.org, ctx.principal.appId) } }),
    }),
    route<CreateEncryptionKeyBody>({
      method: 'POST',
      path: `${base}/keys`,
      auth: { scope: 'encryption:manage' },
      summary: 'Create an encryption key, or import one; its secret is shown once',
      status: 201,
      body: CreateEncryptionKeyBody,
      handle: async (ctx) => ({ status: 201, body: await s.encryptionKeys.create(ctx.actor, ctx.principal.org, ctx.principal.appId, ctx.body.import) }),
    }),
    route({
      method: 'POST',
      path: `${base}/keys/rotate`,
      auth: { scope: 'encryption:manage' },
      summary: "Rotate the app's encryption key: a new one, its secret shown once",
      status: 201,
      handle: async (ctx) => ({ status: 201, body: await s.encryptionKeys.rotate(ctx.actor, ctx.principal.org, ctx.principal.appId) }),
    }),
    route({
      method: 'DELETE',
      path: `${base}/keys/:id`,
      auth: { scope: 'encryption:manage' },
      summary: 'Retire an encryption key',
      handle: async (ctx) => ({ body: await s.encryptionKeys.retire(ctx.actor, validate(encryptionKeyIdParam, p(ctx, 'id'), 'key id'), ctx.principal) }),
    }),
  ];
}

/** The admin API's channel rules (the CLI's `relay channels rules`): an app's by path, one rule by its id. */
function adminChannelRuleRoutes(s: HttpServices): Route[] {
  const app = '/admin/v1/orgs/:org/apps/:app/channel-rules';
  return [
    route({ method: 'GET', path: app, auth: 'admin', handle: async (ctx) => ({ body: { rules: await s.channelRules.list(p(ctx, 'org'), p(ctx, 'app')) } }) }),
    route<CreateChannelRuleBody>({
      method: 'POST',
      path: app,
      auth: 'admin',
      body: CreateChannelRuleBody,
      handle: async (ctx) => ({ status: 201, body: { rule: await s.channelRules.add(ctx.actor, p(ctx, 'org'), p(ctx, 'app'), ctx.body) } }),
    }),
    route<undefined, ChannelRuleTestQuery>({
      method: 'GET',
      path: `${app}/test`,
      auth: 'admin',
      query: ChannelRuleTestQuery,
      handle: async (ctx) => ({ body: await s.channelRules.explain(p(ctx, 'org'), p(ctx, 'app'), ctx.query.channel) }),
    }),
    route({ method: 'GET', path: '/admin/v1/channel-rules/:id', auth: 'admin', handle: async (ctx) => ({ body: { rule: await s.channelRules.show(ruleId(ctx)) } }) }),
    route<UpdateChannelRuleBody>({
      method: 'PATCH',
      path: '/admin/v1/channel-rules/:id',
      auth: 'admin',
      body: UpdateChannelRuleBody,
      handle: async (ctx) => ({ body: { rule: await s.channelRules.update(ctx.actor, ruleId(ctx), ctx.body) } }),
    }),
    route({ method: 'DELETE', path: '/admin/v1/channel-rules/:id', auth: 'admin', handle: async (ctx) => ({ body: { rule: await s.channelRules.remove(ctx.actor, ruleId(ctx)) } }) }),
  ];
}

/** The public API's channel rules: channels:read reads them, channels:manage changes them. */
function publicChannelRuleRoutes(s: HttpServices, base: string): Route[] {
  return [
    route({
      method: 'GET',
      path: `${base}/channel-rules`,
      auth: { scope: 'channels:read' },
      summary: "List the app's channel rules",
      handle: async (ctx) => ({ body: { rules: await s.channelRules.list(ctx.publisher.org, ctx.publisher.appId) } }),
    }),
    route<CreateChannelRuleBody>({
      method: 'POST',
      path: `${base}/channel-rules`,
      auth: { scope: 'channels:manage' },
      summary: 'Add a channel rule: a pattern and its settings',
      status: 201,
      body: CreateChannelRuleBody,
      handle: async (ctx) => ({ status: 201, body: { rule: await s.channelRules.add(ctx.actor, ctx.publisher.org, ctx.publisher.appId, ctx.body) } }),
    }),
    route({
      method: 'GET',
      path: `${base}/channel-rules/:id`,
      auth: { scope: 'channels:read' },
      summary: 'Show a channel rule',
      handle: async (ctx) => ({ body: { rule: await s.channelRules.show(ruleId(ctx), ctx.publisher) } }),
    }),
    route<UpdateChannelRuleBody>({
      method: 'PATCH',
      path: `${base}/channel-rules/:id`,
      auth: { scope: 'channels:manage' },
      summary: 'Change a channel rule (null resets a setting to inherit)',
      body: UpdateChannelRuleBody,
      handle: async (ctx) => ({ body: { rule: await s.channelRules.update(ctx.actor, ruleId(ctx), ctx.body, ctx.publisher) } }),
    }),
    route({
      method: 'DELETE',
      path: `${base}/channel-rules/:id`,
      auth: { scope: 'channels:manage' },
      summary: 'Remove a channel rule',
      handle: async (ctx) => ({ body: { rule: await s.channelRules.remove(ctx.actor, ruleId(ctx), ctx.publisher) } }),
    }),
  ];
}

/**
 * Pusher's signed REST API at `/apps/{appId}/...` (§2), for the existing server SDKs: the
 * same core as the public API, with Pusher's answers (`{}` unless `info` asks for more).
 */
function pusherRoutes(s: HttpServices): Route[] {
  const base = '/apps/:app';
  const pusherInfo = (answer: { channels?: unknown }): unknown => (answer.channels === undefined ? {} : { channels: answer.channels });
  return [
    route<PublishBody>({
      method: 'POST',
      path: `${base}/events`,
      auth: 'pusher',
      summary: "Trigger an event on channels (Pusher's REST API)",
      bodyLimit: PUBLIC_BODY_LIMIT,
      body: PublishBody,
      handle: async (ctx) => ({ body: pusherInfo(await s.channels.publish(ctx.publisher, ctx.body)) }),
    }),
    route<BatchBody>({
      method: 'POST',
      path: `${base}/batch_events`,
      auth: 'pusher',
      summary: "Trigger a batch of events (Pusher's REST API)",
      bodyLimit: PUBLIC_BODY_LIMIT,
      body: BatchBody,
      handle: async (ctx) => {
        const answer = await s.channels.publishBatch(ctx.publisher, ctx.body);
        return { body: answer.batch === undefined ? {} : { batch: answer.batch } };
      },
    }),
    route<undefined, PusherChannelsQuery>({
      method: 'GET',
      path: `${base}/channels`,
      auth: 'pusher',
      summary: "List occupied channels (Pusher's REST API)",
      query: PusherChannelsQuery,
      handle: async (ctx) => ({ body: await s.channels.pusherList(ctx.publisher, ctx.query.filter_by_prefix, ctx.query.info) }),
    }),
    route<undefined, PusherChannelQuery>({
      method: 'GET',
      path: `${base}/channels/:channel`,
      auth: 'pusher',
      summary: "Show a channel (Pusher's REST API)",
      query: PusherChannelQuery,
      handle: async (ctx) => ({ body: await s.channels.pusherShow(ctx.publisher, validate(channelName, p(ctx, 'channel'), 'channel name'), ctx.query.info) }),
    }),
    route({
      method: 'GET',
      path: `${base}/channels/:channel/users`,
      auth: 'pusher',
      summary: "List a presence channel's users (Pusher's REST API)",
      handle: async (ctx) => ({ body: { users: await s.channels.users(ctx.publisher, validate(channelName, p(ctx, 'channel'), 'channel name')) } }),
    }),
    route({
      method: 'POST',
      path: `${base}/users/:user/terminate_connections`,
      auth: 'pusher',
      summary: "Close a user's connections (Pusher's REST API)",
      handle: async (ctx) => {
        await s.channels.terminateUser(ctx.publisher, validate(userIdParam, p(ctx, 'user'), 'user id'), PUSHER_CLOSE.unauthorized);
        return { body: {} };
      },
    }),
  ];
}
