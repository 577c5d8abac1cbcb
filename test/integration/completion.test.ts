import { execa } from 'execa';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { ROOT, cleanEnv, startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';

const FILES = { bash: 'relay.bash', zsh: '_relay', fish: 'relay.fish' } as const;

/** Completes a command line in a real bash with the committed script sourced; `relay` on its PATH is this one, talking to `daemon`. */
async function complete(words: string[], daemon?: Daemon | { url: string; dataDir: string }): Promise<string[]> {
  const script = [
    `source ${JSON.stringify(join(ROOT, 'completions/relay.bash'))}`,
    `COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    '_relay_completions',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const bin = tempDir('relay-bin-');
  writeFileSync(join(bin, 'relay'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(ROOT, 'bin/relay.js'))} "$@"\n`);
  chmodSync(join(bin, 'relay'), 0o755);
  const env: Record<string, string> = { ...cleanEnv(), PATH: `${bin}:${process.env.PATH ?? ''}`, RELAY_CONFIG_DIR: tempDir('relay-config-'), RELAY_DATA_DIR: tempDir('relay-nodata-') };
  if (daemon) Object.assign(env, { RELAY_URL: daemon.url, RELAY_DATA_DIR: daemon.dataDir });
  const result = await execa('bash', ['--norc', '--noprofile', '-c', script], { env, extendEnv: false });
  expect(result.stderr).toBe('');
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

  it('offers the ids relayd has where a command takes one, in the organization the line names', async () => {
    const daemon = await startDaemon();
    for (const id of ['acme-pm', 'acme-crm', 'zeta']) await relay(['apps', 'register', '--id', id, '--name', id, '-q'], { daemon });
    await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon });
    await relay(['orgs', 'create', '--id', 'globex', '--name', 'Globex'], { daemon });
    await relay(['apps', 'register', '--org', 'globex', '--id', 'globex-app', '--name', 'G', '-q'], { daemon });
    const token = (await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'ci', '--json'], { daemon })).json<{ token: { id: string } }>().token.id;

    expect(await complete(['relay', 'apps', 'show', 'acme'], daemon)).toEqual(['acme-crm', 'acme-pm']);
    expect(await complete(['relay', 'apps', 'deactivate', ''], daemon)).toEqual(['acme-crm', 'acme-pm', 'zeta']);
    expect(await complete(['relay', 'apps', 'delete', '--org', 'globex', ''], daemon)).toEqual(['globex-app']);
    expect(await complete(['relay', 'apps', 'allow', 'acme-pm', ''], daemon)).toEqual(['athena']);
    expect(await complete(['relay', 'agents', 'show', ''], daemon)).toEqual(['athena']);
    expect(await complete(['relay', 'tokens', 'revoke', ''], daemon)).toEqual([token]);
    // Past the id, and for a flag's value, the usual words.
    expect(await complete(['relay', 'apps', 'show', 'acme-pm', '--j'], daemon)).toEqual(['--json', '--jq']);
    expect(await complete(['relay', 'apps', 'show', 'acme-pm', ''], daemon)).not.toContain('zeta');

    const ids = await relay(['__complete', 'apps'], { daemon });
    expect(ids).toMatchObject({ exitCode: 0, stdout: 'acme-crm\nacme-pm\nzeta\n', stderr: '' });
    await daemon.stop();
  });

  it('offers no ids, and prints nothing, when relayd is not running', async () => {
    const down = { url: 'http://127.0.0.1:1', dataDir: tempDir('relay-nodata-') };
    expect(await complete(['relay', 'apps', 'show', ''], down)).toEqual([]);
    const ids = await relay(['__complete', 'apps', '--url', down.url]);
    expect(ids).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    expect((await relay(['--help'])).stdout).not.toContain('__complete');
  });

  it('refuses an unknown shell with exit 2', async () => {
    const result = await relay(['completion', 'powershell']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/bash, zsh, fish/);
  });
});
