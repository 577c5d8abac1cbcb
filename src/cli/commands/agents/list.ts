import type { Context } from '../../context.js';
import { note, print } from '../../output.js';
import { checkId } from '../checks.js';
import { agentTable } from './shared.js';

export interface Options {
  org: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.org, 'organization id');
  const result = await (await ctx.client()).listAgents(opts.org);
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.agents.length === 0) {
        note(ctx, `No agents in ${opts.org} yet. Register one with: relay agents register --id ID --name NAME`);
        return;
      }
      await agentTable(ctx, result.agents);
    },
  });
}
