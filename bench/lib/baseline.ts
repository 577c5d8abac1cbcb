import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * A node script in its own process, as relayd runs in its own: the baselines and the bench
 * agent. Resolves with the first line the script prints (a baseline prints its port).
 */
export async function nodeScript(script: string, env: Record<string, string> = {}): Promise<{ line: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`a bench script exited with ${code} before it was ready`)));
  });
  return { line, proc };
}
