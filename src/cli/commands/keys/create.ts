import { RelayError } from '../../../shared/errors.js';
import { encryptionKeyMaterial } from '../../../shared/schemas.js';
import type { Context } from '../../context.js';
import { checkId, readStdin, required } from '../checks.js';
import { printCreated } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  /** Read the key from stdin (base64 of 32 bytes) instead of making one. */
  import: boolean;
  quiet: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  let imported: string | undefined;
  if (opts.import) {
    if (ctx.io.isStdinTTY) throw new RelayError('invalid_request', '--import reads the key from stdin: pipe it in (relay keys create --app ID --import < key.b64)');
    const parsed = encryptionKeyMaterial.safeParse(await readStdin(ctx.io.stdin));
    // The message names the rule, never the value read (it is a secret).
    if (!parsed.success) throw new RelayError('invalid_request', `the key on stdin ${parsed.error.issues[0]?.message ?? 'is not valid'}`);
    imported = parsed.data;
  }
  const result = await (await ctx.client()).createKey(opts.org, app, imported === undefined ? {} : { import: imported });
  await printCreated(ctx, result, `${imported === undefined ? 'Created' : 'Imported'} key ${result.key.id} for ${app} (active)`, opts.quiet);
}
