import WebSocket from 'ws';
import type { Daemon } from './daemon.js';

export interface OpenSocket {
  ws: WebSocket;
  welcome: Record<string, unknown>;
  /** Frames received after the welcome. */
  frames: Record<string, unknown>[];
  /** Resolves with the close code and reason when the server closes the socket. */
  closed: Promise<{ code: number; reason: string }>;
  /** The next frame (rejects after `timeoutMs`). */
  nextFrame(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends one frame as JSON. */
  send(frame: unknown): void;
}

export type Handshake = { ok: true; socket: OpenSocket } | { ok: false; status: number; body: string; headers: Record<string, string | string[] | undefined> };

export interface ConnectOptions {
  autoPong?: boolean;
  /** The client's own address (127.0.0.2 and so on are loopback too, on Linux). */
  localAddress?: string;
}

/** Opens `/v1/connect` with a credential: the welcome frame, or the HTTP status of the refusal. */
export function connect(daemon: Daemon, token: string, options: ConnectOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${daemon.wsUrl}/v1/connect`, {
      headers: { authorization: `Bearer ${token}` },
      autoPong: options.autoPong ?? true,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    const frames: Record<string, unknown>[] = [];
    const waiters: ((frame: Record<string, unknown>) => void)[] = [];
    const closed = new Promise<{ code: number; reason: string }>((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
    let welcome: Record<string, unknown> | null = null;
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    ws.on('error', (err) => {
      if (!welcome) reject(err);
    });
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      if (!welcome) {
        welcome = frame;
        resolve({
          ok: true,
          socket: {
            ws,
            welcome,
            frames,
            closed,
            nextFrame: (timeoutMs = 10_000) => {
              const queued = frames.shift();
              if (queued) return Promise.resolve(queued);
              return new Promise((res, rej) => {
                const timer = setTimeout(() => {
                  waiters.splice(waiters.indexOf(waiter), 1);
                  rej(new Error(`no frame within ${timeoutMs} ms`));
                }, timeoutMs);
                const waiter = (frame: Record<string, unknown>): void => {
                  clearTimeout(timer);
                  res(frame);
                };
                waiters.push(waiter);
              });
            },
            send: (frame) => ws.send(JSON.stringify(frame)),
          },
        });
        return;
      }
      const waiter = waiters.shift();
      if (waiter) waiter(frame);
      else frames.push(frame);
    });
  });
}

export async function connectOk(daemon: Daemon, token: string, options: ConnectOptions = {}): Promise<OpenSocket> {
  const result = await connect(daemon, token, options);
  if (!result.ok) throw new Error(`handshake refused with ${result.status}: ${result.body}`);
  return result.socket;
}

/** Polls `check` until it holds (no fixed sleeps), failing after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
