import { join } from 'node:path';
import { RelayError } from './errors.js';

/**
 * Where relayd listens and keeps its data, found the same way by relayd and by the `relay`
 * CLI, so that `RELAY_PORT=7431 relayd` and `RELAY_PORT=7431 relay apps list` meet.
 *
 * relayd:  --host / --port / --data-dir, else RELAY_HOST / RELAY_PORT / RELAY_DATA_DIR,
 *          else 127.0.0.1, 7420 and the platform's data directory for `relay`.
 * relay:   --url, else RELAY_URL, else the saved profile's url, else http://RELAY_HOST:RELAY_PORT
 *          with relayd's defaults; the admin-token file is looked for in the data dir as relayd finds it.
 *
 * An empty variable counts as unset.
 */
export const ADDRESS_VARIABLES = { host: 'RELAY_HOST', port: 'RELAY_PORT', dataDir: 'RELAY_DATA_DIR', url: 'RELAY_URL' } as const;

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7420;
export const DEFAULT_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;

const read = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
};

/**
 * The data dir relayd uses by default and where the CLI looks for `admin-token`: the
 * platform's data directory for `relay` (XDG on Linux: ~/.local/share/relay). env-paths is
 * imported only when this is called, to keep it off the CLI's start-up path.
 */
export async function defaultDataDir(): Promise<string> {
  const { default: envPaths } = await import('env-paths');
  return envPaths('relay', { suffix: '' }).data;
}

/** RELAY_DATA_DIR, else the default; `fromEnv` says which, for messages. */
export async function dataDirFrom(env: NodeJS.ProcessEnv): Promise<{ dir: string; fromEnv: boolean }> {
  const given = read(env, ADDRESS_VARIABLES.dataDir);
  return given === undefined ? { dir: await defaultDataDir(), fromEnv: false } : { dir: given, fromEnv: true };
}

export function adminTokenPath(dataDir: string): string {
  return join(dataDir, 'admin-token');
}

/** Where a URL came from, in the user's words: `--url`, `RELAY_URL`, `the url of profile "x"`. */
export type UrlSource = string;

export interface DaemonUrl {
  url: string;
  from: UrlSource;
}

/**
 * The daemon's URL for a client: the given URL (a flag, RELAY_URL or a profile's url, in
 * that order, first one given wins), else the address relayd listens on by
 * RELAY_HOST / RELAY_PORT, else the default. A value that is not an http(s) URL is a usage error.
 */
export function daemonUrl(given: { value: string | undefined; from: UrlSource }[], env: NodeJS.ProcessEnv): DaemonUrl {
  for (const { value, from } of given) {
    if (value !== undefined && value !== '') return { url: checkUrl(value, from), from };
  }
  return listenUrl(env);
}

/** The URL a client on this machine reaches relayd at when it listens as RELAY_HOST / RELAY_PORT say. */
export function listenUrl(env: NodeJS.ProcessEnv): DaemonUrl {
  const hostVar = read(env, ADDRESS_VARIABLES.host);
  const portVar = read(env, ADDRESS_VARIABLES.port);
  if (hostVar === undefined && portVar === undefined) return { url: DEFAULT_URL, from: 'the default' };
  let port = DEFAULT_PORT;
  if (portVar !== undefined) {
    const n = Number(portVar);
    if (!/^\d+$/.test(portVar.trim()) || n > 65535) {
      throw new RelayError('invalid_request', `RELAY_PORT must be a port number from 1 to 65535 (got "${portVar}")`);
    }
    if (n === 0) {
      throw new RelayError('invalid_request', 'RELAY_PORT=0 lets relayd take any free port, which the CLI cannot know', {
        hint: 'set RELAY_URL (or pass --url) to the url relayd logged when it started',
      });
    }
    port = n;
  }
  const host = clientHost(hostVar ?? DEFAULT_HOST);
  const from = [hostVar === undefined ? null : 'RELAY_HOST', portVar === undefined ? null : 'RELAY_PORT'].filter(Boolean).join(' and ');
  return { url: checkUrl(`http://${host}:${port}`, from), from };
}

/** A listen address as a client dials it: "any address" is this machine, and IPv6 literals go in brackets. */
function clientHost(host: string): string {
  const h = host.trim();
  if (h === '0.0.0.0') return '127.0.0.1';
  if (h === '::' || h === '[::]') return '[::1]';
  if (h.includes(':') && !h.startsWith('[')) return `[${h}]`;
  return h;
}

/**
 * An http(s) URL without trailing slashes, or a usage error naming where it came from and
 * what was probably meant (`127.0.0.1:7431` → `http://127.0.0.1:7431`, `ws://` → `http://`).
 */
export function checkUrl(text: string, from: UrlSource): string {
  const value = text.trim();
  if (!/^https?:\/\//i.test(value)) {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value);
    const rest = scheme ? value.slice(scheme[0].length) : value.replace(/^\/+/, '');
    const secure = scheme?.[1]?.toLowerCase() === 'wss' || scheme?.[1]?.toLowerCase() === 'https';
    const suggestion = `${secure ? 'https' : 'http'}://${rest}`;
    throw new RelayError('invalid_request', `${from} must start with http:// or https:// (did you mean ${suggestion.replace(/\/+$/, '')}?)`);
  }
  try {
    new URL(value);
  } catch {
    throw new RelayError('invalid_request', `${from} "${value}" is not a URL: use http://HOST:PORT (say ${DEFAULT_URL})`);
  }
  return value.replace(/\/+$/, '');
}
