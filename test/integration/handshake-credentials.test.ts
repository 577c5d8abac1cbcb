import Database from 'better-sqlite3';
import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { randomBase62 } from '../../daemon/core/secrets.js';
import { relay } from '../helpers/cli.js';
import { ROOT, startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { connect, connectOk, type ConnectOptions, type Handshake } from '../helpers/ws.js';

interface Counters {
  bcryptCompares: number;
  handshakesAccepted: number;
  handshakesRefused: number;
  handshakesRateLimited: number;
  credentialsRefusedUnchecked: number;
}

async function counters(daemon: Daemon): Promise<Counters> {
  const result = await relay(['status', '--json'], { daemon });
  expect(result.exitCode, result.stderr).toBe(0);
  return result.json<{ counters: Counters }>().counters;
}

/** How each counter moved since `before`. */
async function since(daemon: Daemon, before: Counters): Promise<Counters> {
  const now = await counters(daemon);
  return Object.fromEntries(Object.entries(now).map(([key, value]) => [key, value - before[key as keyof Counters]])) as unknown as Counters;
}

async function registerApp(daemon: Daemon, id: string, org?: string): Promise<string> {
  const result = await relay(['apps', 'register', '--id', id, '--name', id, ...(org ? ['--org', org] : []), '-q'], { daemon });
  expect(result.exitCode, result.stderr).toBe(0);
  return result.stdout.trim();
}

async function refused(daemon: Daemon, token: string, options: ConnectOptions = {}): Promise<Extract<Handshake, { ok: false }>> {
  const result = await connect(daemon, token, options);
  if (result.ok) {
    result.socket.ws.close();
    throw new Error(`the handshake with ${token.slice(0, 20)}... was accepted`);
  }
  return result;
}

/** Opens and closes a socket: the handshake was accepted. */
async function accepted(daemon: Daemon, token: string, options: ConnectOptions = {}): Promise<void> {
  const socket = await connectOk(daemon, token, options);
  socket.ws.close();
  await socket.closed;
}

describe('app tokens find their one stored hash by a lookup id', () => {
  it('a forged token is refused without bcrypt, the same whether or not its app exists', async () => {
    const daemon = await startDaemon();
    const secret = await registerApp(daemon, 'acme-pm');
    await registerApp(daemon, 'other-app');
    // Forgeries as long as the tokens this relayd issues, so that none is refused on its format alone.
    const random = secret.slice('rlk_acme-pm_'.length);

    const before = await counters(daemon);
    const existing = await refused(daemon, `rlk_acme-pm_${randomBase62(random.length)}`);
    const missing = await refused(daemon, `rlk_nosuchapp_${randomBase62(random.length)}`);
    // acme-pm's real random part under another app's id.
    const elsewhere = await refused(daemon, `rlk_other-app_${random}`);
    for (const result of [existing, missing, elsewhere]) {
      expect(result.status).toBe(401);
      expect(result.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      expect(result.body).toBe(missing.body);
    }
    expect(await since(daemon, before)).toMatchObject({ bcryptCompares: 0, handshakesRefused: 3, credentialsRefusedUnchecked: 0 });

    // The real lookup id with a wrong secret is the only forgery that reaches a hash: exactly one.
    const next = await counters(daemon);
    expect((await refused(daemon, `${secret.slice(0, -32)}${randomBase62(32)}`)).status).toBe(401);
    expect(await since(daemon, next)).toMatchObject({ bcryptCompares: 1, handshakesRefused: 1 });
    expect(secret).toMatch(/^rlk_acme-pm_[0-9A-Za-z]{44}$/);
  });

  it('a real token pays one bcrypt, even when its app id is in two organizations; after a rotation the old and the new each pay one', async () => {
    const daemon = await startDaemon();
    const created = await relay(['orgs', 'create', '--id', 'acme', '--name', 'Acme'], { daemon });
    expect(created.exitCode, created.stderr).toBe(0);
    const first = await registerApp(daemon, 'acme-pm');
    await registerApp(daemon, 'acme-pm', 'acme');

    let before = await counters(daemon);
    await accepted(daemon, first);
    await accepted(daemon, first);
    expect(await since(daemon, before)).toMatchObject({ bcryptCompares: 1, handshakesAccepted: 2 });

    const rotated = await relay(['apps', 'rotate', 'acme-pm', '-q'], { daemon });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    const fresh = rotated.stdout.trim();
    expect(fresh).toMatch(/^rlk_acme-pm_[0-9A-Za-z]{44}$/);

    before = await counters(daemon);
    await accepted(daemon, fresh);
    expect(await since(daemon, before)).toMatchObject({ bcryptCompares: 1 });
    before = await counters(daemon);
    await accepted(daemon, first);
    expect(await since(daemon, before)).toMatchObject({ bcryptCompares: 1 });
    before = await counters(daemon);
    await accepted(daemon, fresh);
    await accepted(daemon, first);
    expect(await since(daemon, before)).toMatchObject({ bcryptCompares: 0, handshakesAccepted: 2 });
  });
});

/** A copy of the data dir in test/fixtures/data-dir-0.1.0, made by relayd before app tokens had lookup ids. */
function dataDirFromBeforeLookupIds(): { dir: string; appToken: string } {
  const fixture = join(ROOT, 'test/fixtures/data-dir-0.1.0');
  const dir = tempDir('relayd-0.1.0-');
  const db = new Database(join(dir, 'relay.db'));
  db.exec(readFileSync(join(fixture, 'relay.sql'), 'utf8'));
  db.close();
  chmodSync(join(dir, 'relay.db'), 0o600);
  for (const file of ['master.key', 'admin-token']) {
    copyFileSync(join(fixture, file), join(dir, file));
    chmodSync(join(dir, file), 0o600);
  }
  return { dir, appToken: readFileSync(join(fixture, 'app-token'), 'utf8').trim() };
}

describe('app tokens issued before lookup ids', () => {
  it('keep working after the upgrade until their app is rotated; then forgeries in the old format cost nothing either', async () => {
    const { dir, appToken } = dataDirFromBeforeLookupIds();
    expect(appToken).toMatch(/^rlk_acme-pm_[0-9A-Za-z]{32}$/);
    const daemon = await startDaemon({ dataDir: dir });

    let before = await counters(daemon);
    const socket = await connectOk(daemon, appToken);
    expect(socket.welcome).toMatchObject({ type: 'welcome', role: 'app', id: 'acme-pm' });
    expect(await since(daemon, before)).toMatchObject({ bcryptCompares: 1 });
    // Until the rotation, a forgery in the old format is compared with the app's one old token.
    before = await counters(daemon);
    expect((await refused(daemon, `rlk_acme-pm_${randomBase62(32)}`)).status).toBe(401);
    expect((await refused(daemon, `rlk_acme-pm_${randomBase62(44)}`)).status).toBe(401);
    expect(await since(daemon, before)).toMatchObject({ bcryptCompares: 1, handshakesRefused: 2 });

    const rotated = await relay(['apps', 'rotate', 'acme-pm', '--grace', '2s', '-q'], { daemon });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    const fresh = rotated.stdout.trim();
    await accepted(daemon, fresh);
    await accepted(daemon, appToken);
    expect((await socket.closed).code).toBe(4001);

    before = await counters(daemon);
    expect((await refused(daemon, appToken)).status).toBe(401);
    expect((await refused(daemon, `rlk_acme-pm_${randomBase62(32)}`)).status).toBe(401);
    expect(await since(daemon, before)).toMatchObject({ bcryptCompares: 0, handshakesRefused: 2 });
    expect(fresh).toMatch(/^rlk_acme-pm_[0-9A-Za-z]{44}$/);
  });
});

describe('refused credentials per client address', () => {
  it('a client with a wrong token gets 401 a few dozen times', async () => {
    const daemon = await startDaemon();
    for (let i = 0; i < 30; i++) {
      const token = i % 2 === 0 ? `rlk_acme-pm_${randomBase62(44)}` : `rla_athena_${randomBase62(32)}`;
      expect((await refused(daemon, token)).status).toBe(401);
    }
  });

  it('past the limit an address gets 429 with Retry-After, even with a valid token, unverified; another address is unaffected', async () => {
    const daemon = await startDaemon({ args: ['--failed-handshake-limit', '1/min,burst=5'] });
    const appToken = await registerApp(daemon, 'acme-pm');
    const agent = await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon });
    expect(agent.exitCode, agent.stderr).toBe(0);
    const agentToken = agent.stdout.trim();

    // App and agent credentials alike are charged to the address.
    for (const token of [`rlk_acme-pm_${randomBase62(44)}`, `rla_athena_${randomBase62(32)}`, 'nonsense', `rlk_nosuchapp_${randomBase62(44)}`, `rla_nobody_${randomBase62(32)}`]) {
      expect((await refused(daemon, token)).status, token).toBe(401);
    }
    const before = await counters(daemon);
    const limited = await refused(daemon, `rlk_acme-pm_${randomBase62(44)}`);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(limited.body)).toMatchObject({ error: { code: 'rate_limited' } });
    // The app's token has never been verified: a 429 for it shows that nothing was checked.
    expect((await refused(daemon, appToken)).status).toBe(429);
    expect((await refused(daemon, agentToken)).status).toBe(429);
    expect(await since(daemon, before)).toMatchObject({ bcryptCompares: 0, handshakesRateLimited: 3, handshakesRefused: 3, handshakesAccepted: 0 });

    const elsewhere = { localAddress: '127.0.0.2' };
    await accepted(daemon, appToken, elsewhere);
    await accepted(daemon, agentToken, elsewhere);
    expect(await since(daemon, before)).toMatchObject({ bcryptCompares: 1, handshakesAccepted: 2 });
    // Accepted handshakes cost an address nothing: more of them than the burst leave its failures intact.
    for (let i = 0; i < 6; i++) await accepted(daemon, appToken, elsewhere);
    expect((await refused(daemon, `rlk_acme-pm_${randomBase62(44)}`, elsewhere)).status).toBe(401);
  });
});
