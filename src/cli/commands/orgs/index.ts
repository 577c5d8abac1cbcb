import type { Command } from 'commander';
import { act, leaf, str, withWide } from '../common.js';

export function orgsCommand(program: Command): void {
  const orgs = program.command('orgs').description('organizations, the owners of apps and agents');
  withWide(leaf(orgs, 'list', 'list organizations')).action(act(() => import('./list.js'), () => ({})));
  leaf(orgs, 'create', 'create an organization')
    .option('--id <id>', 'the organization id (a slug)')
    .option('--name <name>', 'display name')
    .action(act(() => import('./create.js'), (_, f) => ({ id: str(f.id), name: str(f.name) })));
}
