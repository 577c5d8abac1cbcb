import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, type RelaydProcess } from './lib/relayd-process.js';
import { fmt, heading, median, row } from './lib/report.js';

const RUNS = 25;

function timeOnce(args: string[], env: NodeJS.ProcessEnv): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr.toString()}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** `relay --version` and `relay apps list` start-up beside `node -e 0` (goal: under 2x). */
export async function benchStartup(daemon: RelaydProcess): Promise<void> {
  heading(`CLI start-up (median of ${RUNS} runs)`);
  const env = { ...process.env, RELAY_URL: daemon.url, RELAY_DATA_DIR: daemon.dataDir };
  const relay = join(ROOT, 'bin/relay.js');
  const commands = [['--version'], ['apps', 'list'], ['apps', 'list', '--json']];
  // Interleaved, so that a machine getting busier or quieter weighs on every command alike.
  const samples: number[][] = [[], ...commands.map(() => [])];
  for (let i = 0; i < RUNS; i++) {
    samples[0]?.push(timeOnce(['-e', '0'], env));
    commands.forEach((args, j) => samples[j + 1]?.push(timeOnce([relay, ...args], env)));
  }
  const baseline = median(samples[0] ?? []);
  row('node -e 0 (baseline)', `${fmt(baseline)} ms`);
  commands.forEach((args, j) => {
    const ms = median(samples[j + 1] ?? []);
    row(`relay ${args.join(' ')}`, `${fmt(ms)} ms`, `${fmt(ms / baseline, 2)}x baseline (goal < 2x)`);
  });
}
