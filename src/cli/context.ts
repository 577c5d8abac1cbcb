import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminClient } from '../client/http.js';
import { adminTokenPath, dataDirFrom, daemonUrl } from '../shared/address.js';
import { RelayError } from '../shared/errors.js';

/** Flags every command takes. */
export interface GlobalOptions {
  json?: boolean;
  jq?: string;
  url?: string;
  token?: string;
  profile?: string;
  /** `--wide`: tables show every cell whole, however wide the terminal. */
  wide?: boolean;
}

export interface IO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  isStdoutTTY: boolean;
  isStdinTTY: boolean;
  /** Prompts need a person at both ends. */
  canPrompt: boolean;
  color: boolean;
  /** The terminal's width in columns, which tables fit (COLUMNS overrides, as gh honours it). */
  width: number;
  env: NodeJS.ProcessEnv;
}

/** What a command gets besides its options (the GitHub CLI's Factory): streams, and lazily built dependencies. */
export interface Context {
  io: IO;
  globals: GlobalOptions;
  /** `timeoutMs`: a client of its own that gives up sooner (shell completion); otherwise one shared client. */
  client(options?: { timeoutMs?: number }): Promise<AdminClient>;
  prompter(): Promise<Prompter>;
}

export interface Prompter {
  input(message: string, validate?: (value: string) => string | true): Promise<string>;
  password(message: string): Promise<string>;
  confirm(message: string): Promise<boolean>;
}

/** NO_COLOR and CLICOLOR=0 turn colour off; CLICOLOR_FORCE (not 0) turns it on even without a TTY. */
export function colorEnabled(env: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  if (env.CLICOLOR_FORCE !== undefined && env.CLICOLOR_FORCE !== '' && env.CLICOLOR_FORCE !== '0') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.CLICOLOR === '0') return false;
  return isTTY;
}

/** COLUMNS when set to a positive number, else the terminal's own width, else 80. */
export function terminalWidth(env: NodeJS.ProcessEnv, columns: number | undefined): number {
  const fromEnv = Number(env.COLUMNS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return columns !== undefined && columns > 0 ? columns : 80;
}

export interface Profile {
  url: string;
  token: string;
}

/** Where `relay login` keeps profiles: RELAY_CONFIG_DIR, else the platform's config dir. */
export async function configDir(env: NodeJS.ProcessEnv): Promise<string> {
  if (env.RELAY_CONFIG_DIR) return env.RELAY_CONFIG_DIR;
  const { default: envPaths } = await import('env-paths');
  return envPaths('relay', { suffix: '' }).config;
}

export function profileName(globals: GlobalOptions, env: NodeJS.ProcessEnv): string {
  return globals.profile ?? env.RELAY_PROFILE ?? 'default';
}

/** Reads a saved profile without loading conf (start-up time): the file is plain JSON. */
export async function readProfile(env: NodeJS.ProcessEnv, name: string): Promise<Profile | null> {
  const path = join(await configDir(env), 'config.json');
  if (!existsSync(path)) return null;
  try {
    const config = JSON.parse(readFileSync(path, 'utf8')) as { profiles?: Record<string, Profile> };
    return config.profiles?.[name] ?? null;
  } catch {
    return null;
  }
}

export interface Target {
  url: string;
  token: string | null;
  /**
   * What to say if relayd refuses the request (401), when the CLI can say more than relayd:
   * without a token, where it looked; with a token from a file or a profile, which one. Used
   * only once relayd answers, so that an unreachable relayd is reported first.
   */
  refused: RelayError | null;
}

const given = (value: string | undefined): string | undefined => (value === undefined || value.trim() === '' ? undefined : value.trim());

/**
 * The daemon's URL and the admin token, in the order PRODUCT.md gives: flags, environment,
 * the saved profile; then (for the URL) RELAY_HOST / RELAY_PORT as relayd reads them, and
 * (for the token) the admin-token file in the data dir as relayd finds it (src/shared/address.ts).
 */
export async function resolveTarget(globals: GlobalOptions, env: NodeJS.ProcessEnv): Promise<Target> {
  const givenUrl = given(globals.url) ?? given(env.RELAY_URL);
  const givenToken = given(globals.token) ?? given(env.RELAY_ADMIN_TOKEN);
  const name = profileName(globals, env);
  const profile = givenUrl === undefined || givenToken === undefined ? await readProfile(env, name) : null;
  const { url } = daemonUrl(
    [
      { value: globals.url, from: '--url' },
      { value: env.RELAY_URL, from: 'RELAY_URL' },
      { value: profile?.url, from: `the url of profile "${name}"` },
    ],
    env,
  );
  if (givenToken !== undefined) return { url, token: checkToken(givenToken, globals.token !== undefined ? '--token' : 'RELAY_ADMIN_TOKEN'), refused: null };
  // A profile's token goes only to its own daemon, and the local admin-token file only to
  // a daemon on this machine: a --url elsewhere must never receive them.
  if (profile && profile.url.replace(/\/+$/, '') === url) {
    const refused = new RelayError('unauthorized', `relayd at ${url} refused the admin token of profile "${name}"`, {
      hint: `save a current one with \`relay login --profile ${name}\`, or pass --token / RELAY_ADMIN_TOKEN`,
    });
    return { url, token: checkToken(profile.token, `the token of profile "${name}"`), refused };
  }
  const give = 'pass --token or set RELAY_ADMIN_TOKEN, or save one with `relay login`';
  if (!isLoopback(url)) {
    return {
      url,
      token: null,
      refused: new RelayError('unauthorized', `no admin token for relayd at ${url}`, {
        hint: `${give} (the local admin-token file is only sent to a relayd on this machine)`,
      }),
    };
  }
  const { dir, fromEnv } = await dataDirFrom(env);
  const path = adminTokenPath(dir);
  const where = fromEnv ? `the data dir RELAY_DATA_DIR names` : "relayd's default data dir; RELAY_DATA_DIR names another";
  const hint = `start relayd with that data dir (relayd --data-dir ${dir}, or RELAY_DATA_DIR for both), or ${give}`;
  if (!existsSync(path)) {
    return { url, token: null, refused: new RelayError('unauthorized', `no admin token for relayd at ${url}: ${path} does not exist (${where})`, { hint }) };
  }
  try {
    const refused = new RelayError('unauthorized', `relayd at ${url} refused the admin token in ${path} (is it using another data dir?)`, { hint });
    return { url, token: checkToken(readFileSync(path, 'utf8'), path), refused };
  } catch (err) {
    if (err instanceof RelayError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return { url, token: null, refused: new RelayError('unauthorized', `no admin token for relayd at ${url}: cannot read ${path} (${code})`, { hint }) };
  }
}

/** A token goes into an HTTP header: anything but visible ASCII is a paste gone wrong, said before a request is made. */
function checkToken(token: string, from: string): string {
  const value = token.trim();
  if (!/^[\x21-\x7e]+$/.test(value)) {
    throw new RelayError('invalid_request', `the admin token from ${from} holds spaces or characters no token has`, { hint: 'admin tokens look like rlo_ and 40 letters and digits' });
  }
  return value;
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

export function createContext(globals: GlobalOptions, io: IO): Context {
  let client: AdminClient | null = null;
  return {
    io,
    globals,
    client: async (options = {}) => {
      if (client && options.timeoutMs === undefined) return client;
      const { AdminClient } = await import('../client/http.js');
      // Without a token the request still goes out: an unreachable daemon is the more useful
      // thing to report; if relayd refuses it, `refused` says where the token came from.
      const made = new AdminClient({ ...(await resolveTarget(globals, io.env)), timeoutMs: options.timeoutMs });
      if (options.timeoutMs === undefined) client = made;
      return made;
    },
    prompter: async () => {
      const prompts = await import('@inquirer/prompts');
      return {
        input: (message, validate) => prompts.input({ message, validate, required: true }),
        password: (message) => prompts.password({ message, mask: true }),
        confirm: (message) => prompts.confirm({ message, default: false }),
      };
    },
  };
}

export function systemIO(): IO {
  const isStdoutTTY = process.stdout.isTTY === true;
  const isStdinTTY = process.stdin.isTTY === true;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    isStdoutTTY,
    isStdinTTY,
    canPrompt: isStdoutTTY && isStdinTTY,
    color: colorEnabled(process.env, isStdoutTTY),
    width: terminalWidth(process.env, isStdoutTTY ? process.stdout.columns : undefined),
    env: process.env,
  };
}
