import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomInt } from 'node:crypto';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { ERRORS, RelayError } from '../../src/shared/errors.js';
import { ID_PREFIX } from '../../src/shared/ids.js';
import {
  MAX_PROTOCOL,
  MAX_PUSHER_FRAME_BYTES,
  MIN_PROTOCOL,
  PUSHER_CLOSE,
  pusherError,
  type PusherFrame,
} from '../../src/shared/protocol/pusher.js';
import type { ChannelService, ChannelSession, Subscriber } from '../core/channels.js';
import type { ConnectionRegistry, LocalConnection } from '../core/connections.js';
import { randomBase62 } from '../core/secrets.js';
import { jsonTooDeep, tooDeepMessage } from '../../src/shared/json-depth.js';
import type { Logger } from '../log.js';

export interface PusherEndpointDeps {
  channels: ChannelService;
  connections: ConnectionRegistry;
  log: Logger;
  /** Announced as `activity_timeout`; a client silent this long gets `pusher:ping`. */
  activityTimeoutMs: number;
}

/**
 * A subscriber that reads slower than its channels publish is closed (4100: reconnect after
 * a back-off) once this much is queued for it, so that it cannot grow relayd's memory.
 */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** How long a pinged client has to show a sign of life before it is closed with 4201. */
const MAX_PONG_WAIT_MS = 30_000;

/**
 * One subscriber socket: at once the channel service's session and the registry's entry, so
 * that an idle connection costs one object and no closures of its own (memory per idle
 * subscriber is measured in the fan-out bench).
 */
class PusherSocket implements ChannelSession, LocalConnection {
  readonly role = 'channel';
  readonly openedAt = Date.now();
  /** Set once the app key is known. */
  subscriber: Subscriber | null = null;
  lastSeen = Date.now();
  pingSentAt: number | null = null;

  readonly ws: WebSocket;
  readonly id: string;
  readonly socketId: string;
  readonly remoteAddress: string | null;
  /** The app key it connected with: a key change closes the sockets of the old one. */
  readonly credentialId: string;

  constructor(ws: WebSocket, id: string, socketId: string, remoteAddress: string | null, key: string) {
    this.ws = ws;
    this.id = id;
    this.socketId = socketId;
    this.remoteAddress = remoteAddress;
    this.credentialId = key;
  }

  get connectionId(): string {
    return this.id;
  }

  /** The registry lists a socket only once it has its subscriber (its app). */
  get org(): string {
    return this.subscriber?.app.org ?? '';
  }

  get ownerId(): string {
    return this.subscriber?.app.id ?? '';
  }

  send(frame: Buffer): void {
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      closeWithError(ws, PUSHER_CLOSE.overCapacity, 'Too slow: messages are piling up unread');
      return;
    }
    ws.send(frame, { binary: false });
  }

  /** Every close core asks for (an operator's, a terminate, a deactivation, a key change) tells the client why first. */
  close(code: number, reason: string): void {
    closeWithError(this.ws, code, reason);
  }
}

const encode = (frame: PusherFrame): Buffer => Buffer.from(JSON.stringify(frame));
const PONG = encode({ event: 'pusher:pong', data: '{}' });
const PING = encode({ event: 'pusher:ping', data: '{}' });

/**
 * `GET /app/{key}`: the Pusher Channels protocol v7 for subscribers. Thin: parse frames,
 * call core, encode. Refusals follow the reference's table: the `pusher:error` first, then
 * the close code; message-level errors (4009 on a subscription, 4301, malformed frames)
 * never close the socket.
 */
export class PusherEndpoint {
  readonly #deps: PusherEndpointDeps;
  // The sockets are tracked in #sockets, not a second time by the server.
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PUSHER_FRAME_BYTES, clientTracking: false });
  readonly #sockets = new Map<WebSocket, PusherSocket>();
  readonly #sweep: NodeJS.Timeout;
  readonly #pongWaitMs: number;
  /** Listeners shared by every socket (`this` is the socket): none is created per connection. */
  readonly #listeners: {
    error: (this: WebSocket, err: Error) => void;
    close: (this: WebSocket) => void;
    message: (this: WebSocket, data: RawData, isBinary: boolean) => void;
    pong: (this: WebSocket) => void;
  };

  constructor(deps: PusherEndpointDeps) {
    this.#deps = deps;
    const sockets = this.#sockets;
    const { channels, connections, log } = deps;
    const onMessage = (ws: WebSocket, data: RawData, isBinary: boolean): void => {
      const socket = sockets.get(ws);
      if (socket?.subscriber) this.#onMessage(socket, socket.subscriber, data, isBinary);
    };
    this.#listeners = {
      error(err) {
        log.debug({ connectionId: sockets.get(this)?.id, err: err.message }, 'channel socket error');
      },
      close() {
        const socket = sockets.get(this);
        if (!socket) return;
        sockets.delete(this);
        connections.remove(socket.id);
        // Never rejects: a leave the channel state missed is logged there.
        if (socket.subscriber) void channels.disconnect(socket.subscriber);
      },
      message(data, isBinary) {
        onMessage(this, data, isBinary);
      },
      pong() {
        const socket = sockets.get(this);
        if (socket) seen(socket);
      },
    };
    this.#pongWaitMs = Math.min(MAX_PONG_WAIT_MS, deps.activityTimeoutMs);
    const every = Math.max(250, Math.min(15_000, Math.floor(Math.min(deps.activityTimeoutMs, this.#pongWaitMs) / 4)));
    this.#sweep = setInterval(() => this.#checkActivity(), every);
    this.#sweep.unref();
  }

  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Pusher answers refusals over the WebSocket (pusher:error, then a close code), so every upgrade is accepted first.
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      this.#open(ws, req).catch((err: unknown) => {
        // Whatever a client sends, it must not take relayd down with an unhandled rejection.
        this.#deps.log.error({ err }, 'internal error opening a channel socket');
        closeWithError(ws, PUSHER_CLOSE.reconnect, 'internal error; see the relayd log');
      });
    });
  };

  async #open(ws: WebSocket, req: IncomingMessage): Promise<void> {
    const { channels, connections, log } = this.#deps;
    const url = new URL(req.url ?? '/', 'http://relayd');
    let key: string;
    try {
      key = decodeURIComponent(url.pathname.slice('/app/'.length));
    } catch {
      // Not UTF-8 once decoded (`/app/%E0`): no key is that, and keys never hold `%`.
      closeWithError(ws, PUSHER_CLOSE.appNotFound, 'App key is not valid in a URL path: it does not exist');
      return;
    }
    const protocol = url.searchParams.get('protocol');
    if (protocol === null || protocol === '') {
      closeWithError(ws, PUSHER_CLOSE.noProtocol, 'No protocol version given: connect with ?protocol=7');
      return;
    }
    const version = Number(protocol);
    if (!Number.isInteger(version) || version < MIN_PROTOCOL || version > MAX_PROTOCOL) {
      closeWithError(ws, PUSHER_CLOSE.unsupportedProtocol, `Unsupported protocol version ${protocol}: relayd speaks ${MIN_PROTOCOL} to ${MAX_PROTOCOL}`);
      return;
    }
    const socket = new PusherSocket(ws, `${ID_PREFIX.connection}${randomBase62(16)}`, `${randomInt(1, 1_000_000_000)}.${randomInt(1, 1_000_000_000)}`, req.socket.remoteAddress ?? null, key);
    this.#sockets.set(ws, socket);
    ws.on('error', this.#listeners.error);
    ws.on('close', this.#listeners.close);
    let subscriber: Subscriber;
    try {
      subscriber = await channels.connect(key, socket);
    } catch (err) {
      const error = asRelayError(err, log);
      const code = error.code === 'not_found' ? PUSHER_CLOSE.appNotFound : error.code === 'conflict' ? PUSHER_CLOSE.appDisabled : error.code === 'over_quota' ? PUSHER_CLOSE.overQuota : PUSHER_CLOSE.reconnect;
      closeWithError(ws, code, error.message);
      return;
    }
    if (ws.readyState !== ws.OPEN) {
      void channels.disconnect(subscriber);
      return;
    }
    socket.subscriber = subscriber;
    connections.add(socket);
    ws.on('message', this.#listeners.message);
    ws.on('pong', this.#listeners.pong);
    const activityTimeout = Math.max(1, Math.round(this.#deps.activityTimeoutMs / 1000));
    ws.send(encode({ event: 'pusher:connection_established', data: JSON.stringify({ socket_id: socket.socketId, activity_timeout: activityTimeout }) }), { binary: false });
  }

  #onMessage(socket: PusherSocket, subscriber: Subscriber, data: RawData, isBinary: boolean): void {
    seen(socket);
    const ws = socket.ws;
    if (isBinary) {
      send(ws, pusherError(null, 'Binary frames are not supported: send JSON text frames'));
      return;
    }
    const raw = Buffer.isBuffer(data) ? data : Buffer.from(data.toString());
    if (jsonTooDeep(raw)) {
      send(ws, pusherError(null, `Invalid message format: ${tooDeepMessage()}`));
      return;
    }
    let frame: unknown;
    try {
      frame = JSON.parse(raw.toString());
    } catch {
      send(ws, pusherError(null, 'Invalid message format: a frame must be one JSON object'));
      return;
    }
    const event = (frame as { event?: unknown } | null)?.event;
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || typeof event !== 'string') {
      send(ws, pusherError(null, 'Invalid message format: a frame must be a JSON object with a string "event"'));
      return;
    }
    const { channel, data: payload } = frame as { channel?: unknown; data?: unknown };
    const { channels, log } = this.#deps;
    const fail = (on: string | undefined) => (err: unknown) => {
      const error = asRelayError(err, log);
      send(ws, pusherError(ERRORS[error.code].ws, error.message, on));
    };
    switch (event) {
      case 'pusher:ping':
        ws.send(PONG, { binary: false });
        return;
      case 'pusher:pong':
        return;
      case 'pusher:subscribe': {
        const request = decodeData(payload);
        const name = typeof request?.['channel'] === 'string' ? (request['channel'] as string) : undefined;
        channels.subscribe(subscriber, request ?? {}).catch(fail(name));
        return;
      }
      case 'pusher:unsubscribe':
        void channels.unsubscribe(subscriber, decodeData(payload)?.['channel']);
        return;
      case 'pusher:signin':
        channels.signIn(subscriber, decodeData(payload) ?? {}).catch(fail(undefined));
        return;
      default:
        if (event.startsWith('client-')) {
          channels.clientEvent(subscriber, event, channel, payload).catch(fail(typeof channel === 'string' ? channel : undefined));
          return;
        }
        send(ws, pusherError(null, `Unknown event "${event.length > 100 ? `${event.slice(0, 100)}...` : event}": relayd takes pusher:ping, pusher:pong, pusher:subscribe, pusher:unsubscribe, pusher:signin and client- events`));
    }
  }


  /** A client silent for the activity timeout gets `pusher:ping`; one that stays silent after it is closed with 4201. */
  #checkActivity(): void {
    const now = Date.now();
    for (const [ws, socket] of this.#sockets) {
      if (socket.pingSentAt !== null) {
        if (now - socket.pingSentAt >= this.#pongWaitMs) closeWithError(ws, PUSHER_CLOSE.pongTimeout, 'Pong reply not received in time');
      } else if (now - socket.lastSeen >= this.#deps.activityTimeoutMs && ws.readyState === ws.OPEN) {
        socket.pingSentAt = now;
        ws.send(PING, { binary: false });
      }
    }
  }

  /** Shutdown: 4200 tells Pusher clients to come back at once (to this relayd once it restarts, or another). */
  closeAll(): void {
    clearInterval(this.#sweep);
    for (const ws of this.#sockets.keys()) closeWithError(ws, PUSHER_CLOSE.reconnect, 'relayd shutting down');
  }

  async drain(deadline: number): Promise<void> {
    while (this.#sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const ws of this.#sockets.keys()) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}

/** `data` of a client frame: an object, or (from some clients) the same object as a JSON string. */
function decodeData(data: unknown): Record<string, unknown> | null {
  let value = data;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function send(ws: WebSocket, frame: PusherFrame): void {
  if (ws.readyState === ws.OPEN) ws.send(encode(frame), { binary: false });
}

/** Any frame or pong from the client counts as activity. */
function seen(socket: PusherSocket): void {
  socket.lastSeen = Date.now();
  socket.pingSentAt = null;
}

/**
 * Every close relayd makes on purpose, refusals and closes of open sockets alike: the
 * `pusher:error` with the code and why first, then the close frame with the same code
 * (§1.1): old clients read the one, pusher-js acts on the other.
 */
function closeWithError(ws: WebSocket, code: number, message: string): void {
  send(ws, pusherError(code, message));
  // A close reason is at most 123 bytes.
  ws.close(code, Buffer.from(message).subarray(0, 120).toString());
}

function asRelayError(err: unknown, log: Logger): RelayError {
  if (err instanceof RelayError) return err;
  log.error({ err }, 'internal error on a channel socket');
  return new RelayError('internal', 'internal error; see the relayd log');
}
