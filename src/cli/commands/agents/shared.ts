import type { Agent } from '../../../shared/api.js';
import type { Context } from '../../context.js';
import { column, details, fmt, styles, table, time } from '../../output.js';

export function formatTimeout(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export async function agentTable(ctx: Context, agents: Agent[]): Promise<void> {
  const s = await styles(ctx);
  await table(
    ctx,
    [column.id('ID'), column.text('NAME'), column.fixed('STATUS'), column.fixed('CONNECTED'), column.fixed('TIMEOUT'), column.fixed('LAST CONNECTED')],
    agents.map((a) => [a.id, a.name, s.status(a.status), s.status(a.connected ? 'yes' : 'no'), formatTimeout(a.timeoutMs), time(ctx, a.lastConnectedAt, 'ago')]),
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
    ['Reply timeout', formatTimeout(agent.timeoutMs)],
    ['Created', time(ctx, agent.createdAt, 'date')],
  ]);
}
