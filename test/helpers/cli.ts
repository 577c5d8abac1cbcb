import { execa } from 'execa';
import { join } from 'node:path';
import { ROOT, cleanEnv, tempDir, type Daemon } from './daemon.js';

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  json<T = Record<string, unknown>>(): T;
}

export interface CliOptions {
  /** The daemon to talk to: sets RELAY_URL and RELAY_DATA_DIR (so the admin-token file is found). */
  daemon?: Daemon;
  env?: Record<string, string>;
  input?: string;
}

/** The environment of its own that `relay` runs in. */
function cliEnv(options: CliOptions): Record<string, string> {
  const env: Record<string, string> = { ...cleanEnv(), RELAY_CONFIG_DIR: tempDir('relay-config-'), RELAY_DATA_DIR: tempDir('relay-nodata-') };
  if (options.daemon) {
    env.RELAY_URL = options.daemon.url;
    env.RELAY_DATA_DIR = options.daemon.dataDir;
  }
  return Object.assign(env, options.env);
}

/** Runs the real `relay` binary, without a TTY, in an environment of its own. */
export async function relay(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const result = await execa(process.execPath, [join(ROOT, 'bin/relay.js'), ...args], {
    cwd: ROOT,
    env: cliEnv(options),
    extendEnv: false,
    reject: false,
    input: options.input ?? '',
    timeout: 20_000,
    // Keep stdout byte for byte: what a script would capture.
    stripFinalNewline: false,
  });
  const stdout = String(result.stdout);
  return {
    exitCode: result.exitCode ?? -1,
    stdout,
    stderr: String(result.stderr),
    json: <T>() => JSON.parse(stdout) as T,
  };
}

/** A `relay` that keeps running (`events tail`, `status --watch`), read as it prints. */
export interface RunningCli {
  stdout(): string;
  stderr(): string;
  /** Waits until the stream has printed `text` (at least `times` times). */
  waitFor(stream: 'stdout' | 'stderr', text: string | RegExp, options?: { times?: number; timeoutMs?: number }): Promise<void>;
  /** Ctrl-C (SIGINT), then its result. */
  interrupt(): Promise<CliResult>;
  /** Its result once it exits by itself. */
  exited: Promise<CliResult>;
}

/** Starts the real `relay` binary, without a TTY, and lets the test read its output while it runs. */
export function relayRunning(args: string[], options: CliOptions = {}): RunningCli {
  const child = execa(process.execPath, [join(ROOT, 'bin/relay.js'), ...args], { cwd: ROOT, env: cliEnv(options), extendEnv: false, reject: false, stripFinalNewline: false });
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => (out.stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out.stderr += chunk.toString()));
  const exited = child.then((result) => ({
    exitCode: result.exitCode ?? -1,
    stdout: out.stdout,
    stderr: out.stderr,
    json: <T>() => JSON.parse(out.stdout) as T,
  }));
  const count = (text: string | RegExp, within: string): number =>
    typeof text === 'string' ? within.split(text).length - 1 : (within.match(new RegExp(text.source, `${text.flags.replace('g', '')}g`)) ?? []).length;
  return {
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    waitFor: (stream, text, { times = 1, timeoutMs = 15_000 } = {}) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const check = (): void => {
          if (count(text, out[stream]) >= times) resolve();
          else if (child.exitCode !== null || Date.now() > deadline) reject(new Error(`gave up waiting for ${String(text)} on ${stream}; stdout:\n${out.stdout}\nstderr:\n${out.stderr}`));
          else setTimeout(check, 20);
        };
        check();
      }),
    interrupt: async () => {
      child.kill('SIGINT');
      return exited;
    },
    exited,
  };
}
