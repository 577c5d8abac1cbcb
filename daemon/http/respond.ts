import type { ServerResponse } from 'node:http';
import { ERRORS, RelayError, errorBody } from '../../src/shared/errors.js';
import type { Logger } from '../log.js';
import { ClientGone } from './middleware/body.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

/** The one place an error becomes an HTTP answer. Anything that is not a RelayError is a 500, logged with its stack. */
export function sendError(res: ServerResponse, err: unknown, log: Logger, extraHeaders: Record<string, string> = {}): void {
  if (err instanceof ClientGone) {
    // A client's own doing, and anyone can do it: not worth an error line each time.
    log.debug({ reason: err.message }, 'client went away mid-request');
    res.destroy();
    return;
  }
  let error: RelayError;
  if (err instanceof RelayError) {
    error = err;
  } else {
    log.error({ err }, 'internal error');
    error = new RelayError('internal', 'internal error; see the relayd log');
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = ERRORS[error.code].http ?? 500;
  const headers: Record<string, string> = { ...extraHeaders };
  if (error.code === 'unauthorized') headers['www-authenticate'] = 'Bearer error="invalid_token"';
  if (error.code === 'insufficient_scope') headers['www-authenticate'] = `Bearer error="insufficient_scope"`;
  const retryAfter = error.details?.['retryAfter'];
  if (typeof retryAfter === 'number') headers['retry-after'] = String(retryAfter);
  sendJson(res, status, errorBody(error), headers);
}
