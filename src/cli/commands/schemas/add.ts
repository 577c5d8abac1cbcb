import type { Context } from '../../context.js';
import { print, success } from '../../output.js';
import { checkId, required } from '../checks.js';
import { checkSchemaName, readSchemaFile, schemaDetails } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  name: string | undefined;
  file: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const name = checkSchemaName(await required(ctx, opts.name, '--name', 'Schema name'));
  const schema = await readSchemaFile(ctx, opts.file);
  const result = await (await ctx.client()).addSchema(opts.org, app, { name, schema });
  await print(ctx, {
    json: result,
    human: async () => {
      await success(ctx, `Added schema ${result.schema.name} to ${app} (version 1)`);
      await schemaDetails(ctx, result.schema);
    },
  });
}
