import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { ERRORS, RelayError, errorBody } from '../../src/shared/errors.js';
import type { Logger } from '../log.js';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Dispatches WebSocket upgrades by path (a key ending in `*` matches by prefix); anything else is refused with an HTTP answer. */
export function createUpgradeDispatcher(
  endpoints: Record<string, UpgradeHandler>,
  options: { isDraining(): boolean; log: Logger },
): UpgradeHandler {
  return (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if (options.isDraining()) {
      refuseUpgrade(socket, new RelayError('unavailable', 'relayd is shutting down'), options.log);
      return;
    }
    const path = (req.url ?? '/').split('?')[0] as string;
    const handler = endpoints[path] ?? Object.entries(endpoints).find(([key]) => key.endsWith('*') && path.startsWith(key.slice(0, -1)) && path.length > key.length - 1)?.[1];
    if (!handler) {
      refuseUpgrade(socket, new RelayError('not_found', `no WebSocket endpoint at ${path}`), options.log);
      return;
    }
    handler(req, socket, head);
  };
}

/** Answers a refused handshake with the HTTP status of the error table and closes the socket. */
export function refuseUpgrade(socket: Duplex, err: unknown, log: Logger): void {
  let error: RelayError;
  if (err instanceof RelayError) {
    error = err;
  } else {
    log.error({ err }, 'internal error during a WebSocket handshake');
    error = new RelayError('internal', 'internal error; see the relayd log');
  }
  const status = ERRORS[error.code].http ?? 500;
  const body = JSON.stringify(errorBody(error));
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  if (error.code === 'unauthorized') lines.push('WWW-Authenticate: Bearer error="invalid_token"');
  const retryAfter = error.details?.['retryAfter'];
  if (typeof retryAfter === 'number') lines.push(`Retry-After: ${retryAfter}`);
  if (socket.writable) socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  else socket.destroy();
}
