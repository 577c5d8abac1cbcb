import { formatDuration } from '../../../../shared/duration.js';
import type { Context } from '../../../context.js';
import { column, details, line, print, table } from '../../../output.js';
import { checkId, required } from '../../checks.js';

export interface Options {
  org: string;
  app: string | undefined;
  channel: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const result = await (await ctx.client()).testChannelRule(opts.org, app, opts.channel);
  await print(ctx, {
    json: result,
    human: async () => {
      const { rule, effective: e } = result;
      const from = (set: boolean): string => (set ? 'rule' : 'inherited');
      details(ctx, [
        ['Channel', result.channel],
        ['Rule', rule === null ? 'none' : `${rule.id} (${rule.pattern})`],
        ['Why', result.reason],
      ]);
      line(ctx);
      details(ctx, [
        ['Client events', `${e.clientEvents ? 'on' : 'off'} (${from(rule?.clientEvents != null)})`],
        ['History', `${e.history ? 'on' : 'off'} (${from(rule?.history != null)})`],
        ['Retention', `${formatDuration(e.retentionMs)} (${from(rule?.retentionMs != null)})`],
        ['Max members', `${e.maxMembers} (${from(rule?.maxMembers != null)})`],
        ['Schema', e.schema === null ? '-' : e.schemaEvent === null ? e.schema : `${e.schema} (event ${e.schemaEvent})`],
      ]);
      if (result.considered.length === 0) return;
      line(ctx);
      await table(
        ctx,
        [column.id('RULE'), column.text('PATTERN'), column.fixed('MATCHES'), column.text('WHY')],
        result.considered.map((c) => [c.ruleId, c.pattern, c.matches ? 'yes' : 'no', c.why]),
      );
    },
  });
}
