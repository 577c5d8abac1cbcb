import type { Command } from 'commander';
import { act, str } from '../common.js';

export function loginCommands(program: Command): void {
  program
    .command('login')
    .description("save a relayd's URL and admin token as a profile (checked before it is saved)")
    .option('--url <url>', 'relayd URL')
    .option('--token <token>', 'the admin token (prefer --with-token: the command line ends up in shell history)')
    .option('--with-token', 'read the admin token from standard input')
    .option('--profile <name>', 'profile name (env RELAY_PROFILE)', undefined)
    .option('--json', 'print JSON on stdout')
    .action(
      act(() => import('./login.js'), (_, f) => ({ url: str(f.url), token: str(f.token), withToken: f.withToken === true, profile: str(f.profile) })),
    );
  program
    .command('logout')
    .description('forget a saved profile')
    .option('--profile <name>', 'profile name (env RELAY_PROFILE)')
    .option('--json', 'print JSON on stdout')
    .action(act(() => import('./logout.js'), (_, f) => ({ profile: str(f.profile) })));
}
