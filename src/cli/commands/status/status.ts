import type { DaemonStatus } from '../../../shared/api.js';
import { parseDuration } from '../../../shared/duration.js';
import { RelayError } from '../../../shared/errors.js';
import type { Context } from '../../context.js';
import { follow, sleep } from '../../follow.js';
import { clearScreen, column, details, duration, fmt, line, print, printLine, styles, table, time } from '../../output.js';

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
    ['relayd', fmt`${s.status('ok')}, version ${status.version}`],
    ['Node', status.nodes.length > 1 ? `${status.node} (one of ${status.nodes.length})` : status.node],
    ['Up since', `${time(ctx, status.startedAt, 'date')} (up ${duration(status.uptimeMs)})`],
    ['Connections', String(status.connections)],
    ['Apps', `${status.apps.length} (${connected} connected)`],
  ]);
  if (status.nodes.length > 1) {
    line(ctx);
    await table(
      ctx,
      [column.id('NODE'), column.fixed('URL'), column.fixed('CONNECTIONS'), column.fixed('UP'), column.fixed('BROKER'), column.fixed('VERSION'), column.fixed('HEARTBEAT')],
      status.nodes.map((n) => [n.id, n.url, String(n.connections), duration(n.uptimeMs), n.broker, n.version, time(ctx, n.lastHeartbeatAt, 'ago')]),
    );
  }
  if (status.apps.length === 0) return;
  line(ctx);
  await table(
    ctx,
    [column.id('ORG'), column.id('APP'), column.fixed('STATUS'), column.fixed('CONNECTED'), column.fixed('CONNECTIONS'), column.fixed('SUBSCRIBERS'), column.fixed('LAST CONNECTED')],
    status.apps.map((a) => [
      a.org,
      a.id,
      s.status(a.status),
      s.status(a.connected ? 'yes' : 'no'),
      String(a.connections),
      String(a.channelConnections),
      time(ctx, a.lastConnectedAt, 'ago'),
    ]),
  );
}
