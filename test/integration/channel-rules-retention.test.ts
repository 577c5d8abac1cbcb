import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../daemon/server.js';
import { relay } from '../helpers/cli.js';
import { ROOT, tempDir } from '../helpers/daemon.js';

// The built relayd, as the other integration tests run it (its version is read from beside dist/).
const built = <T>(path: string): Promise<T> => import(pathToFileURL(join(ROOT, 'dist', path)).href) as Promise<T>;
const { loadConfig } = await built<typeof import('../../daemon/config.js')>('daemon/config.js');
const { createLogger } = await built<typeof import('../../daemon/log.js')>('daemon/log.js');
const { startDaemon: startRelayd } = await built<typeof import('../../daemon/server.js')>('daemon/server.js');

/**
 * A channel rule's retention, through the whole daemon: relayd runs in this process so that
 * its clock can be moved on (two hours) between the publishes and the leader's first prune,
 * which comes 10 s after a start.
 */
const HOUR = 3_600_000;

async function start(dataDir: string, offsetMs: number): Promise<RunningDaemon> {
  const loaded = await loadConfig({ dataDir, port: '0', historyRetention: '1d', logLevel: 'silent' }, {});
  if (!loaded.config) throw new Error(loaded.errors.join('; '));
  return startRelayd(loaded.config, createLogger('silent'), { now: () => Date.now() + offsetMs });
}

describe('a channel rule’s retention', () => {
  it('prunes its channels’ events after it instead of the daemon’s; an event to several channels keeps the longest', { timeout: 60_000 }, async () => {
    const dataDir = tempDir();
    let daemon = await start(dataDir, 0);
    const cli = (args: string[]) => relay(args, { env: { RELAY_URL: daemon.url, RELAY_DATA_DIR: dataDir } });
    try {
      expect((await cli(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme', '-q'])).exitCode).toBe(0);
      expect((await cli(['channels', 'rules', 'add', '--app', 'acme-pm', '--pattern', 'ticks-*', '--retention', '1m'])).exitCode).toBe(0);
      expect((await cli(['channels', 'rules', 'add', '--app', 'acme-pm', '--pattern', 'ledger-*', '--retention', '365d'])).exitCode).toBe(0);
      const secret = (await cli(['tokens', 'create', '--app', 'acme-pm', '--name', 'ci', '--scope', 'events:publish', '-q'])).stdout.trim();
      const publish = async (channels: string[]): Promise<string> => {
        const answer = await fetch(`${daemon.url}/api/v1/apps/acme-pm/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'e', channels, data: '{}' }),
        });
        expect(answer.status).toBe(200);
        return ((await answer.json()) as { id: string }).id;
      };
      const tick = await publish(['ticks-1']);
      const plain = await publish(['news']);
      const tickAndNews = await publish(['ticks-2', 'news']);
      const ledger = await publish(['ledger-1']);
      await daemon.stop();

      // Two hours later: past the ticks' minute, within the daemon's day.
      daemon = await start(dataDir, 2 * HOUR);
      const ids = async (): Promise<string[]> => (await cli(['events', 'list', '--app', 'acme-pm', '--json'])).json<{ events: { id: string }[] }>().events.map((e) => e.id);
      await expect.poll(ids, { timeout: 25_000, interval: 500 }).not.toContain(tick);
      // The same prune looked at the others (the daemon's retention first, the rules' expiries after): they stay.
      expect((await ids()).sort()).toEqual([plain, tickAndNews, ledger].sort());
    } finally {
      await daemon.stop();
    }
  });
});
