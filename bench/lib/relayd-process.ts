import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The project root (this file is at bench/lib/ in the source and dist/bench/lib/ when built). */
export const ROOT = ((): string => {
  const here = new URL('.', import.meta.url).pathname;
  return here.includes('/dist/bench/') ? join(here, '../../..') : join(here, '../..');
})();

export interface RelaydProcess {
  url: string;
  wsUrl: string;
  dataDir: string;
  adminToken: string;
  process: ChildProcess;
  logs(): string[];
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

/** Spawns the real relayd (bin/relayd.js) on a free port and waits for its "listening" log line. */
export async function spawnRelayd(dataDir: string, args: string[], env: NodeJS.ProcessEnv): Promise<RelaydProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/relayd.js'), '--port', '0', '--data-dir', dataDir, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      lines.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'relayd listening' && entry.url) resolve(entry.url);
      } catch {
        // not a JSON line; kept in logs()
      }
    });
    void exited.then((code) => reject(new Error(`relayd exited with ${code} before listening:\n${lines.join('\n')}`)));
  });
  const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    dataDir,
    adminToken,
    process: child,
    logs: () => [...lines],
    stop: async () => {
      if (alive()) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
    admin: async (method, path, body) => {
      const res = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as never };
    },
  };
}
