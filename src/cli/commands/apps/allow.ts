import type { Context } from '../../context.js';
import { line, print, success } from '../../output.js';
import { checkId } from '../checks.js';

export interface Options {
  org: string;
  id: string;
  agents: string[];
  allow: boolean;
}

/** `apps allow` and `apps disallow`: one change to the allowlist, then the list as it is. */
export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'app id');
  for (const agent of opts.agents) checkId(agent, 'agent id');
  const client = await ctx.client();
  const result = opts.allow ? await client.allowAgents(opts.org, opts.id, opts.agents) : await client.disallowAgents(opts.org, opts.id, opts.agents);
  await print(ctx, {
    json: result,
    human: async () => {
      await success(ctx, `${opts.allow ? 'Allowed' : 'Disallowed'} ${opts.agents.join(', ')} for ${opts.id}`);
      line(ctx, result.allowedAgents.length === 0 ? `${opts.id} may send events to every agent of ${opts.org}.` : `${opts.id} may send events to: ${result.allowedAgents.join(', ')}`);
    },
  });
}
