import type { Command } from 'commander';
import { act, leaf, str, withOrg, withQuiet } from '../common.js';

export function keysCommand(program: Command): void {
  const keys = program.command('keys').description("an app's encryption keys: end-to-end encrypted channels and history encrypted at rest");

  withQuiet(withOrg(leaf(keys, 'create', "create the app's active encryption key (32 random bytes); prints it once")))
    .option('--app <id>', 'the app')
    .option('--import', 'read the key from stdin instead (base64 of 32 bytes, such as a backend\'s encryptionMasterKeyBase64)')
    .action(act(() => import('./create.js'), (_, f) => ({ org: f.org as string, app: str(f.app), import: f.import === true, quiet: f.quiet === true })));

  withOrg(leaf(keys, 'list', "an app's keys: id, created, state (never the key)"))
    .option('--app <id>', 'the app')
    .action(act(() => import('./list.js'), (_, f) => ({ org: f.org as string, app: str(f.app) })));

  withQuiet(withOrg(leaf(keys, 'rotate', 'a new active key; the old one becomes decrypt-only (reads what it sealed)')))
    .option('--app <id>', 'the app')
    .action(act(() => import('./rotate.js'), (_, f) => ({ org: f.org as string, app: str(f.app), quiet: f.quiet === true })));

  leaf(keys, 'retire', 'destroy a decrypt-only key for good: what it sealed reads as erased')
    .argument('<key-id>', 'the key id (key_...)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act(() => import('./retire.js'), ([id], f) => ({ id: id as string, yes: f.yes === true })));
}
