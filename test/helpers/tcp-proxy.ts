import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of one of the machine's services (Redis, PostgreSQL), so that a test can take it away from one
 * client (and give it back) without touching the server other tests share.
 * - `cut()`: drops every connection and refuses new ones (each accepted and closed at once,
 *   counted in `refused`), as an unreachable Redis would.
 * - `stall()`: keeps the connections but forwards nothing, as a hung server or a broken
 *   network would.
 * - `restore()`: back to forwarding.
 */
export class TcpProxy {
  refused = 0;
  readonly #server: Server;
  readonly #pairs = new Set<{ client: Socket; upstream: Socket; held: Array<[Socket, Buffer]> }>();
  #mode: 'open' | 'cut' | 'stalled' = 'open';
  #refusedWaiters: Array<() => void> = [];

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(target: string): Promise<TcpProxy> {
    const { hostname, port } = new URL(target);
    const server = createServer();
    const proxy = new TcpProxy(server);
    server.on('connection', (client) => proxy.#accept(client, hostname, Number(port)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** `url` with its host and port replaced by the proxy's (keeping the path and query). */
  urlFor(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(this.port);
    return proxied.toString();
  }

  cut(): void {
    this.#mode = 'cut';
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.#pairs.clear();
  }

  stall(): void {
    this.#mode = 'stalled';
  }

  restore(): void {
    this.#mode = 'open';
    for (const pair of this.#pairs) for (const [to, chunk] of pair.held.splice(0)) to.write(chunk);
  }

  /** Resolves once `count` connections have been refused since the cut (the client retried that often). */
  async refusedAtLeast(count: number): Promise<void> {
    while (this.refused < count) await new Promise<void>((resolve) => this.#refusedWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket, host: string, port: number): void {
    if (this.#mode === 'cut') {
      client.destroy();
      this.refused++;
      for (const wake of this.#refusedWaiters.splice(0)) wake();
      return;
    }
    const upstream = connect({ host, port });
    const pair = { client, upstream, held: [] as Array<[Socket, Buffer]> };
    this.#pairs.add(pair);
    const forward = (to: Socket) => (chunk: Buffer) => {
      if (this.#mode === 'stalled') pair.held.push([to, chunk]);
      else to.write(chunk);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    const end = (): void => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  }
}
