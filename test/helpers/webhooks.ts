import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';

/** One event of a webhook body, Pusher's `{"name", ...fields}`. */
export type HookEvent = { name: string } & Record<string, unknown>;

/** One POST as the receiver saw it. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  body: { time_ms: number; events: HookEvent[] };
  /** When it arrived (ms since the epoch). */
  at: number;
  /** The status it was answered. */
  status: number;
}

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Every event of every body received, in arrival order. */
  events(): HookEvent[];
  /** The status of the next requests, one each (0: never answer); then `status`. */
  queue: number[];
  /** The status once the queue is empty (200 unless set). */
  status: number;
  /** Resolves with the first event (in any body so far or to come) that matches. */
  waitFor(match: (event: HookEvent) => boolean, timeoutMs?: number, what?: string): Promise<HookEvent>;
  /** Resolves once `count` requests have arrived. */
  waitForRequests(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Stops listening (and drops open connections). */
  close(): Promise<void>;
  /** Listens again on the same port. */
  reopen(): Promise<void>;
}

const open = new Set<Receiver>();

afterEach(async () => {
  await Promise.all([...open].map((r) => r.close()));
  open.clear();
});

/**
 * A real HTTP receiver on 127.0.0.1 (port 0 unless given): records each request's headers
 * and raw body and answers the status the test sets; closed after each test.
 */
export async function startReceiver(options: { port?: number; listening?: boolean } = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();
  let server: Server | null = null;

  const makeServer = (): Server =>
    createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const rawBody = Buffer.concat(chunks).toString('utf8');
        let body: ReceivedRequest['body'];
        try {
          body = JSON.parse(rawBody) as ReceivedRequest['body'];
        } catch {
          body = { time_ms: NaN, events: [] };
        }
        const status = receiver.queue.length > 0 ? receiver.queue.shift()! : receiver.status;
        requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, rawBody, body, at: Date.now(), status });
        // 0: no answer at all (the connection is left open until the receiver closes).
        if (status !== 0) res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
        for (const wake of [...waiters]) wake();
      });
    });

  const listen = async (port: number): Promise<number> => {
    server = makeServer();
    const s = server;
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    return (s.address() as AddressInfo).port;
  };

  const until = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const now = check();
      if (now !== undefined) return resolve(now);
      const wake = (): void => {
        const value = check();
        if (value === undefined) return;
        clearTimeout(timer);
        waiters.delete(wake);
        resolve(value);
      };
      const timer = setTimeout(() => {
        waiters.delete(wake);
        reject(new Error(`timed out waiting for ${what}; received ${JSON.stringify(requests.map((r) => ({ status: r.status, events: r.body.events })))}`));
      }, timeoutMs);
      waiters.add(wake);
    });

  const events = (): HookEvent[] => requests.flatMap((r) => r.body.events ?? []);

  let port = await listen(options.port ?? 0);
  if (options.listening === false) {
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = null;
  }

  const receiver: Receiver = {
    get url() {
      return `http://127.0.0.1:${port}/hooks`;
    },
    get port() {
      return port;
    },
    requests,
    events,
    queue: [],
    status: 200,
    waitFor: (match, timeoutMs = 10_000, what = 'a webhook event') => until(() => events().find(match), timeoutMs, what),
    waitForRequests: (count, timeoutMs = 10_000) => until(() => (requests.length >= count ? requests.slice(0, count) : undefined), timeoutMs, `${count} webhook requests`),
    close: async () => {
      const s = server;
      server = null;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    reopen: async () => {
      if (server) return;
      port = await listen(port);
    },
  };
  open.add(receiver);
  return receiver;
}
