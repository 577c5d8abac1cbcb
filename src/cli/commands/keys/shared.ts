import type { EncryptionKeyCreated } from '../../../shared/api.js';
import { RelayError } from '../../../shared/errors.js';
import type { Context } from '../../context.js';
import { line, note, print, success } from '../../output.js';

/** Key ids on the command line: `key_` and 26 characters. */
export function checkKeyId(value: string): string {
  if (!/^key_[0-9A-Z]{26}$/.test(value)) {
    throw new RelayError('invalid_request', `invalid key id "${value}": key ids look like key_ and 26 capital letters or digits`, {
      hint: 'list them with `relay keys list --app ID`',
    });
  }
  return value;
}

/** `create` and `rotate`: the key once, with what to do with it. */
export async function printCreated(ctx: Context, result: EncryptionKeyCreated, message: string, quiet: boolean): Promise<void> {
  await print(
    ctx,
    {
      json: result,
      quiet: result.secret,
      created: { id: result.key.id, secret: result.secret },
      human: async () => {
        await success(ctx, message);
        line(ctx, result.secret);
        note(ctx, 'This key is shown once: give it to your channel auth backend as encryptionMasterKeyBase64 now. Refer to it by its id from now on.');
      },
    },
    { quiet },
  );
}
