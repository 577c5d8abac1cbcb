import type { Context } from '../../context.js';
import { line, print } from '../../output.js';
import { checkId, checkVersion, required } from '../checks.js';
import { checkSchemaName } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  name: string;
  version: string | undefined;
}

/** Prints the document itself (to save or diff); --json wraps it with its metadata. */
export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const name = checkSchemaName(opts.name);
  const version = opts.version === undefined ? undefined : checkVersion(opts.version, '--version');
  const result = await (await ctx.client()).showSchema(opts.org, app, name, version);
  await print(ctx, { json: result, human: () => {
      // Line by line: each is made safe for the terminal on its own (JSON escapes control characters in strings already).
      for (const text of JSON.stringify(result.schema.document, null, 2).split('\n')) line(ctx, text);
    }, });
}
