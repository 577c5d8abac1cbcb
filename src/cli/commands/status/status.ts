import type { DaemonStatus } from '../../../shared/api.js';
import { parseDuration } from '../../../shared/duration.js';
import { RelayError } from '../../../shared/errors.js';
import type { Context } from '../../context.js';
import { follow, sleep } from '../../follow.js';
import { ago, clearScreen, details, fmt, line, print, printLine, styles, table } from '../../output.js';

export interface Options {
  watch: boolean;
  interval: string;
  reconnect: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const intervalMs = parseDuration(opts.interval, '--interval');
  if (intervalMs < 1000) throw new RelayError('invalid_request', '--interval must be at least 1s');
  if (!opts.watch && !opts.reconnect) throw new RelayError('invalid_request', '--no-reconnect goes with --watch');
  const client = await ctx.client();
  if (!opts.watch) {
    const status = await client.getStatus();
    await print(ctx, { json: status, human: () => render(ctx, status) });
    return;
  }
  // --watch: a frame per interval until Ctrl-C, which ends it with exit 0; follow.ts waits out relayd going away.
  const redraw = ctx.io.isStdoutTTY && !ctx.globals.json;
  await follow(ctx, { reconnect: opts.reconnect }, async (signal, opened) => {
    while (!signal.aborted) {
      const status = await client.getStatus();
      opened();
      if (redraw) {
        clearScreen(ctx);
        await render(ctx, status);
        line(ctx);
        line(ctx, `Every ${opts.interval}; Ctrl-C to stop.`);
      } else if (ctx.globals.jq !== undefined) {
        await print(ctx, { json: status, human: () => undefined });
      } else {
        printLine(ctx, status);
      }
      await sleep(intervalMs, signal);
    }
  });
}

async function render(ctx: Context, status: DaemonStatus): Promise<void> {
  const s = await styles(ctx);
  const connected = status.apps.filter((a) => a.connected).length;
  details(ctx, [
    ['relayd', fmt`${s.green('ok')}, version ${status.version}`],
    ['Up since', `${status.startedAt} (${formatUptime(status.uptimeMs)})`],
    ['Connections', String(status.connections)],
    ['Apps', `${status.apps.length} (${connected} connected)`],
  ]);
  if (status.apps.length === 0) return;
  line(ctx);
  await table(
    ctx,
    ['ORG', 'APP', 'STATUS', 'CONNECTED', 'CONNECTIONS', 'SUBSCRIBERS', 'LAST CONNECTED'],
    status.apps.map((a) => [
      a.org,
      a.id,
      a.status === 'inactive' ? s.yellow(a.status) : a.status,
      a.connected ? s.green('yes') : 'no',
      String(a.connections),
      String(a.channelConnections),
      ctx.io.isStdoutTTY ? ago(a.lastConnectedAt) : (a.lastConnectedAt ?? '-'),
    ]),
  );
}

function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `up ${d}d ${h}h` : h > 0 ? `up ${h}h ${m}m` : m > 0 ? `up ${m}m` : `up ${s}s`;
}
