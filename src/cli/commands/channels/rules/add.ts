import type { Context } from '../../../context.js';
import { print, success } from '../../../output.js';
import { checkId, required } from '../../checks.js';
import { parseSettings, ruleDetails, type SettingFlags } from './shared.js';

export interface Options extends SettingFlags {
  org: string;
  app: string | undefined;
  pattern: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const pattern = await required(ctx, opts.pattern, '--pattern', "Channel name, or prefix ending in * ('orders-*')");
  const result = await (await ctx.client()).addChannelRule(opts.org, app, { pattern, ...parseSettings(opts) });
  await print(ctx, {
    json: result,
    created: { id: result.rule.id },
    human: async () => {
      await success(ctx, `Added channel rule ${result.rule.id} to app ${app}`);
      ruleDetails(ctx, result.rule);
    },
  });
}
