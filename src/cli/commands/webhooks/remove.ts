import type { Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { confirm } from '../checks.js';
import { checkWebhookId } from './shared.js';

export interface Options {
  id: string;
  yes: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const id = checkWebhookId(opts.id);
  if (!(await confirm(ctx, opts.yes, `Remove webhook ${id}? Its pending deliveries are dropped.`, 'remove it'))) {
    note(ctx, 'Nothing changed.');
    return;
  }
  const result = await (await ctx.client()).removeWebhook(id);
  await print(ctx, { json: result, human: () => undefined });
  await success(ctx, `Removed webhook ${id} (${result.webhook.url})`);
}
