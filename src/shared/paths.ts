import { join } from 'node:path';

/**
 * The data dir relayd uses by default and where the CLI looks for `admin-token`: the
 * platform's data directory for `relay` (XDG on Linux: ~/.local/share/relay). env-paths is
 * imported only when this is called, to keep it off the CLI's start-up path.
 */
export async function defaultDataDir(): Promise<string> {
  const { default: envPaths } = await import('env-paths');
  return envPaths('relay', { suffix: '' }).data;
}

export function adminTokenPath(dataDir: string): string {
  return join(dataDir, 'admin-token');
}

export const DEFAULT_URL = 'http://127.0.0.1:7420';
