import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cleanEnv, ROOT, tempDir, type Daemon } from './daemon.js';

export interface TtySession {
  /** Everything the terminal showed so far, escape codes included. */
  output(): string;
  /** Waits until the terminal shows `text`. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  type(keys: string): void;
  exited: Promise<number | null>;
}

/**
 * Runs `relay` on a real pseudo-terminal (util-linux `script`), so that it sees a TTY on
 * stdin and stdout as a person's shell gives it: prompts, colours, --watch redraws.
 * `columns`: the terminal's width (set with stty, as a resized window would; 80 unless given).
 */
export function relayOnTty(args: string[], options: { daemon?: Daemon; env?: Record<string, string>; columns?: number } = {}): TtySession {
  const env: Record<string, string> = { ...cleanEnv(), TERM: 'xterm-256color', RELAY_CONFIG_DIR: tempDir('relay-config-'), RELAY_DATA_DIR: tempDir('relay-nodata-') };
  if (options.daemon) {
    env.RELAY_URL = options.daemon.url;
    env.RELAY_DATA_DIR = options.daemon.dataDir;
  }
  Object.assign(env, options.env);
  // `exec`, so that no shell stays between the terminal and relay: a waiting /bin/sh (dash,
  // script's shell when SHELL is unset, as in CI) would die of the Ctrl-C meant for relay.
  const command = `stty cols ${options.columns ?? 80} rows 50; exec ` + [process.execPath, join(ROOT, 'bin/relay.js'), ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  env.SHELL = '/bin/sh';
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, env });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    output: () => out,
    waitFor: (text, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const check = (): void => {
          const plain = out.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
          if (typeof text === 'string' ? plain.includes(text) : text.test(plain)) resolve();
          else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${String(text)}; the terminal shows:\n${plain}`));
          else setTimeout(check, 20);
        };
        check();
      }),
    type: (keys) => child.stdin.write(keys),
    exited,
  };
}
