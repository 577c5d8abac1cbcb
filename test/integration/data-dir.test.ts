import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon, startDaemonExpectingExit, tempDir, type Daemon, type Refusal } from '../helpers/daemon.js';

// The usual umask of a login shell, under which relayd made its database 0644. The test
// file runs in a process of its own, whose children (the relayds) inherit it.
beforeAll(() => {
  process.umask(0o022);
});

const mode = (path: string): number => statSync(path).mode & 0o777;

/** relayd exited 1 with one error line, no stack, saying all of `fragments`. */
function expectRefusal(result: Refusal, ...fragments: string[]): void {
  expect(result.exitCode, result.stderr).toBe(1);
  const errors = result.entries.filter((entry) => entry.level >= 50);
  expect(errors, result.stderr).toHaveLength(1);
  expect(errors[0]).not.toHaveProperty('err');
  for (const fragment of fragments) expect(errors[0]?.msg).toContain(fragment);
}

/** An app with a channel secret, so that the database holds something sealed with master.key. */
async function withApp(daemon: Daemon): Promise<void> {
  const res = await daemon.admin('POST', '/admin/v1/orgs/default/apps', { id: 'acme-pm', name: 'Acme PM' });
  expect(res.status).toBe(201);
}

/** A daemon that ran, holds an app, and stopped cleanly: an initialized data dir. */
async function usedDataDir(): Promise<string> {
  const daemon = await startDaemon();
  await withApp(daemon);
  expect(await daemon.stop()).toBe(0);
  return daemon.dataDir;
}

describe('the data-dir lock', () => {
  it('refuses a second relayd on the same data dir, naming the first one; a killed one is taken over; a clean stop lets go', async () => {
    const first = await startDaemon();
    const lockFile = join(first.dataDir, 'relayd.pid');
    const second = await startDaemonExpectingExit({ dataDir: first.dataDir });
    expectRefusal(second, `pid ${first.process.pid}`, first.url, lockFile);
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);

    await first.kill();
    const third = await startDaemon({ dataDir: first.dataDir });
    expect(third.logs().join('\n')).toContain(`relayd pid ${first.process.pid}, which held the data dir, is gone`);
    expect(readFileSync(lockFile, 'utf8').split('\n').slice(0, 1)).toEqual([String(third.process.pid)]);
    expect(readFileSync(lockFile, 'utf8')).toContain(third.url);
    expect(mode(lockFile)).toBe(0o600);
    expect((await relay(['apps', 'list', '--json'], { daemon: third })).exitCode).toBe(0);
    expect(await third.stop()).toBe(0);
    expect(existsSync(lockFile)).toBe(false);
  });

  it('takes over a lock file whose pid now belongs to another program', async () => {
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      const dataDir = tempDir('relayd-');
      writeFileSync(join(dataDir, 'relayd.pid'), `${other.pid}\n2026-01-01T00:00:00.000Z\nhttp://127.0.0.1:7420\n`);
      const daemon = await startDaemon({ dataDir });
      expect(daemon.logs().join('\n')).toContain(`relayd pid ${other.pid}, which held the data dir, is gone`);
    } finally {
      other.kill('SIGKILL');
    }
  });
});

describe('an initialized data dir that lost a file', () => {
  it('refuses to start without relay.db instead of starting empty', async () => {
    const dataDir = await usedDataDir();
    rmSync(join(dataDir, 'relay.db'));
    expectRefusal(await startDaemonExpectingExit({ dataDir }), `the database ${join(dataDir, 'relay.db')} is missing`, 'from a backup', `mv ${dataDir} ${dataDir}.old`);
    expect(existsSync(join(dataDir, 'relay.db'))).toBe(false);
    expect(existsSync(join(dataDir, 'relayd.pid'))).toBe(false);
  });

  it('refuses to start without master.key instead of making a new one', async () => {
    const dataDir = await usedDataDir();
    rmSync(join(dataDir, 'master.key'));
    expectRefusal(await startDaemonExpectingExit({ dataDir }), `the master key ${join(dataDir, 'master.key')} is missing`, 'from a backup', `mv ${dataDir} ${dataDir}.old`);
    expect(existsSync(join(dataDir, 'master.key'))).toBe(false);
  });

  it('refuses a master.key from another install', async () => {
    const dataDir = await usedDataDir();
    const other = await startDaemon();
    expect(await other.stop()).toBe(0);
    copyFileSync(join(other.dataDir, 'master.key'), join(dataDir, 'master.key'));
    expectRefusal(await startDaemonExpectingExit({ dataDir }), `${join(dataDir, 'master.key')} is not the key the channel secrets in ${join(dataDir, 'relay.db')} were sealed with`);
  });

  it('writes a new admin token when admin-token is deleted (the way to get a new one)', async () => {
    const first = await startDaemon();
    expect(await first.stop()).toBe(0);
    rmSync(join(first.dataDir, 'admin-token'));
    const again = await startDaemon({ dataDir: first.dataDir });
    expect(again.adminToken).not.toBe(first.adminToken);
    expect(mode(join(again.dataDir, 'admin-token'))).toBe(0o600);
    expect((await relay(['apps', 'list', '--json'], { daemon: again })).exitCode).toBe(0);
  });
});

describe('file modes', () => {
  it('makes every file 0600, even in a pre-made 0755 dir, and warns about the dir', async () => {
    const dataDir = tempDir('relayd-');
    chmodSync(dataDir, 0o755);
    const daemon = await startDaemon({ dataDir });
    await withApp(daemon);
    for (const name of ['relay.db', 'relay.db-wal', 'relay.db-shm', 'master.key', 'admin-token', 'relayd.pid']) {
      expect([name, mode(join(dataDir, name))]).toEqual([name, 0o600]);
    }
    expect(mode(dataDir)).toBe(0o755);
    expect(daemon.logs().join('\n')).toContain(`chmod 700 ${dataDir}`);
  });

  it.each(['master.key', 'admin-token'])('refuses a %s that group or others may read, with the chmod to run', async (name) => {
    const dataDir = await usedDataDir();
    const path = join(dataDir, name);
    chmodSync(path, 0o644);
    expectRefusal(await startDaemonExpectingExit({ dataDir }), `${path} (mode 0644)`, `chmod 600 ${path}`);
    expect(mode(path)).toBe(0o644);
  });

  it('sets a relay.db that others may read to 0600, and says so', async () => {
    const dataDir = await usedDataDir();
    const path = join(dataDir, 'relay.db');
    chmodSync(path, 0o644);
    const daemon = await startDaemon({ dataDir });
    expect(mode(path)).toBe(0o600);
    expect(daemon.logs().join('\n')).toContain(`${path} was readable by group or others (mode 0644); relayd set it to 0600`);
  });

  it('refuses a data dir that others may write to', async () => {
    const dataDir = tempDir('relayd-');
    chmodSync(dataDir, 0o777);
    expectRefusal(await startDaemonExpectingExit({ dataDir }), `chmod 700 ${dataDir}`);
  });
});

describe('a damaged database', () => {
  it('refuses a database with corrupt pages, saying to restore it', async () => {
    const daemon = await startDaemon();
    await withApp(daemon);
    const created = await daemon.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/apps/acme-pm/tokens', {
      name: 'seed',
      scopes: ['events:publish'],
      rateLimit: '100000/min,burst=100000',
    });
    // ~700 KB of history: well over 110 pages of 4 KB.
    for (let round = 0; round < 35; round++) {
      const statuses = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const res = await fetch(`${daemon.url}/api/v1/apps/acme-pm/events`, {
            method: 'POST',
            headers: { authorization: `Bearer ${created.body.secret}`, 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'seed', channel: 'c', data: `${round}-${i}-`.padEnd(1000, 'x') }),
          });
          return res.status;
        }),
      );
      expect(statuses.every((status) => status === 200)).toBe(true);
    }
    expect(await daemon.stop()).toBe(0);
    const dbFile = join(daemon.dataDir, 'relay.db');
    expect(existsSync(`${dbFile}-wal`)).toBe(false);

    const fd = openSync(dbFile, 'r+');
    const header = Buffer.alloc(100);
    readSync(fd, header, 0, 100, 0);
    const stored = header.readUInt16BE(16);
    const pageSize = stored === 1 ? 65536 : stored;
    expect(statSync(dbFile).size / pageSize).toBeGreaterThan(150);
    // Pages 100 to 110 (page 1 starts at 0).
    writeSync(fd, randomBytes(11 * pageSize), 0, 11 * pageSize, 99 * pageSize);
    closeSync(fd);

    expectRefusal(await startDaemonExpectingExit({ dataDir: daemon.dataDir }), `the database ${dbFile} is corrupt`, 'from a backup', '.recover');
  });

  it('refuses a relay.db that is not a database at all', async () => {
    const dataDir = await usedDataDir();
    writeFileSync(join(dataDir, 'relay.db'), randomBytes(16_384));
    expectRefusal(await startDaemonExpectingExit({ dataDir }), `${join(dataDir, 'relay.db')} is not a SQLite database`, 'from a backup');
  });
});

describe('a master key given to the node (--master-key-file, RELAY_MASTER_KEY)', () => {
  const key = (): string => randomBytes(32).toString('base64');

  it('seals with RELAY_MASTER_KEY, makes no master.key, and refuses another key later, even without apps', async () => {
    const first = key();
    const daemon = await startDaemon({ env: { RELAY_MASTER_KEY: first } });
    expect(existsSync(join(daemon.dataDir, 'master.key'))).toBe(false);
    await withApp(daemon);
    expect(await daemon.stop()).toBe(0);
    const again = await startDaemon({ dataDir: daemon.dataDir, env: { RELAY_MASTER_KEY: first } });
    expect((await again.admin('GET', '/admin/v1/orgs/default/apps/acme-pm/credentials')).status).toBe(200);
    expect(await again.stop()).toBe(0);
    expectRefusal(await startDaemonExpectingExit({ dataDir: daemon.dataDir, env: { RELAY_MASTER_KEY: key() } }), 'RELAY_MASTER_KEY is not the key the channel secrets');

    const empty = await startDaemon({ env: { RELAY_MASTER_KEY: first } });
    expect(await empty.stop()).toBe(0);
    expectRefusal(await startDaemonExpectingExit({ dataDir: empty.dataDir, env: { RELAY_MASTER_KEY: key() } }), 'RELAY_MASTER_KEY is not the key this store was first used with');
  });

  it('reads --master-key-file, refusing one others can read, one that holds no key, and a key given twice', async () => {
    const dir = tempDir();
    const file = join(dir, 'cluster.key');
    writeFileSync(file, key() + '\n', { mode: 0o600 });
    const daemon = await startDaemon({ args: ['--master-key-file', file] });
    expect(existsSync(join(daemon.dataDir, 'master.key'))).toBe(false);
    expect(await daemon.stop()).toBe(0);

    chmodSync(file, 0o644);
    expectRefusal(await startDaemonExpectingExit({ args: ['--master-key-file', file] }), `${file} (--master-key-file) is readable or writable by group or others`, `chmod 600 ${file}`);
    writeFileSync(join(dir, 'short.key'), 'c2hvcnQ=\n', { mode: 0o600 });
    expectRefusal(await startDaemonExpectingExit({ args: ['--master-key-file', join(dir, 'short.key')] }), 'does not hold a master key (32 bytes in base64');
    expectRefusal(await startDaemonExpectingExit({ env: { RELAY_MASTER_KEY: 'not a key' } }), 'RELAY_MASTER_KEY does not hold a master key');

    const twice = await startDaemonExpectingExit({ args: ['--master-key-file', file], env: { RELAY_MASTER_KEY: key() } });
    expect(twice.exitCode).toBe(2);
    expect(twice.stderr).toContain('give the master key one way');
  });

  it('refuses a store or broker it cannot use, with exit 2 and the forms it takes', async () => {
    const store = await startDaemonExpectingExit({ args: ['--store', 'mysql://localhost/relay'] });
    expect(store.exitCode).toBe(2);
    expect(store.stderr).toContain('--store / RELAY_STORE: invalid store "mysql://localhost/relay": use sqlite:PATH or postgres://user@host:port/database');
    const broker = await startDaemonExpectingExit({ env: { RELAY_BROKER: 'redis://:hunter2@localhost:6379/x' } });
    expect(broker.exitCode).toBe(2);
    expect(broker.stderr).toContain('use memory or redis://host:port[/db]');
    expect(broker.stderr).not.toContain('hunter2');
  });
});
