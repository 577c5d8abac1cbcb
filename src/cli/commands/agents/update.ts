import { parseDuration } from '../../../shared/duration.js';
import { RelayError } from '../../../shared/errors.js';
import { AGENT_TIMEOUT_MS } from '../../../shared/limits.js';
import { schemaRefProblem } from '../../../shared/schemas.js';
import type { Context } from '../../context.js';
import { print, success } from '../../output.js';
import { checkId } from '../checks.js';
import { agentDetails } from './shared.js';

export interface Options {
  org: string;
  id: string;
  name: string | undefined;
  timeout: string | undefined;
  /** `APP/NAME`, or `none` to unbind. */
  schema: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'agent id');
  if (opts.name === undefined && opts.timeout === undefined && opts.schema === undefined) {
    throw new RelayError('invalid_request', 'nothing to change: give --name, --timeout or --schema');
  }
  let schema: string | null | undefined;
  if (opts.schema === 'none') schema = null;
  else if (opts.schema !== undefined) {
    const problem = schemaRefProblem(opts.schema);
    if (problem) throw new RelayError('invalid_request', `--schema: ${problem}`, { hint: 'e.g. --schema acme-pm/order (or --schema none to unbind)' });
    schema = opts.schema;
  }
  const result = await (await ctx.client()).updateAgent(opts.org, opts.id, {
    ...(opts.name === undefined ? {} : { name: opts.name }),
    ...(opts.timeout === undefined ? {} : { timeoutMs: parseDuration(opts.timeout, '--timeout', AGENT_TIMEOUT_MS) }),
    ...(schema === undefined ? {} : { schema }),
  });
  await print(ctx, {
    json: result,
    human: async () => {
      await success(ctx, `Updated agent ${result.agent.id}`);
      await agentDetails(ctx, result.agent);
    },
  });
}
