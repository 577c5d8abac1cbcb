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

/** Runs the real `relay` binary, without a TTY, in an environment of its own. */
export async function relay(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const env: Record<string, string> = { ...cleanEnv(), RELAY_CONFIG_DIR: tempDir('relay-config-'), RELAY_DATA_DIR: tempDir('relay-nodata-') };
  if (options.daemon) {
    env.RELAY_URL = options.daemon.url;
    env.RELAY_DATA_DIR = options.daemon.dataDir;
  }
  Object.assign(env, options.env);
  const result = await execa(process.execPath, [join(ROOT, 'bin/relay.js'), ...args], {
    cwd: ROOT,
    env,
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
