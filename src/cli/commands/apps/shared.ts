import type { App } from '../../../shared/api.js';
import type { Context } from '../../context.js';
import { column, details, fmt, styles, table, time } from '../../output.js';

/** Views of an app shared by the apps verbs. */
export async function appTable(ctx: Context, apps: App[]): Promise<void> {
  const s = await styles(ctx);
  await table(
    ctx,
    [column.id('ID'), column.text('NAME'), column.fixed('STATUS'), column.fixed('CONNECTIONS'), column.fixed('LAST CONNECTED'), column.fixed('CREATED')],
    apps.map((a) => [
      a.id,
      a.name,
      s.status(a.status),
      a.connected ? s.green(String(a.connections)) : String(a.connections),
      time(ctx, a.lastConnectedAt, 'ago'),
      time(ctx, a.createdAt, 'date'),
    ]),
  );
}

export async function appDetails(ctx: Context, app: App): Promise<void> {
  const s = await styles(ctx);
  details(ctx, [
    ['App', fmt`${s.bold(app.id)} (${app.name})`],
    ['Organization', app.org],
    ['Status', s.status(app.status)],
    ['Connected', app.connected ? s.green(`yes, ${app.connections} connection${app.connections === 1 ? '' : 's'}`) : 'no'],
    ['Last connected', app.lastConnectedAt === null ? 'never' : `${time(ctx, app.lastConnectedAt, 'date')} (${time(ctx, app.lastConnectedAt, 'ago')})`],
    ['Description', app.description ?? '-'],
    ['Rate limit', app.rateLimitProfile],
    ['Channel subscribers', String(app.channelConnections)],
    ['Client events', app.clientEvents ? 'on' : 'off'],
    ['Subscription count', app.subscriptionCount ? 'on' : 'off'],
    ['Channel limits', channelLimits(app)],
    ['Agents', app.allowedAgents.length === 0 ? 'every agent of the organization' : app.allowedAgents.join(', ')],
    ['Created', time(ctx, app.createdAt, 'date')],
    ...(app.previousTokenValidUntil ? ([['Previous token', `valid until ${time(ctx, app.previousTokenValidUntil, 'date')}`]] as [string, string][]) : []),
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
