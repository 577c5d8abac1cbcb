import type { IncomingMessage, ServerResponse } from 'node:http';
import FindMyWay from 'find-my-way';
import { RelayError } from '../../src/shared/errors.js';
import type { Logger } from '../log.js';
import { bearerToken } from './middleware/auth.js';
import { parseJson, readBody, readJson, validate } from './middleware/body.js';
import type { Publisher } from '../core/channels.js';
import { sendError, sendJson } from './respond.js';
import { lingerOnClose } from './connection-guard.js';
import type { HttpServices, Route } from './routes.js';
import type { ApiPrincipal } from '../core/tokens.js';
import { rateBucket } from '../core/rate-limit.js';
import type { Limit } from '../ratelimit/rate-limiter.js';
import { verifyBodyMd5 } from '../core/pusher-auth.js';
import type { Scope } from '../../src/shared/scopes.js';

/** Admin bodies are small; 64 KiB leaves room and caps what a bad client can make us buffer. */
const ADMIN_BODY_LIMIT = 64 * 1024;
/** Routes open to anyone (the health check) take no body; a stranger gets to send next to nothing. */
const UNAUTHENTICATED_BODY_LIMIT = 1024;

export interface HttpHandlerOptions {
  services: HttpServices;
  routes: Route[];
  log: Logger;
  /** True while draining: new requests get 503. */
  isDraining(): boolean;
}

export interface HttpHandler {
  listener(req: IncomingMessage, res: ServerResponse): void;
  /** Shutdown: ends every open stream cleanly, so that its client can tell relayd went away from a broken connection. */
  endStreams(): void;
}

/** Builds the request listener: route lookup, auth, body and query validation, one error path. */
export function createHttpHandler(options: HttpHandlerOptions): HttpHandler {
  const { services, log } = options;
  const router = FindMyWay({ ignoreTrailingSlash: true, maxParamLength: 200 });
  const allowed = new Map<string, string[]>();
  /** The open streams and what stops each. */
  const streams = new Map<ServerResponse, () => void>();

  for (const route of options.routes) {
    allowed.set(route.path, [...(allowed.get(route.path) ?? []), route.method]);
    router.on(route.method, route.path, (req, res, params) => {
      void run(route, req, res, params as Record<string, string>);
    });
  }

  async function run(route: Route, req: IncomingMessage, res: ServerResponse, params: Record<string, string>): Promise<void> {
    // The answer's own headers (RateLimit-*), given to writeHead at the end rather than set one by one: node writes them without merging.
    const headers: Record<string, string> = {};
    try {
      if (options.isDraining()) throw new RelayError('unavailable', 'relayd is shutting down');
      let actor = 'anonymous';
      let principal: ApiPrincipal | undefined;
      let publisher: Publisher | undefined;
      const target = req.url ?? '/';
      const queryAt = target.indexOf('?');
      // Most requests (every publish) have no query string: no parsing for them.
      const searchParams = queryAt === -1 ? null : new URLSearchParams(target.slice(queryAt + 1));
      const limit = route.bodyLimit ?? (route.auth === 'none' ? UNAUTHENTICATED_BODY_LIMIT : ADMIN_BODY_LIMIT);
      let raw: Buffer | undefined;
      let search: Record<string, string> = searchParams ? Object.fromEntries(searchParams) : {};
      if (route.auth === 'admin') {
        actor = await services.adminAuth.verify(bearerToken(req));
      } else if (route.auth === 'pusher') {
        // The signature is of the path as URL parsing normalises it.
        const url = new URL(target, 'http://relayd');
        const query = new Map<string, string[]>();
        for (const [name, value] of url.searchParams) query.set(name, [...(query.get(name) ?? []), value]);
        // Signed before read: a request that is not the app's own is refused without buffering a byte of its body.
        const app = await services.channelApps.authenticateRest(params['app'] as string, { method: req.method ?? 'GET', path: url.pathname, query, hasBody: declaresBody(req) }, services.now(), services.authTimestampWindowMs);
        await limitRate(services, headers, rateBucket.app(app.org, app.id), app.rateLimit, app.org, app.id);
        raw = await readBody(req, limit);
        verifyBodyMd5(query, raw);
        publisher = { org: app.org, appId: app.id };
        actor = `key:${app.key}`;
        search = Object.fromEntries(Object.entries(search).filter(([name]) => !PUSHER_AUTH_PARAMS.has(name)));
      } else if (route.auth !== 'none') {
        principal = await authorizePublic(services, req, headers, params, route.auth.scope);
        publisher = { org: principal.org, appId: principal.appId };
        actor = `token:${principal.tokenId}`;
      }
      const query = route.query ? validate(route.query, search, 'query') : undefined;
      const json = raw === undefined ? await readJson(req, limit) : parseJson(req, raw);
      const body = route.body ? validate(route.body, json) : refuseBody(json);
      const answer = await route.handle({ req, params, body, query, actor, principal: principal as ApiPrincipal, publisher: publisher as Publisher });
      if ('stream' in answer) {
        res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store', ...answer.headers, ...headers });
        res.flushHeaders();
        const stop = answer.stream(
          (value) => res.write(`${JSON.stringify(value)}\n`),
          (err) => {
            log.error({ err }, 'a stream failed');
            res.destroy();
          },
        );
        streams.set(res, stop);
        res.once('close', () => {
          streams.delete(res);
          stop();
        });
        return;
      }
      sendJson(res, answer.status ?? 200, answer.body, headers);
    } catch (err) {
      sendError(res, err, log, { ...headers, ...closeIfUnread(req) });
    }
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    // HEAD is GET without a body (node drops the body of a HEAD answer).
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const found = router.find(method as 'GET', (req.url ?? '/').split('?')[0] as string);
    if (found) {
      found.handler(req, res, found.params, found.store, found.searchParams);
      return;
    }
    const path = new URL(req.url ?? '/', 'http://relayd').pathname;
    const methods = [...allowed.entries()].filter(([pattern]) => matches(pattern, path)).flatMap(([, m]) => m);
    if (methods.length > 0 && !methods.includes(method ?? '')) {
      sendError(res, new RelayError('invalid_request', `${req.method} is not allowed on ${path}; use ${methods.join(', ')}`), log, closeIfUnread(req));
      return;
    }
    sendError(res, new RelayError('not_found', `no such endpoint: ${req.method} ${path}`), log, closeIfUnread(req));
  };

  const endStreams = (): void => {
    for (const [res, stop] of streams) {
      stop();
      res.end();
    }
    streams.clear();
  };

  return { listener, endStreams };
}

/**
 * The public API's gate, in the order that costs least for a refusal: the token (401), the
 * app in the path (403), the scope (403, naming it), then the rate limit (429): the app's,
 * or the token's own.
 * The RateLimit headers go into `headers`, for every answer past the limiter.
 */
async function authorizePublic(
  services: HttpServices,
  req: IncomingMessage,
  headers: Record<string, string>,
  params: Record<string, string>,
  scope: Scope,
): Promise<ApiPrincipal> {
  const principal = await services.tokens.authenticate(bearerToken(req));
  if (params['app'] !== principal.appId) throw new RelayError('forbidden', `this token belongs to app "${principal.appId}", not "${params['app']}"`);
  services.tokens.requireScope(principal, scope);
  await limitRate(services, headers, principal.rateBucket, principal.rateLimit, principal.org, principal.appId);
  return principal;
}

/** Counts the request against its bucket; the RateLimit headers go into `headers`, for every answer past this point. */
async function limitRate(services: HttpServices, headers: Record<string, string>, bucket: string, limit: Limit, org: string, appId: string): Promise<void> {
  const decision = await services.rateLimiter.consume(bucket, limit);
  headers['ratelimit-limit'] = String(decision.limit);
  headers['ratelimit-remaining'] = String(decision.remaining);
  headers['ratelimit-reset'] = String(decision.resetSeconds);
  if (!decision.allowed) {
    services.usage.rateLimited(org, appId);
    throw new RelayError('rate_limited', `rate limit of ${limit.perMinute}/min (burst ${limit.burst}) reached; retry in ${decision.retryAfterSeconds}s`, {
      details: { retryAfter: decision.retryAfterSeconds },
    });
  }
}

/** A refused request's body is not waited for (nor read and thrown away): the connection goes once the answer is out. */
function closeIfUnread(req: IncomingMessage): Record<string, string> {
  if (req.complete) return {};
  lingerOnClose(req.socket);
  return { connection: 'close' };
}

/** Whether the request says a body follows; a bodiless one says neither. */
function declaresBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** The signature's own query parameters, which are not the route's. */
const PUSHER_AUTH_PARAMS = new Set(['auth_key', 'auth_timestamp', 'auth_version', 'auth_signature', 'body_md5']);

/** Routes without a schema take no body; a body sent anyway is refused rather than ignored. */
function refuseBody(body: unknown): undefined {
  if (typeof body === 'object' && body !== null && Object.keys(body).length === 0) return undefined;
  throw new RelayError('invalid_request', 'this endpoint takes no body');
}

function matches(pattern: string, path: string): boolean {
  const a = pattern.split('/');
  const b = path.replace(/\/$/, '').split('/');
  return a.length === b.length && a.every((part, i) => part.startsWith(':') || part === b[i]);
}
