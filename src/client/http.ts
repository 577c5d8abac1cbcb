import { request as httpRequest, type IncomingMessage } from 'node:http';
import type {
  AgentEnvelope,
  AgentList,
  AgentRegistered,
  AgentRotated,
  AgentStateChange,
  AllowedAgents,
  AnalyticsEnvelope,
  AnalyticsMetric,
  AnalyticsResolution,
  AppCredentials,
  AppEnvelope,
  AppList,
  AppRegistered,
  AppRotated,
  AppShow,
  AppStateChange,
  AuditList,
  Deleted,
  ChannelList,
  ConnectionClosed,
  ConnectionList,
  DaemonStatus,
  EventChange,
  EventList,
  EventShow,
  OrgEnvelope,
  OrgList,
  TokenCreated,
  TokenEnvelope,
  TokenList,
  TokenRevoked,
  WebhookDeliveryList,
  EncryptionKeyCreated,
  EncryptionKeyList,
  EncryptionKeyRetired,
  WebhookEnvelope,
  WebhookList,
  SchemaEnvelope,
  SchemaList,
  SchemaRemoved,
  FunctionEnvelope,
  FunctionList,
  FunctionLogLine,
  FunctionLogs,
  FunctionRemoved,
  FunctionTestResult,
} from '../shared/api.js';
import type { ChannelRuleEnvelope, ChannelRuleList, ChannelRuleTest } from '../shared/api.js';
import type { WebhookEventType } from '../shared/webhooks.js';
import { RelayError, isErrorCode } from '../shared/errors.js';
import type {
  AdminUpdateAppBody,
  CreateChannelRuleBody,
  DeployFunctionBody,
  RegisterAppBody,
  RollbackFunctionBody,
  TestFunctionBody,
  UpdateAgentBody,
  UpdateChannelRuleBody,
} from '../shared/schemas.js';

/** A refused or silent daemon must fail fast: the CLI promises exit 6 within 2 s. */
const CONNECT_TIMEOUT_MS = 1_500;
const RESPONSE_TIMEOUT_MS = 30_000;

export interface ClientOptions {
  url: string;
  token: string | null;
  /** The error to give when relayd refuses the request (401) instead of relayd's own (the CLI's says where it looked for the token). */
  refused?: RelayError | null;
  /** The longest a request may wait to connect and then between bytes of the answer (default: 1.5 s to connect, 30 s to answer). */
  timeoutMs?: number | undefined;
}

/**
 * The typed admin API client, over node:http rather than fetch: fetch loads undici lazily,
 * which costs tens of milliseconds of CLI start-up.
 */
export class AdminClient {
  readonly url: string;
  readonly #token: string | null;
  readonly #refused: RelayError | null;
  readonly #timeoutMs: number | undefined;

  constructor(options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#refused = options.refused ?? null;
    this.#timeoutMs = options.timeoutMs;
  }

  getStatus = (): Promise<DaemonStatus> => this.#call('GET', '/admin/v1/status');
  listOrgs = (): Promise<OrgList> => this.#call('GET', '/admin/v1/orgs');
  createOrg = (body: { id: string; name: string }): Promise<OrgEnvelope> => this.#call('POST', '/admin/v1/orgs', body);

  listApps = (org: string): Promise<AppList> => this.#call('GET', `${appsPath(org)}`);
  registerApp = (org: string, body: RegisterAppBody): Promise<AppRegistered> =>
    this.#call('POST', appsPath(org), body);
  showApp = (org: string, id: string): Promise<AppShow> => this.#call('GET', appPath(org, id));
  updateApp = (org: string, id: string, body: AdminUpdateAppBody): Promise<AppEnvelope> =>
    this.#call('PATCH', appPath(org, id), body);
  deactivateApp = (org: string, id: string): Promise<AppStateChange> => this.#call('POST', `${appPath(org, id)}/deactivate`);
  deleteApp = (org: string, id: string, purge: boolean): Promise<Deleted> => this.#call('DELETE', `${appPath(org, id)}${queryString({ purge: purge ? 'true' : undefined })}`);
  activateApp = (org: string, id: string): Promise<AppStateChange> => this.#call('POST', `${appPath(org, id)}/activate`);
  rotateApp = (org: string, id: string, graceMs: number): Promise<AppRotated> => this.#call('POST', `${appPath(org, id)}/rotate`, { graceMs });
  rotateChannelSecret = (org: string, id: string): Promise<AppCredentials> => this.#call('POST', `${appPath(org, id)}/rotate-channel-secret`);
  appCredentials = (org: string, id: string): Promise<AppCredentials> => this.#call('GET', `${appPath(org, id)}/credentials`);

  allowAgents = (org: string, id: string, agents: string[]): Promise<AllowedAgents> => this.#call('POST', `${appPath(org, id)}/allow`, { agents });
  disallowAgents = (org: string, id: string, agents: string[]): Promise<AllowedAgents> => this.#call('POST', `${appPath(org, id)}/disallow`, { agents });

  listAgents = (org: string): Promise<AgentList> => this.#call('GET', `${orgPath(org)}/agents`);
  registerAgent = (org: string, body: { id: string; name: string; timeoutMs: number }): Promise<AgentRegistered> => this.#call('POST', `${orgPath(org)}/agents`, body);
  showAgent = (org: string, id: string): Promise<AgentEnvelope> => this.#call('GET', agentPath(org, id));
  deactivateAgent = (org: string, id: string): Promise<AgentStateChange> => this.#call('POST', `${agentPath(org, id)}/deactivate`);
  deleteAgent = (org: string, id: string, purge: boolean): Promise<Deleted> => this.#call('DELETE', `${agentPath(org, id)}${queryString({ purge: purge ? 'true' : undefined })}`);
  activateAgent = (org: string, id: string): Promise<AgentStateChange> => this.#call('POST', `${agentPath(org, id)}/activate`);
  rotateAgent = (org: string, id: string, graceMs: number): Promise<AgentRotated> => this.#call('POST', `${agentPath(org, id)}/rotate`, { graceMs });

  createToken = (
    org: string,
    appId: string,
    body: { name: string; description?: string; scopes: string[]; rateLimit?: string; expires?: string },
  ): Promise<TokenCreated> => this.#call('POST', `${appPath(org, appId)}/tokens`, body);
  listTokens = (org: string, appId: string): Promise<TokenList> => this.#call('GET', `${appPath(org, appId)}/tokens`);
  showToken = (id: string): Promise<TokenEnvelope> => this.#call('GET', `/admin/v1/tokens/${encodeURIComponent(id)}`);
  revokeToken = (id: string): Promise<TokenRevoked> => this.#call('POST', `/admin/v1/tokens/${encodeURIComponent(id)}/revoke`);
  rotateToken = (id: string): Promise<TokenCreated> => this.#call('POST', `/admin/v1/tokens/${encodeURIComponent(id)}/rotate`);

  listEvents = (org: string, query: EventQueryParams): Promise<EventList> => this.#call('GET', `${orgPath(org)}/events${queryString(query)}`);
  showEvent = (id: string): Promise<EventShow> => this.#call('GET', `/admin/v1/events/${encodeURIComponent(id)}`);
  listConnections = (org: string, query: { app?: string | undefined }): Promise<ConnectionList> =>
    this.#call('GET', `${orgPath(org)}/connections${queryString(query)}`);
  listChannels = (org: string, app: string, query: { prefix?: string | undefined }): Promise<ChannelList> =>
    this.#call('GET', `${appPath(org, app)}/channels${queryString(query)}`);
  listWebhooks = (org: string, app: string): Promise<WebhookList> => this.#call('GET', `${appPath(org, app)}/webhooks`);
  addWebhook = (org: string, app: string, body: { url: string; events: WebhookEventType[] }): Promise<WebhookEnvelope> =>
    this.#call('POST', `${appPath(org, app)}/webhooks`, body);
  removeWebhook = (id: string): Promise<WebhookEnvelope> => this.#call('DELETE', `/admin/v1/webhooks/${encodeURIComponent(id)}`);
  webhookDeliveries = (id: string, limit: number): Promise<WebhookDeliveryList> =>
    this.#call('GET', `/admin/v1/webhooks/${encodeURIComponent(id)}/deliveries${queryString({ limit: String(limit) })}`);
  listChannelRules = (org: string, app: string): Promise<ChannelRuleList> => this.#call('GET', `${appPath(org, app)}/channel-rules`);
  addChannelRule = (org: string, app: string, body: CreateChannelRuleBody): Promise<ChannelRuleEnvelope> => this.#call('POST', `${appPath(org, app)}/channel-rules`, body);
  testChannelRule = (org: string, app: string, channel: string): Promise<ChannelRuleTest> =>
    this.#call('GET', `${appPath(org, app)}/channel-rules/test${queryString({ channel })}`);
  showChannelRule = (id: string): Promise<ChannelRuleEnvelope> => this.#call('GET', `/admin/v1/channel-rules/${encodeURIComponent(id)}`);
  updateChannelRule = (id: string, body: UpdateChannelRuleBody): Promise<ChannelRuleEnvelope> => this.#call('PATCH', `/admin/v1/channel-rules/${encodeURIComponent(id)}`, body);
  removeChannelRule = (id: string): Promise<ChannelRuleEnvelope> => this.#call('DELETE', `/admin/v1/channel-rules/${encodeURIComponent(id)}`);
  // ---- encryption keys (issue 18)
  listKeys = (org: string, app: string): Promise<EncryptionKeyList> => this.#call('GET', `${appPath(org, app)}/keys`);
  createKey = (org: string, app: string, body: { import?: string }): Promise<EncryptionKeyCreated> => this.#call('POST', `${appPath(org, app)}/keys`, body);
  rotateKey = (org: string, app: string): Promise<EncryptionKeyCreated> => this.#call('POST', `${appPath(org, app)}/keys/rotate`);
  retireKey = (id: string): Promise<EncryptionKeyRetired> => this.#call('DELETE', `/admin/v1/keys/${encodeURIComponent(id)}`);
  updateAgent = (org: string, id: string, body: UpdateAgentBody): Promise<AgentEnvelope> => this.#call('PATCH', agentPath(org, id), body);

  // ---- event schemas
  listSchemas = (org: string, app: string): Promise<SchemaList> => this.#call('GET', `${appPath(org, app)}/schemas`);
  addSchema = (org: string, app: string, body: { name: string; schema: unknown }): Promise<SchemaEnvelope> => this.#call('POST', `${appPath(org, app)}/schemas`, body);
  showSchema = (org: string, app: string, name: string, version?: number): Promise<SchemaEnvelope> =>
    this.#call('GET', `${schemaPath(org, app, name)}${version === undefined ? '' : `/versions/${version}`}`);
  updateSchema = (org: string, app: string, name: string, schema: unknown): Promise<SchemaEnvelope> => this.#call('POST', `${schemaPath(org, app, name)}/versions`, { schema });
  removeSchema = (org: string, app: string, name: string, force: boolean): Promise<SchemaRemoved> =>
    this.#call('DELETE', `${schemaPath(org, app, name)}${queryString({ force: force ? 'true' : undefined })}`);

  closeConnection = (id: string): Promise<ConnectionClosed> => this.#call('DELETE', `/admin/v1/connections/${encodeURIComponent(id)}`);

  /**
   * Follows the stream of `relay events tail`: `onOpen` once relayd has accepted it, with the
   * seq it starts after (its `Relay-After` header); `onChange` for each change. `after`
   * resumes after a change already seen. Resolves when `signal` aborts; rejects with
   * `daemon_unreachable` when relayd goes away, whether it ended the stream (shutting down)
   * or the connection broke.
   */
  streamEvents = (
    org: string,
    query: EventStreamParams,
    handlers: { onChange(change: EventChange): void; onOpen(after: number): void },
    signal: AbortSignal,
  ): Promise<void> =>
    this.#stream<EventChange>(`${orgPath(org)}/events/stream${queryString(query)}`, query.after ?? 0, { onItem: handlers.onChange, onOpen: handlers.onOpen }, signal);

  listAudit = (query: { sinceMs?: number; limit?: number }): Promise<AuditList> =>
    this.#call('GET', `/admin/v1/audit${queryString({ since: query.sinceMs, limit: query.limit })}`);

  // ---- usage analytics (issue 20)
  /** An organization's usage over a range: one app's (`app`), or every app's added up. */
  analytics = (org: string, query: AnalyticsQueryParams): Promise<AnalyticsEnvelope> =>
    this.#call('GET', `${orgPath(org)}/analytics${queryString({ app: query.app, since: query.since, until: query.until, by: query.by, metrics: query.metrics?.join(',') })}`);

  // ---- edge functions (issue 19)
  listFunctions = (org: string, app: string): Promise<FunctionList> => this.#call('GET', `${appPath(org, app)}/functions`);
  deployFunction = (org: string, app: string, body: DeployFunctionBody): Promise<FunctionEnvelope> => this.#call('POST', `${appPath(org, app)}/functions`, body);
  showFunction = (org: string, app: string, name: string, version?: number): Promise<FunctionEnvelope> =>
    this.#call('GET', `${functionPath(org, app, name)}${version === undefined ? '' : `/versions/${version}`}`);
  rollbackFunction = (org: string, app: string, name: string, version: number): Promise<FunctionEnvelope> =>
    this.#call('POST', `${functionPath(org, app, name)}/rollback`, { version } satisfies RollbackFunctionBody);
  removeFunction = (org: string, app: string, name: string): Promise<FunctionRemoved> => this.#call('DELETE', functionPath(org, app, name));
  functionLogs = (org: string, app: string, name: string, query: { after?: number | undefined; limit?: number | undefined }): Promise<FunctionLogs> =>
    this.#call('GET', `${functionPath(org, app, name)}/logs${queryString(query)}`);
  testFunction = (org: string, app: string, name: string, body: TestFunctionBody): Promise<FunctionTestResult> => this.#call('POST', `${functionPath(org, app, name)}/test`, body);

  /**
   * Follows a function's log (`relay functions logs --follow`) as streamEvents follows events:
   * `onOpen` with the seq it starts after, `onLine` for each line; `after` resumes after a line
   * already seen.
   */
  streamFunctionLogs = (
    org: string,
    app: string,
    name: string,
    query: { after?: number | undefined },
    handlers: { onLine(line: FunctionLogLine): void; onOpen(after: number): void },
    signal: AbortSignal,
  ): Promise<void> =>
    this.#stream<FunctionLogLine>(`${functionPath(org, app, name)}/logs/stream${queryString(query)}`, query.after ?? 0, { onItem: handlers.onLine, onOpen: handlers.onOpen }, signal);

  /**
   * An NDJSON stream of relayd's: `onOpen` once relayd has accepted it, with the seq it starts
   * after (its `Relay-After` header, else `after`); `onItem` for each line. Resolves when
   * `signal` aborts; rejects with `daemon_unreachable` when relayd goes away, whether it ended
   * the stream (shutting down) or the connection broke.
   */
  async #stream<T>(path: string, after: number, handlers: { onItem(item: T): void; onOpen(after: number): void }, signal: AbortSignal): Promise<void> {
    const res = await this.#open('GET', path, undefined, 0);
    if ((res.statusCode ?? 0) >= 300) throw this.#refusal(res.statusCode ?? 0, parseOrNull(await readAll(res)));
    const start = Number(res.headers['relay-after']);
    handlers.onOpen(Number.isSafeInteger(start) ? start : after);
    return new Promise<void>((resolve, reject) => {
      const stop = (): void => {
        res.destroy();
        resolve();
      };
      if (signal.aborted) {
        stop();
        return;
      }
      signal.addEventListener('abort', stop, { once: true });
      const wentAway = (how: string): void => {
        signal.removeEventListener('abort', stop);
        if (!signal.aborted) reject(new RelayError('daemon_unreachable', `relayd at ${this.url} went away (${how})`, { hint: 'start relayd again, then run this again' }));
      };
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) !== -1) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line) handlers.onItem(JSON.parse(line) as T);
        }
      });
      // A clean end (the last chunk) is relayd shutting down; anything else, a broken connection.
      res.on('end', () => wentAway('it ended the stream: shutting down'));
      res.on('error', () => wentAway('the connection broke'));
    });
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#open(method, path, body, this.#timeoutMs ?? RESPONSE_TIMEOUT_MS);
    const text = await readAll(res);
    const status = res.statusCode ?? 0;
    const parsed = parseOrNull(text);
    if (parsed === undefined) throw new RelayError('internal', `${this.url} answered ${status} with a body that is not JSON; is it relayd?`);
    if (status >= 200 && status < 300) return parsed as T;
    throw this.#refusal(status, parsed);
  }

  #refusal(status: number, body: unknown): RelayError {
    if (status === 401 && this.#refused) return this.#refused;
    return toError(status, body);
  }

  /** Sends a request and resolves with the response once its headers are in; `timeoutMs` 0: no idle limit (streams). */
  async #open(method: string, path: string, body: unknown, timeoutMs: number): Promise<IncomingMessage> {
    const url = new URL(this.url + path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    // node:https pulls in TLS: load it only for https URLs (start-up time).
    const send = url.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, { method, headers }, resolve);
      const connectTimer = setTimeout(() => req.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), Math.min(CONNECT_TIMEOUT_MS, this.#timeoutMs ?? CONNECT_TIMEOUT_MS));
      req.on('socket', (socket) => {
        socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      if (timeoutMs > 0) req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer);
        reject(
          new RelayError('daemon_unreachable', `cannot reach relayd at ${this.url} (${err.code ?? err.message})`, {
            hint: 'start it with `relayd` (or `npm start` in the project), or point --url / RELAY_URL at it',
          }),
        );
      });
      req.end(payload);
    });
  }
}

const orgPath = (org: string): string => `/admin/v1/orgs/${encodeURIComponent(org)}`;
const appsPath = (org: string): string => `${orgPath(org)}/apps`;
const appPath = (org: string, id: string): string => `${appsPath(org)}/${encodeURIComponent(id)}`;
const agentPath = (org: string, id: string): string => `${orgPath(org)}/agents/${encodeURIComponent(id)}`;
const schemaPath = (org: string, app: string, name: string): string => `${appPath(org, app)}/schemas/${encodeURIComponent(name)}`;
const functionPath = (org: string, app: string, name: string): string => `${appPath(org, app)}/functions/${encodeURIComponent(name)}`;

export type EventQueryParams = {
  app?: string | undefined;
  agent?: string | undefined;
  thread?: string | undefined;
  status?: string | undefined;
  /** How far back, in milliseconds. */
  since?: number | undefined;
  limit?: number | undefined;
  before?: string | undefined;
};

/** `since` and `until` as relayd reads them (a duration back from now, an ISO 8601 time or epoch ms), so that its clock decides. */
export type AnalyticsQueryParams = {
  app?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  /** The bucket; relayd chooses one from the range when absent. */
  by?: AnalyticsResolution | undefined;
  /** Every metric when absent. */
  metrics?: AnalyticsMetric[] | undefined;
};

/** The filters of `events list` that make sense live, and where to resume. */
export type EventStreamParams = {
  app?: string | undefined;
  agent?: string | undefined;
  thread?: string | undefined;
  status?: string | undefined;
  /** The seq of the last change seen: the stream starts with the ones after it. */
  after?: number | undefined;
};

function queryString(query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const qs = params.toString();
  return qs ? `?${qs}` : '';
}

/** The parsed JSON body; `{}` for an empty one; undefined when it is not JSON. */
function parseOrNull(text: string): unknown {
  if (!text) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function toError(status: number, body: unknown): RelayError {
  const error = (body as { error?: { code?: unknown; message?: unknown; hint?: unknown } } | null)?.error;
  const code = isErrorCode(error?.code) ? error.code : status === 401 ? 'unauthorized' : status === 404 ? 'not_found' : 'internal';
  const message = typeof error?.message === 'string' ? error.message : `relayd answered ${status}`;
  let hint = typeof error?.hint === 'string' ? error.hint : undefined;
  if (code === 'unauthorized') hint = 'check --token / RELAY_ADMIN_TOKEN, or run `relay login`';
  return new RelayError(code, message, { hint });
}
