import { Argument, type Command } from 'commander';
import { act } from '../common.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;

export function completionCommand(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (source it, or see the README)')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action(act(() => import('./completion.js'), ([shell]) => ({ shell: shell as (typeof SHELLS)[number] })));
}
