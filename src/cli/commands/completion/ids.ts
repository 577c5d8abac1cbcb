import type { Context } from '../../context.js';
import { line } from '../../output.js';
import type { IdKind } from '../common.js';

/** Completion waits for nobody: a slow or absent relayd offers no ids rather than a stuck prompt. */
const TIMEOUT_MS = 1_000;
/** The newest events are the ones someone wants to show. */
const RECENT_EVENTS = 20;

export interface Options {
  kind: IdKind;
  org: string | undefined;
}

/**
 * `relay __complete KIND`, run by the completion scripts: the ids of that kind one a line,
 * and nothing at all (exit 0, no error output) when relayd cannot be asked.
 */
export async function run(opts: Options, ctx: Context): Promise<void> {
  let ids: string[];
  try {
    ids = await list(opts, ctx);
  } catch {
    return;
  }
  for (const id of ids) line(ctx, id);
}

async function list(opts: Options, ctx: Context): Promise<string[]> {
  const client = await ctx.client({ timeoutMs: TIMEOUT_MS });
  // Apps and agents are named within the organization the command line gives; the other ids
  // are global, so every organization's count when none is given.
  const orgs = opts.org !== undefined ? [opts.org] : opts.kind === 'apps' || opts.kind === 'agents' ? ['default'] : (await client.listOrgs()).orgs.map((o) => o.id);
  const perOrg = await Promise.all(
    orgs.map(async (org): Promise<string[]> => {
      switch (opts.kind) {
        case 'apps':
          return (await client.listApps(org)).apps.map((a) => a.id);
        case 'agents':
          return (await client.listAgents(org)).agents.map((a) => a.id);
        case 'connections':
          return (await client.listConnections(org, {})).connections.map((c) => c.id);
        case 'events':
          return (await client.listEvents(org, { limit: RECENT_EVENTS })).events.map((e) => e.id);
        case 'tokens':
        case 'webhooks': {
          const apps = (await client.listApps(org)).apps.map((a) => a.id);
          const lists = await Promise.all(
            apps.map(async (app) =>
              opts.kind === 'tokens' ? (await client.listTokens(org, app)).tokens.map((t) => t.id) : (await client.listWebhooks(org, app)).webhooks.map((w) => w.id),
            ),
          );
          return lists.flat();
        }
      }
    }),
  );
  return perOrg.flat();
}
