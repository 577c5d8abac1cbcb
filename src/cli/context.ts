import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminClient } from '../client/http.js';
import { DEFAULT_URL, adminTokenPath, defaultDataDir } from '../shared/paths.js';

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
  client(): Promise<AdminClient>;
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

/**
 * The daemon's URL and the admin token, in the order PRODUCT.md gives: flags, environment,
 * the saved profile, then (for the token) the local data dir's admin-token file.
 */
export async function resolveTarget(globals: GlobalOptions, env: NodeJS.ProcessEnv): Promise<{ url: string; token: string | null }> {
  const givenUrl = globals.url ?? env.RELAY_URL;
  const givenToken = globals.token ?? env.RELAY_ADMIN_TOKEN;
  const profile = givenUrl === undefined || givenToken === undefined ? await readProfile(env, profileName(globals, env)) : null;
  const url = (givenUrl ?? profile?.url ?? DEFAULT_URL).replace(/\/+$/, '');
  if (givenToken !== undefined) return { url, token: givenToken };
  // A profile's token goes only to its own daemon, and the local admin-token file only to
  // a daemon on this machine: a --url elsewhere must never receive them.
  if (profile && profile.url.replace(/\/+$/, '') === url) return { url, token: profile.token };
  if (isLoopback(url)) {
    const path = adminTokenPath(env.RELAY_DATA_DIR ?? (await defaultDataDir()));
    if (existsSync(path)) return { url, token: readFileSync(path, 'utf8').trim() };
  }
  return { url, token: null };
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
    client: async () => {
      if (client) return client;
      const { AdminClient } = await import('../client/http.js');
      // Without a token the request still goes out: an unreachable daemon is the more useful
      // thing to report, and relayd's 401 carries the hint about tokens.
      client = new AdminClient(await resolveTarget(globals, io.env));
      return client;
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
