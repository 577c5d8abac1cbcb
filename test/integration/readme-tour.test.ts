import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, cleanEnv, tempDir } from '../helpers/daemon.js';

/**
 * The README's five-minute tour, run as written by a newcomer on a port other than 7420.
 * relayd runs in a first "terminal" (`npm start -- --port P`, as the tour says for another
 * port); every other command of the tour's sh blocks runs, in order, in a second one: one
 * real bash session, with `relay` on the PATH as `npm link` puts it there and `RELAY_URL`
 * exported as the tour says. Commands that keep running (the agent, the subscriber, `tail`,
 * `--watch`) go to the background, as they would in a terminal of their own. The only
 * liberty taken is the reader's: the README's placeholders (`rlk_acme-pm_...`, `evt_...`,
 * `tok_...`) are replaced by the value an earlier command printed.
 */

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The commands of the tour's sh blocks: continuation lines joined, comments and output lines left out. */
function tourCommands(): string[] {
  const start = README.indexOf('## A five-minute tour');
  const end = README.indexOf('\n## ', start + 1);
  const tour = README.slice(start, end);
  const commands: string[] = [];
  for (const [, block] of tour.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const joined = (block ?? '').replace(/\\\n\s*/g, '');
    for (const raw of joined.split('\n')) {
      const command = raw.replace(/\s{2,}#\s.*$/, '').trim();
      if (command && !command.startsWith('#')) commands.push(command);
    }
  }
  return commands;
}

/** Commands that run until stopped, and what each prints once it is up. */
const LONG_RUNNING: [RegExp, (out: string, err: string) => boolean][] = [
  [/node examples\/(agent|subscriber)\.mjs$/, (out) => out.includes('connected as')],
  [/^relay events tail\b/, (_out, err) => err.includes('Watching events')],
  [/^relay status --watch\b/, (out) => out.length > 0],
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const children: ChildProcess[] = [];
afterEach(() => {
  // Each terminal is a process group of its own: stop everything it started.
  for (const child of children.splice(0)) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

/** Output of a process, as it arrives. */
function capture(child: ChildProcess): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { out: () => out, err: () => err };
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the README', () => {
  it('its five-minute tour works as written on a port other than 7420, from a second terminal', async () => {
    const commands = tourCommands();
    expect(commands[0]).toBe('npm start');
    const port = await freePort();
    const home = tempDir('relay-home-');
    const bin = join(home, 'bin');
    mkdirSync(bin);
    for (const name of ['relay', 'relayd']) symlinkSync(join(ROOT, 'bin', `${name}.js`), join(bin, name));
    // A user of this machine with nothing set up: the default data and config dirs, under a fresh home.
    const env = { ...cleanEnv(), HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config'), PATH: `${bin}:${process.env.PATH ?? ''}` };

    // The first terminal.
    const relayd = spawn('npm', ['start', '--', '--port', String(port)], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(relayd);
    const relaydOutput = capture(relayd);
    await until('relayd to listen', () => relaydOutput.err().includes('relayd listening'));

    // The second terminal.
    const shell = spawn('bash', ['--noprofile', '--norc'], { cwd: ROOT, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(shell);
    const shellOutput = capture(shell);
    const files = tempDir('relay-tour-');
    let step = 0;
    const seen: string[] = [];
    /** Runs a line in the session and waits for it to finish; its stdout and stderr. */
    const run = async (command: string): Promise<{ code: number; out: string; err: string }> => {
      const n = step++;
      const marker = `__done_${n}__`;
      shell.stdin?.write(`{ ${command}\n} >${files}/${n}.out 2>${files}/${n}.err </dev/null; echo "${marker} $?"\n`);
      await until(`\`${command}\` to finish`, () => shellOutput.out().includes(marker));
      const code = Number(new RegExp(`${marker} (\\d+)`).exec(shellOutput.out())?.[1]);
      const result = { code, out: readFileSync(`${files}/${n}.out`, 'utf8'), err: readFileSync(`${files}/${n}.err`, 'utf8') };
      seen.push(result.out, result.err);
      return result;
    };
    const background: { command: string; out: () => string; err: () => string }[] = [];
    const start = async (command: string, ready: (out: string, err: string) => boolean): Promise<void> => {
      const n = step++;
      shell.stdin?.write(`{ ${command}\n} >${files}/${n}.out 2>${files}/${n}.err </dev/null &\n`);
      const read = (suffix: string) => (): string => {
        try {
          return readFileSync(`${files}/${n}.${suffix}`, 'utf8');
        } catch {
          return '';
        }
      };
      const job = { command, out: read('out'), err: read('err') };
      background.push(job);
      await until(`\`${command}\` to be up (stdout: ${job.out()} stderr: ${job.err()})`, () => ready(job.out(), job.err()));
    };
    /** The reader's copy and paste: a placeholder becomes the latest value an earlier command printed. */
    const fillIn = (command: string): string =>
      command.replace(/\b(rlk_acme-pm_|evt_|tok_|conn_)\.\.\./g, (placeholder, prefix: string) => {
        for (const text of [...seen].reverse()) {
          const value = new RegExp(`${prefix}[0-9A-Za-z]+`).exec(text)?.[0];
          if (value) return value;
        }
        throw new Error(`nothing printed before \`${command}\` gives ${placeholder}`);
      });

    await run(`export RELAY_URL=http://127.0.0.1:${port}`);
    for (const written of commands.slice(1)) {
      const command = fillIn(written);
      const longRunning = LONG_RUNNING.find(([pattern]) => pattern.test(command));
      if (longRunning) {
        await start(command, longRunning[1]);
        continue;
      }
      const result = await run(command);
      expect(result.code, `\`${command}\` exited ${result.code}\nstdout: ${result.out}\nstderr: ${result.err}`).toBe(0);
      expect(result.out + result.err, command).not.toMatch(/undefined|this is a bug/);
      if (/examples\/app\.mjs$/.test(command)) expect(result.out).toContain('reply: { summary: \'Planned "Ship the release" in 3 steps\'');
      if (/examples\/publisher\.mjs$/.test(command)) {
        const subscriber = background.find((job) => job.command.endsWith('examples/subscriber.mjs'));
        await until('the subscriber to get the publish', () => (subscriber?.out() ?? '').includes('orders: order.shipped'));
      }
    }

    // What kept running is still up, and saw what the tour did.
    const tail = background.find((job) => job.command.startsWith('relay events tail'));
    const published = seen.map((text) => /\{"id":"(evt_[0-9A-Z]{26})"\}/.exec(text)?.[1]).find(Boolean);
    expect(published, 'the tour publishes over HTTP').toBeDefined();
    await until(`tail to show the HTTP publish ${published}`, () => (tail?.out() ?? '').includes(published ?? '-'));
    expect(relaydOutput.err()).not.toMatch(/"level":(50|60)/);
  }, 120_000);
});
