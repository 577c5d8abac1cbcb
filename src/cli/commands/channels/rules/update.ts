import { RelayError } from '../../../../shared/errors.js';
import type { Context } from '../../../context.js';
import { print, success } from '../../../output.js';
import { checkRuleId, parseSettings, ruleDetails, type SettingFlags } from './shared.js';

export interface Options extends SettingFlags {
  id: string;
  pattern: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const id = checkRuleId(opts.id);
  const body = { ...(opts.pattern === undefined ? {} : { pattern: opts.pattern }), ...parseSettings(opts) };
  if (Object.keys(body).length === 0) {
    throw new RelayError('invalid_request', 'nothing to change: give --pattern, --schema, --schema-event, --client-events, --history, --retention or --max-members');
  }
  const result = await (await ctx.client()).updateChannelRule(id, body);
  await print(ctx, {
    json: result,
    human: async () => {
      await success(ctx, `Updated channel rule ${id}`);
      ruleDetails(ctx, result.rule);
    },
  });
}
