import { RelayError } from '../../../shared/errors.js';
import { WEBHOOK_EVENT_TYPES, isWebhookEventType, webhookUrlProblem, type WebhookEventType } from '../../../shared/webhooks.js';
import type { Context } from '../../context.js';
import { details, print, success } from '../../output.js';
import { checkId, required } from '../checks.js';

export interface Options {
  org: string;
  app: string | undefined;
  url: string | undefined;
  events: string[];
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const url = await required(ctx, opts.url, '--url', 'URL to POST events to', (v) => webhookUrlProblem(v) ?? true);
  const problem = webhookUrlProblem(url);
  if (problem) throw new RelayError('invalid_request', `invalid --url: ${problem}`);
  const unknown = opts.events.filter((e) => !isWebhookEventType(e));
  if (unknown.length > 0) {
    throw new RelayError('invalid_request', `unknown event type ${unknown.map((e) => `"${e}"`).join(', ')}; event types: ${WEBHOOK_EVENT_TYPES.join(', ')}`);
  }
  const result = await (await ctx.client()).addWebhook(opts.org, app, { url, events: opts.events as WebhookEventType[] });
  await print(ctx, {
    json: result,
    created: { id: result.webhook.id },
    human: async () => {
      await success(ctx, `Added webhook ${result.webhook.id} to app ${app}`);
      details(ctx, [
        ['URL', result.webhook.url],
        ['Events', result.webhook.events.length === 0 ? 'all' : result.webhook.events.join(', ')],
        ['Signed', `X-Pusher-Key and X-Pusher-Signature (HMAC-SHA256 of the body with the app's channel secret: relay apps credentials ${app})`],
      ]);
    },
  });
}
