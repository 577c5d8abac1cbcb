import type { App } from '../../../shared/api.js';
import type { Context } from '../../context.js';
import { ago, details, fmt, styles, table, when } from '../../output.js';

/** Views of an app shared by the apps verbs. */
export async function appTable(ctx: Context, apps: App[]): Promise<void> {
  const s = await styles(ctx);
  const tty = ctx.io.isStdoutTTY;
  await table(
    ctx,
    ['ID', 'NAME', 'STATUS', 'CONNECTIONS', 'LAST CONNECTED', 'CREATED'],
    apps.map((a) => [
      a.id,
      a.name,
      a.status === 'inactive' ? s.yellow(a.status) : a.status,
      a.connected ? s.green(String(a.connections)) : String(a.connections),
      tty ? ago(a.lastConnectedAt) : (a.lastConnectedAt ?? '-'),
      tty ? when(a.createdAt) : a.createdAt,
    ]),
  );
}

export async function appDetails(ctx: Context, app: App): Promise<void> {
  const s = await styles(ctx);
  details(ctx, [
    ['App', fmt`${s.bold(app.id)} (${app.name})`],
    ['Organization', app.org],
    ['Status', app.status === 'active' ? s.green('active') : s.yellow('inactive')],
    ['Connected', app.connected ? s.green(`yes, ${app.connections} connection${app.connections === 1 ? '' : 's'}`) : 'no'],
    ['Last connected', app.lastConnectedAt === null ? 'never' : `${when(app.lastConnectedAt)} (${ago(app.lastConnectedAt)})`],
    ['Description', app.description ?? '-'],
    ['Rate limit', app.rateLimitProfile],
    ['Channel subscribers', String(app.channelConnections)],
    ['Client events', app.clientEvents ? 'on' : 'off'],
    ['Subscription count', app.subscriptionCount ? 'on' : 'off'],
    ['Channel limits', channelLimits(app)],
    ['Agents', app.allowedAgents.length === 0 ? 'every agent of the organization' : app.allowedAgents.join(', ')],
    ['Created', when(app.createdAt)],
    ...(app.previousTokenValidUntil ? ([['Previous token', `valid until ${when(app.previousTokenValidUntil)}`]] as [string, string][]) : []),
  ]);
}

function channelLimits(app: App): string {
  const l = app.channelLimits;
  return [
    `${l.maxConnections ?? 'unlimited'} connections`,
    `${l.maxEventBytes} B a message`,
    `${l.maxPresenceMembers} presence members (user_info ${l.maxPresenceUserInfoBytes} B)`,
    `${l.clientEventsPerSecond} client events/s`,
    `${l.maxSubscriptionsPerConnection} subscriptions a connection`,
  ].join(', ');
}
