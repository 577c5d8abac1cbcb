import { parseDuration } from '../../../shared/duration.js';
import { AGENT_TIMEOUT_MS } from '../../../shared/limits.js';
import { SLUG_RULE, slugProblem } from '../../../shared/ids.js';
import type { Context } from '../../context.js';
import { line, note, print, success } from '../../output.js';
import { checkId, required } from '../checks.js';

export interface Options {
  org: string;
  id: string | undefined;
  name: string | undefined;
  timeout: string;
  quiet: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.org, 'organization id');
  if (opts.id !== undefined) checkId(opts.id, 'agent id');
  const timeoutMs = parseDuration(opts.timeout, '--timeout', AGENT_TIMEOUT_MS);
  const id = await required(ctx, opts.id, '--id', `Agent ID (${SLUG_RULE})`, (v) => slugProblem(v) ?? true);
  const name = await required(ctx, opts.name, '--name', 'Agent name');
  const result = await (await ctx.client()).registerAgent(opts.org, { id, name, timeoutMs });
  await print(
    ctx,
    {
      json: result,
      quiet: result.secret,
      created: { id: result.agent.id, secret: result.secret },
      human: async () => {
        await success(ctx, `Registered agent ${result.agent.id} in ${result.agent.org}`);
        line(ctx, result.secret);
        note(ctx, "This agent token is shown once: store it now (RELAY_AGENT_TOKEN=... in the agent's environment).");
      },
    },
    { quiet: opts.quiet },
  );
}
