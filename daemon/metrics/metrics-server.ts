import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { StartupError } from '../startup-error.js';

/** What the listener serves: the text exposition and its content type. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The `--metrics-port` listener: `GET /metrics` and nothing else (404), on a port of its own
 * so that what scrapes it never needs the API's credentials, and the API's port exposes no metrics.
 */
export async function startMetricsServer(source: MetricsSource, options: { host: string; port: number; log: Logger }): Promise<MetricsServer> {
  const { log } = options;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: metrics are at GET /metrics\n');
      return;
    }
    source.metrics().then(
      (text) => res.writeHead(200, { 'content-type': source.contentType }).end(text),
      (err: unknown) => {
        log.error({ err }, 'could not collect the metrics');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('could not collect the metrics\n');
      },
    );
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    const refused = (err: NodeJS.ErrnoException): void => {
      reject(err.code === 'EADDRINUSE' ? new StartupError(`the metrics port ${options.port} on ${options.host} is in use: pick another with --metrics-port or RELAY_METRICS_PORT`) : err);
    };
    server.once('error', refused);
    server.listen(options.port, options.host, () => {
      server.off('error', refused);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'the metrics listener failed'));
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scraper's keep-alive connection would hold the close open until it times out.
        server.closeAllConnections();
      }),
  };
}
