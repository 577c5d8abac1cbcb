import { readFile } from 'node:fs/promises';
import type { EventSchema } from '../../../shared/api.js';
import { RelayError } from '../../../shared/errors.js';
import { SCHEMA_NAME_RULE, schemaNameProblem } from '../../../shared/ids.js';
import type { Context } from '../../context.js';
import { details, styles, time } from '../../output.js';
import { readStdin } from '../checks.js';

export function checkSchemaName(name: string): string {
  const problem = schemaNameProblem(name);
  if (problem) throw new RelayError('invalid_request', `invalid schema name "${name}": ${problem} (${SCHEMA_NAME_RULE})`);
  return name;
}

/** The JSON of `--file PATH` (`-`: stdin), parsed here so that a typo is named before relayd is asked. */
export async function readSchemaFile(ctx: Context, file: string | undefined): Promise<unknown> {
  if (file === undefined) throw new RelayError('invalid_request', 'missing --file: the JSON Schema document (--file - reads stdin)');
  let text: string;
  if (file === '-') {
    text = await readStdin(ctx.io.stdin);
  } else {
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new RelayError('invalid_request', `cannot read --file ${file}: ${code === 'ENOENT' ? 'no such file' : code ?? String(err)}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RelayError('invalid_request', `--file ${file === '-' ? '- (stdin)' : file} is not JSON: ${(err as Error).message}`);
  }
}

export async function schemaDetails(ctx: Context, schema: EventSchema): Promise<void> {
  const s = await styles(ctx);
  details(ctx, [
    ['Schema', s.bold(schema.name)],
    ['App', schema.appId],
    ['Version', `${schema.version} of ${schema.versions}`],
    ['Used by', schema.usedBy.length === 0 ? 'nothing' : schema.usedBy.join(', ')],
    ['Created', time(ctx, schema.createdAt, 'date')],
    ['Updated', time(ctx, schema.updatedAt, 'date')],
  ]);
}
