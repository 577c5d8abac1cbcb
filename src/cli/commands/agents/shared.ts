import type { Agent } from '../../../shared/api.js';
import { formatDuration } from '../../../shared/duration.js';
import type { Context } from '../../context.js';
import { column, details, fmt, styles, table, time } from '../../output.js';

export async function agentTable(ctx: Context, agents: Agent[]): Promise<void> {
  const s = await styles(ctx);
  await table(
    ctx,
    [column.id('ID'), column.text('NAME'), column.fixed('STATUS'), column.fixed('CONNECTED'), column.fixed('TIMEOUT'), column.fixed('LAST CONNECTED')],
    agents.map((a) => [a.id, a.name, s.status(a.status), s.status(a.connected ? 'yes' : 'no'), formatDuration(a.timeoutMs), time(ctx, a.lastConnectedAt, 'ago')]),
  );
}

export async function agentDetails(ctx: Context, agent: Agent): Promise<void> {
  const s = await styles(ctx);
  details(ctx, [
    ['Agent', fmt`${s.bold(agent.id)} (${agent.name})`],
    ['Organization', agent.org],
    ['Status', s.status(agent.status)],
    ['Connected', agent.connected ? s.green(`yes, ${agent.connections} connection${agent.connections === 1 ? '' : 's'}`) : 'no'],
    ['Last connected', agent.lastConnectedAt === null ? 'never' : `${time(ctx, agent.lastConnectedAt, 'date')} (${time(ctx, agent.lastConnectedAt, 'ago')})`],
    ['Reply timeout', formatDuration(agent.timeoutMs)],
    ['Schema', agent.schema ?? 'none'],
    ['Created', time(ctx, agent.createdAt, 'date')],
  ]);
}
