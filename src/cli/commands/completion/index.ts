import { Argument, type Command } from 'commander';
import { ID_KINDS, act, type IdKind } from '../common.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;

export function completionCommand(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (source it, or see the README)')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action(act(() => import('./completion.js'), ([shell]) => ({ shell: shell as (typeof SHELLS)[number] })));

  // What the completion scripts run to offer ids; not for people, so not in --help.
  program
    .command('__complete', { hidden: true })
    .addArgument(new Argument('<kind>', 'the kind of id').choices(ID_KINDS))
    .option('--org <org>', 'organization')
    .option('--url <url>', 'relayd URL')
    .option('--token <token>', 'admin token')
    .option('--profile <name>', 'saved profile')
    .action(act(() => import('./ids.js'), ([kind], f) => ({ kind: kind as IdKind, org: f.org as string | undefined })));
}
