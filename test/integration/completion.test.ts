import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { ROOT } from '../helpers/daemon.js';

const FILES = { bash: 'relay.bash', zsh: '_relay', fish: 'relay.fish' } as const;

/** Completes a command line in a real bash with the committed script sourced. */
async function complete(words: string[]): Promise<string[]> {
  const script = [
    `source ${JSON.stringify(join(ROOT, 'completions/relay.bash'))}`,
    `COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    '_relay_completions',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const result = await execa('bash', ['--norc', '--noprofile', '-c', script]);
  return result.stdout.split('\n').filter(Boolean);
}

describe('shell completion', () => {
  it.each(Object.entries(FILES))('the committed %s script is what `relay completion` generates from the command tree', async (shell, file) => {
    const result = await relay(['completion', shell]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(readFileSync(join(ROOT, 'completions', file), 'utf8'), 'run `npm run completions` after changing commands').toBe(result.stdout);
  });

  it('completes nouns, verbs, flags and choices in bash', async () => {
    expect(await complete(['relay', 'apps', 'deac'])).toEqual(['deactivate']);
    expect(await complete(['relay', 'ap'])).toEqual(['apps']);
    expect(await complete(['relay', 'tokens', 're'])).toEqual(['revoke']);
    expect(await complete(['relay', 'apps', 'register', '--name', 'Acme', '--d'])).toEqual(['--description']);
    expect(await complete(['relay', 'completion', ''])).toEqual(expect.arrayContaining(['bash', 'zsh', 'fish']));
  });

  it('refuses an unknown shell with exit 2', async () => {
    const result = await relay(['completion', 'powershell']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/bash, zsh, fish/);
  });
});
