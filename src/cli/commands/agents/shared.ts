import type { Agent } from '../../../shared/api.js';
import type { Context } from '../../context.js';
import { ago, details, fmt, styles, table, when } from '../../output.js';

export function formatTimeout(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export async function agentTable(ctx: Context, agents: Agent[]): Promise<void> {
  const s = await styles(ctx);
  const tty = ctx.io.isStdoutTTY;
  await table(
    ctx,
    ['ID', 'NAME', 'STATUS', 'CONNECTED', 'TIMEOUT', 'LAST CONNECTED'],
    agents.map((a) => [
      a.id,
      a.name,
      a.status === 'inactive' ? s.yellow(a.status) : a.status,
      a.connected ? s.green('yes') : 'no',
      formatTimeout(a.timeoutMs),
      tty ? ago(a.lastConnectedAt) : (a.lastConnectedAt ?? '-'),
    ]),
  );
}

export async function agentDetails(ctx: Context, agent: Agent): Promise<void> {
  const s = await styles(ctx);
  details(ctx, [
    ['Agent', fmt`${s.bold(agent.id)} (${agent.name})`],
    ['Organization', agent.org],
    ['Status', agent.status === 'active' ? s.green('active') : s.yellow('inactive')],
    ['Connected', agent.connected ? s.green(`yes, ${agent.connections} connection${agent.connections === 1 ? '' : 's'}`) : 'no'],
    ['Last connected', agent.lastConnectedAt === null ? 'never' : `${when(agent.lastConnectedAt)} (${ago(agent.lastConnectedAt)})`],
    ['Reply timeout', formatTimeout(agent.timeoutMs)],
    ['Created', when(agent.createdAt)],
  ]);
}
