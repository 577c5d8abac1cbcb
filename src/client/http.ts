import { request as httpRequest, type IncomingMessage } from 'node:http';
import type {
  AppCredentials,
  AppEnvelope,
  AppList,
  AppRegistered,
  AppRotated,
  AppShow,
  AppStateChange,
  AuditList,
  DaemonStatus,
  OrgEnvelope,
  OrgList,
  TokenCreated,
  TokenEnvelope,
  TokenList,
  TokenRevoked,
} from '../shared/api.js';
import { RelayError, isErrorCode } from '../shared/errors.js';

/** A refused or silent daemon must fail fast: the CLI promises exit 6 within 2 s. */
const CONNECT_TIMEOUT_MS = 1_500;
const RESPONSE_TIMEOUT_MS = 30_000;

export interface ClientOptions {
  url: string;
  token: string | null;
}

/**
 * The typed admin API client, over node:http rather than fetch: fetch loads undici lazily,
 * which costs tens of milliseconds of CLI start-up.
 */
export class AdminClient {
  readonly url: string;
  readonly #token: string | null;

  constructor(options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
  }

  getStatus = (): Promise<DaemonStatus> => this.#call('GET', '/admin/v1/status');
  listOrgs = (): Promise<OrgList> => this.#call('GET', '/admin/v1/orgs');
  createOrg = (body: { id: string; name: string }): Promise<OrgEnvelope> => this.#call('POST', '/admin/v1/orgs', body);

  listApps = (org: string): Promise<AppList> => this.#call('GET', `${appsPath(org)}`);
  registerApp = (org: string, body: { id: string; name: string; description?: string }): Promise<AppRegistered> =>
    this.#call('POST', appsPath(org), body);
  showApp = (org: string, id: string): Promise<AppShow> => this.#call('GET', appPath(org, id));
  updateApp = (org: string, id: string, body: { name?: string; description?: string; rateLimitProfile?: string }): Promise<AppEnvelope> =>
    this.#call('PATCH', appPath(org, id), body);
  deactivateApp = (org: string, id: string): Promise<AppStateChange> => this.#call('POST', `${appPath(org, id)}/deactivate`);
  activateApp = (org: string, id: string): Promise<AppStateChange> => this.#call('POST', `${appPath(org, id)}/activate`);
  rotateApp = (org: string, id: string, graceMs: number): Promise<AppRotated> => this.#call('POST', `${appPath(org, id)}/rotate`, { graceMs });
  rotateChannelSecret = (org: string, id: string): Promise<AppCredentials> => this.#call('POST', `${appPath(org, id)}/rotate-channel-secret`);
  appCredentials = (org: string, id: string): Promise<AppCredentials> => this.#call('GET', `${appPath(org, id)}/credentials`);

  createToken = (
    org: string,
    appId: string,
    body: { name: string; description?: string; scopes: string[]; rateLimit?: string; expires?: string },
  ): Promise<TokenCreated> => this.#call('POST', `${appPath(org, appId)}/tokens`, body);
  listTokens = (org: string, appId: string): Promise<TokenList> => this.#call('GET', `${appPath(org, appId)}/tokens`);
  showToken = (id: string): Promise<TokenEnvelope> => this.#call('GET', `/admin/v1/tokens/${encodeURIComponent(id)}`);
  revokeToken = (id: string): Promise<TokenRevoked> => this.#call('POST', `/admin/v1/tokens/${encodeURIComponent(id)}/revoke`);
  rotateToken = (id: string): Promise<TokenCreated> => this.#call('POST', `/admin/v1/tokens/${encodeURIComponent(id)}/rotate`);

  listAudit = (query: { sinceMs?: number; limit?: number }): Promise<AuditList> => {
    const params = new URLSearchParams();
    if (query.sinceMs !== undefined) params.set('since', String(query.sinceMs));
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const qs = params.toString();
    return this.#call('GET', `/admin/v1/audit${qs ? `?${qs}` : ''}`);
  };

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
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
    return new Promise<T>((resolve, reject) => {
      const req = send(url, { method, headers }, (res) => {
        readAll(res).then((text) => {
          const status = res.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            reject(new RelayError('internal', `${this.url} answered ${status} with a body that is not JSON; is it relayd?`));
            return;
          }
          if (status >= 200 && status < 300) resolve(parsed as T);
          else reject(toError(status, parsed));
        }, reject);
      });
      const connectTimer = setTimeout(() => req.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
      req.on('socket', (socket) => {
        socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      req.setTimeout(RESPONSE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
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

const appsPath = (org: string): string => `/admin/v1/orgs/${encodeURIComponent(org)}/apps`;
const appPath = (org: string, id: string): string => `${appsPath(org)}/${encodeURIComponent(id)}`;

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
