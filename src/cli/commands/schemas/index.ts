import type { Command } from 'commander';
import { act, leaf, str, withOrg, withWide } from '../common.js';

export function schemasCommand(program: Command): void {
  const schemas = program.command('schemas').description("an app's event schemas (JSON Schema): versions, and what validates against them");

  withOrg(leaf(schemas, 'add', 'add a JSON Schema to an app (version 1); one that is not valid JSON Schema is refused'))
    .option('--app <id>', 'the app it belongs to')
    .option('--name <name>', 'its name: 1-64 lowercase letters, digits, hyphens, dots and underscores')
    .option('--file <path>', 'the JSON Schema document (- reads stdin)')
    .action(act(() => import('./add.js'), (_, f) => ({ org: f.org as string, app: str(f.app), name: str(f.name), file: str(f.file) })));

  withWide(withOrg(leaf(schemas, 'list', "an app's schemas with their latest version and what uses them")))
    .option('--app <id>', 'the app')
    .action(act(() => import('./list.js'), (_, f) => ({ org: f.org as string, app: str(f.app) })));

  withOrg(leaf(schemas, 'show', 'print a schema document (the latest version, or --version N); --json adds its metadata'))
    .argument('<name>', 'the schema name')
    .option('--app <id>', 'the app')
    .option('--version <n>', 'an earlier version')
    .action(act(() => import('./show.js'), ([name], f) => ({ org: f.org as string, app: str(f.app), name: name as string, version: str(f.version) })));

  withOrg(leaf(schemas, 'update', 'add a new version of a schema; the earlier ones stay readable'))
    .argument('<name>', 'the schema name')
    .option('--app <id>', 'the app')
    .option('--file <path>', 'the JSON Schema document (- reads stdin)')
    .action(act(() => import('./update.js'), ([name], f) => ({ org: f.org as string, app: str(f.app), name: name as string, file: str(f.file) })));

  withOrg(leaf(schemas, 'remove', 'remove a schema with every version; refused while a channel rule or an agent uses it, unless --force'))
    .argument('<name>', 'the schema name')
    .option('--app <id>', 'the app')
    .option('--force', 'remove it even while in use, unbinding what uses it')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act(() => import('./remove.js'), ([name], f) => ({ org: f.org as string, app: str(f.app), name: name as string, force: f.force === true, yes: f.yes === true })));
}
