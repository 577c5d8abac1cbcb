import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { ID_PREFIX } from '../../src/shared/ids.js';
import { MAX_FRAME_BYTES, type ServerFrame } from '../../src/shared/protocol/relay.js';
import { jsonTooDeep, tooDeepMessage } from '../../src/shared/json-depth.js';
import { encodeFrame, type RelaySession } from '../core/relay.js';
import type { ConnectionRegistry } from '../core/connections.js';
import type { RelayService } from '../core/relay.js';
import { randomBase62 } from '../core/secrets.js';
import type { Logger } from '../log.js';
import { bearerToken } from '../http/middleware/auth.js';
import { refuseUpgrade } from './upgrade.js';

export interface RelayEndpointDeps {
  relay: RelayService;
  connections: ConnectionRegistry;
  log: Logger;
  pingIntervalMs: number;
}

interface Tracked {
  alive: boolean;
}

/**
 * `GET /v1/connect`: authenticates the handshake, then speaks the relay protocol on the socket.
 * Thin: parse, authenticate, call core, encode.
 */
export class RelayEndpoint {
  readonly #deps: RelayEndpointDeps;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, clientTracking: true });
  readonly #state = new WeakMap<WebSocket, Tracked>();
  readonly #keepalive: NodeJS.Timeout;

  constructor(deps: RelayEndpointDeps) {
    this.#deps = deps;
    // A peer that has not answered the previous ping by the next tick is gone: drop it.
    this.#keepalive = setInterval(() => {
      for (const ws of this.#wss.clients) {
        const tracked = this.#state.get(ws);
        if (!tracked) continue;
        if (!tracked.alive) {
          ws.terminate();
          continue;
        }
        tracked.alive = false;
        ws.ping();
      }
    }, deps.pingIntervalMs);
    this.#keepalive.unref();
  }

  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    void this.#upgrade(req, socket, head);
  };

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { relay, connections, log } = this.#deps;
    let peer;
    try {
      peer = await relay.authenticate(() => bearerToken(req), req.socket.remoteAddress);
    } catch (err) {
      refuseUpgrade(socket, err, log);
      return;
    }
    if (socket.destroyed) return;
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const id = `${ID_PREFIX.connection}${randomBase62(16)}`;
      this.#state.set(ws, { alive: true });
      connections.add({
        id,
        role: peer.role,
        org: peer.org,
        ownerId: peer.id,
        credentialId: peer.credentialId,
        openedAt: Date.now(),
        remoteAddress: req.socket.remoteAddress ?? null,
        socketId: null,
        close: (code, reason) => ws.close(code, reason),
      });
      log.info({ connectionId: id, role: peer.role, org: peer.org, id: peer.id }, 'relay connection opened');
      ws.on('pong', () => {
        const tracked = this.#state.get(ws);
        if (tracked) tracked.alive = true;
      });
      const session: RelaySession = {
        id,
        role: peer.role,
        org: peer.org,
        ownerId: peer.id,
        send: (data) => {
          if (ws.readyState !== ws.OPEN) return false;
          ws.send(data);
          return true;
        },
      };
      ws.on('message', (data, isBinary) => this.#onMessage(ws, session, data, isBinary));
      ws.on('error', (err) => log.debug({ connectionId: id, err: err.message }, 'relay socket error'));
      ws.on('close', (code) => {
        connections.remove(id);
        relay.close(session);
        log.info({ connectionId: id, code }, 'relay connection closed');
      });
      send(ws, { type: 'welcome', connectionId: id, role: peer.role, id: peer.id });
      relay.open(session).catch((err: unknown) => log.error({ err }, 'could not record the connection'));
    });
  }

  #onMessage(ws: WebSocket, session: RelaySession, data: RawData, isBinary: boolean): void {
    const tracked = this.#state.get(ws);
    if (tracked) tracked.alive = true;
    if (isBinary) {
      send(ws, protocolError('frames must be JSON text, not binary'));
      return;
    }
    const raw = Buffer.isBuffer(data) ? data : Buffer.from(data.toString());
    if (jsonTooDeep(raw)) {
      send(ws, protocolError(`a frame must be one JSON object: ${tooDeepMessage()}`));
      return;
    }
    const text = raw.toString();
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      send(ws, protocolError('a frame must be one JSON object'));
      return;
    }
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || typeof (frame as { type?: unknown }).type !== 'string') {
      send(ws, protocolError('a frame must be a JSON object with a string "type"'));
      return;
    }
    const bytes = raw.length;
    this.#deps.relay.receive(session, frame as { type: string } & Record<string, unknown>, bytes).catch((err: unknown) => {
      this.#deps.log.error({ err, connectionId: session.id }, 'a relay frame failed');
    });
  }

  /** Stops the keepalive; sockets are closed through the connection registry. */
  stop(): void {
    clearInterval(this.#keepalive);
  }

  /** Resolves when every socket has closed or the deadline passed (then they are cut). */
  async drain(deadline: number): Promise<void> {
    while (this.#wss.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}

function send(ws: WebSocket, frame: ServerFrame): void {
  if (ws.readyState === ws.OPEN) ws.send(encodeFrame(frame));
}

function protocolError(message: string): ServerFrame {
  return { type: 'error', error: { code: 'invalid_request', message } };
}
