import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { RelayError } from '../../src/shared/errors.js';
import type { Logger } from '../log.js';
import { refuseUpgrade } from '../ws/upgrade.js';
import { addressKey } from '../core/rate-limit.js';

export interface ConnectionGuardOptions {
  /** A connection that has sent nothing by then (at most twice this) is closed; node's own headersTimeout covers one that has started. */
  headerTimeoutMs: number;
  /** Open connections one client address may hold; null: no cap. */
  maxPerAddress: number | null;
  log: Logger;
}

/**
 * What every TCP connection goes through before HTTP sees it. node's `headersTimeout` starts
 * with the first byte, so a socket that never sends one would stay open for ever: 3,000 of
 * them cost file descriptors and memory without a single request.
 */
export function guardConnections(server: Server, options: ConnectionGuardOptions): void {
  const { headerTimeoutMs, maxPerAddress, log } = options;
  server.headersTimeout = headerTimeoutMs;
  // A request (headers and body) must be complete within this; the check runs every second rather than node's 30 s.
  server.requestTimeout = Math.max(30_000, headerTimeoutMs);
  const open = new Map<string, number>();
  // Two generations swept by one timer rather than a timer per socket (an idle subscriber's
  // memory is counted in the fan-out bench): a socket is looked at once, between one and
  // two header timeouts after it connected, and closed if it has sent nothing by then.
  let young = new Set<Socket>();
  let old = new Set<Socket>();
  const sweep = setInterval(() => {
    for (const socket of old) if (socket.bytesRead === 0 && !socket.destroyed) socket.destroy();
    old = young;
    young = new Set();
  }, headerTimeoutMs);
  sweep.unref();
  server.once('close', () => clearInterval(sweep));

  server.on('connection', (socket: Socket) => {
    // An IPv6 client can pick any address of its /64: counted as one.
    const address = addressKey(socket.remoteAddress);
    if (maxPerAddress !== null) {
      const count = (open.get(address) ?? 0) + 1;
      if (count > maxPerAddress) {
        log.debug({ address, limit: maxPerAddress }, 'connection refused: too many from one address');
        refuseUpgrade(socket, new RelayError('rate_limited', `too many open connections from ${address} (the limit is ${maxPerAddress}); close some first`), log);
        return;
      }
      open.set(address, count);
      socket.once('close', () => {
        const left = (open.get(address) ?? 1) - 1;
        if (left === 0) open.delete(address);
        else open.set(address, left);
      });
    }
    young.add(socket);
  });
}

/** How long a refused upload may go on being sent (and thrown away) after its answer. */
const LINGER_MS = 5_000;

/**
 * nginx's lingering close, for a connection whose request body was refused unread. Closed
 * at once, the kernel would answer the bytes still arriving with a reset, and a reset can
 * make the client lose the answer it has not read yet (the 401 saying why). Instead the
 * answer goes out, then our side of the connection ends, and what the client still sends
 * is read and thrown away until it stops or `LINGER_MS` has passed. node's http server
 * ends a `Connection: close` exchange with `socket.destroySoon()`, so that is what is
 * replaced, for this socket only; should node stop calling it, the close is abrupt again,
 * never longer.
 */
export function lingerOnClose(socket: Socket): void {
  socket.destroySoon = function lingeringClose(this: Socket): void {
    this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('end', () => this.destroy());
    this.once('close', () => clearTimeout(timer));
    // Nothing else reads a connection whose request is answered: keep it flowing, into nothing.
    this.resume();
  };
}
