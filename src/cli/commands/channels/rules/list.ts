import { formatDuration } from '../../../../shared/duration.js';
import type { Context } from '../../../context.js';
import { column, note, print, table } from '../../../output.js';
import { checkId, required } from '../../checks.js';
import { onOffText } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const result = await (await ctx.client()).listChannelRules(opts.org, app);
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.rules.length === 0) {
        note(ctx, `No channel rules for ${app}. Add one with: relay channels rules add --app ${app} --pattern 'orders-*' --history off`);
        return;
      }
      await table(
        ctx,
        [column.id('ID'), column.text('PATTERN'), column.text('SCHEMA'), column.fixed('CLIENT EVENTS'), column.fixed('HISTORY'), column.fixed('RETENTION'), column.fixed('MAX MEMBERS')],
        result.rules.map((r) => [
          r.id,
          r.pattern,
          r.schema === null ? '-' : r.schemaEvent === null ? r.schema : `${r.schema} (${r.schemaEvent})`,
          onOffText(r.clientEvents, '-'),
          onOffText(r.history, '-'),
          r.retentionMs === null ? '-' : formatDuration(r.retentionMs),
          r.maxMembers === null ? '-' : String(r.maxMembers),
        ]),
      );
      note(ctx, '-: inherited from the app (or relayd). The most specific rule wins: an exact name, then the longest prefix.');
    },
  });
}
