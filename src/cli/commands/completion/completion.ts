import type { Context } from '../../context.js';
import { generated } from '../../output.js';
import { buildProgram } from '../../program.js';
import { bashScript, fishScript, zshScript } from './generate.js';
import type { SHELLS } from './index.js';

export interface Options {
  shell: (typeof SHELLS)[number];
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const program = buildProgram();
  const script = opts.shell === 'bash' ? bashScript(program) : opts.shell === 'zsh' ? zshScript(program) : fishScript(program);
  generated(ctx, script);
}
