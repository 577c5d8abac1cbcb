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

/** relayd's process, its stderr lines as they come, and how its start ended. */
export interface LaunchedRelayd {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  /** Its URL once it logs "relayd listening", or its exit code if it exits before. */
  started: Promise<{ url: string } | { exitCode: number | null }>;
}

/** Spawns the real relayd (bin/relayd.js) on a free port. */
export function launchRelayd(dataDir: string, args: string[], env: NodeJS.ProcessEnv): LaunchedRelayd {
  const child = spawn(process.execPath, [join(ROOT, 'bin/relayd.js'), '--port', '0', '--data-dir', dataDir, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: string[] = [];
  const stderr = createInterface({ input: child.stderr! });
  // 'close', not 'exit': by then every line it wrote has been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const started = new Promise<{ url: string } | { exitCode: number | null }>((resolve) => {
    stderr.on('line', (line) => {
      lines.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'relayd listening' && entry.url) resolve({ url: entry.url });
      } catch {
        // not a JSON line; kept in lines
      }
    });
    void exited.then((exitCode) => resolve({ exitCode }));
  });
  return { child, lines, exited, started };
}

/** Spawns the real relayd and waits for its "listening" log line; rejects with its logs if it exits first. */
export async function spawnRelayd(dataDir: string, args: string[], env: NodeJS.ProcessEnv): Promise<RelaydProcess> {
  const { child, lines, exited, started } = launchRelayd(dataDir, args, env);
  const start = await started;
  if (!('url' in start)) throw new Error(`relayd exited with ${start.exitCode} before listening:\n${lines.join('\n')}`);
  const { url } = start;
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
