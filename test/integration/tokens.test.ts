import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { eventually } from '../helpers/ws.js';

interface TokenJson {
  id: string;
  appId: string;
  name: string;
  description: string | null;
  scopes: string[];
  rateLimit: { profile: string; perMinute: number; burst: number };
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  status: 'active' | 'expired' | 'revoked';
}

async function withApp(): Promise<Daemon> {
  const daemon = await startDaemon();
  const registered = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
  expect(registered.exitCode, registered.stderr).toBe(0);
  return daemon;
}

async function createToken(daemon: Daemon, args: string[]): Promise<string> {
  const result = await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'ci', ...args, '-q'], { daemon });
  expect(result.exitCode, result.stderr).toBe(0);
  return result.stdout.trim();
}

function publish(daemon: Daemon, token: string, app = 'acme-pm'): Promise<Response> {
  return fetch(`${daemon.url}/api/v1/apps/${app}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'my-event', channels: ['my-channel'], data: '{"hello":"world"}' }),
  });
}

async function tokenId(daemon: Daemon, name: string): Promise<string> {
  const list = await relay(['tokens', 'list', '--app', 'acme-pm', '--json'], { daemon });
  const token = list.json<{ tokens: TokenJson[] }>().tokens.find((t) => t.name === name);
  if (!token) throw new Error(`no token named ${name}`);
  return token.id;
}

describe('API tokens', () => {
  it('a token scoped events:* publishes, and gets 403 naming channels:read on the channels endpoint', async () => {
    const daemon = await withApp();
    const token = await createToken(daemon, ['--scope', 'events:*']);
    expect(token).toMatch(/^rly_[0-9A-Za-z]{36}$/);

    const published = await publish(daemon, token);
    expect(published.status).toBe(200);
    const { id } = (await published.json()) as { id: string };
    expect(id).toMatch(/^evt_/);

    const channels = await fetch(`${daemon.url}/api/v1/apps/acme-pm/channels`, { headers: { authorization: `Bearer ${token}` } });
    expect(channels.status).toBe(403);
    const body = (await channels.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('insufficient_scope');
    expect(body.error.message).toContain('channels:read');

    const history = await fetch(`${daemon.url}/api/v1/apps/acme-pm/history`, { headers: { authorization: `Bearer ${token}` } });
    expect(history.status).toBe(403);
  });

  it('a token is refused on another app\'s path with 403', async () => {
    const daemon = await withApp();
    await relay(['apps', 'register', '--id', 'flow', '--name', 'Flow', '-q'], { daemon });
    const token = await createToken(daemon, []);
    expect((await publish(daemon, token, 'flow')).status).toBe(403);
  });

  it('refuses an unknown scope with exit 2, listing the valid ones', async () => {
    const daemon = await withApp();
    const result = await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'ci', '--scope', 'events:bogus'], { daemon });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('events:bogus');
    expect(result.stderr).toContain('channels:read');
    expect(result.stdout).toBe('');
  });

  it('a token created with --expires 2s works, then gets 401', async () => {
    const daemon = await withApp();
    const token = await createToken(daemon, ['--expires', '2s']);
    expect((await publish(daemon, token)).status).toBe(200);
    const refused = await eventually(async () => {
      const res = await publish(daemon, token);
      return res.status === 401 ? res : undefined;
    }, 5000, 'the token to expire');
    expect(refused.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    const shown = await relay(['tokens', 'show', await tokenId(daemon, 'ci'), '--json'], { daemon });
    expect(shown.json<{ token: TokenJson }>().token.status).toBe('expired');
  });

  it('after revoke the very next request gets 401; revoking again exits 0', async () => {
    const daemon = await withApp();
    const token = await createToken(daemon, []);
    expect((await publish(daemon, token)).status).toBe(200);
    const id = await tokenId(daemon, 'ci');
    const revoked = await relay(['tokens', 'revoke', id, '--yes', '--json'], { daemon });
    expect(revoked.exitCode, revoked.stderr).toBe(0);
    expect(revoked.json<{ token: TokenJson }>().token.status).toBe('revoked');
    expect((await publish(daemon, token)).status).toBe(401);
    const again = await relay(['tokens', 'revoke', id, '--yes'], { daemon });
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toMatch(/already revoked/);
    expect((await relay(['tokens', 'revoke', 'tok_doesnotexist', '--yes'], { daemon })).exitCode).toBe(3);
  });

  it('refuses a token with one character changed without a lookup', async () => {
    const daemon = await withApp();
    const token = await createToken(daemon, []);
    const before = (await relay(['status', '--json'], { daemon })).json<{ counters: { credentialsRefusedUnchecked: number } }>();
    const i = 12;
    const changed = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
    expect((await publish(daemon, changed)).status).toBe(401);
    const after = (await relay(['status', '--json'], { daemon })).json<{ counters: { credentialsRefusedUnchecked: number } }>();
    expect(after.counters.credentialsRefusedUnchecked - before.counters.credentialsRefusedUnchecked).toBe(1);
    // A well-formed but unknown token is looked up, and refused the same way.
    expect((await publish(daemon, `rly_${'0'.repeat(30)}000000`)).status).toBe(401);
  });

  it('a secret given where a token id belongs is refused with exit 2', async () => {
    const daemon = await withApp();
    const token = await createToken(daemon, []);
    const result = await relay(['tokens', 'revoke', token, '--yes'], { daemon });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).not.toContain(token);
    expect((await publish(daemon, token)).status).toBe(200);
  });

  it('rotate keeps name, scopes and limit, revokes the old secret at once and prints the new one', async () => {
    const daemon = await withApp();
    const old = await createToken(daemon, ['--scope', 'events:publish', '--rate-limit', 'steady-stream']);
    const id = await tokenId(daemon, 'ci');
    const rotated = await relay(['tokens', 'rotate', id, '--json'], { daemon });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    const body = rotated.json<{ token: TokenJson; secret: string }>();
    expect(body.token).toMatchObject({ name: 'ci', scopes: ['events:publish'], rateLimit: { profile: 'steady-stream', perMinute: 60, burst: 30 }, status: 'active' });
    expect((await publish(daemon, old)).status).toBe(401);
    expect((await publish(daemon, body.secret)).status).toBe(200);
  });

  it('tokens list shows active, expired and revoked tokens, with lastUsedAt', async () => {
    const daemon = await withApp();
    const used = await createToken(daemon, []);
    expect((await publish(daemon, used)).status).toBe(200);
    await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'short', '--expires', '1s', '-q'], { daemon });
    await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'gone', '-q'], { daemon });
    await relay(['tokens', 'revoke', await tokenId(daemon, 'gone'), '--yes'], { daemon });
    const tokens = await eventually(async () => {
      const list = await relay(['tokens', 'list', '--app', 'acme-pm', '--json'], { daemon });
      const all = list.json<{ tokens: TokenJson[] }>().tokens;
      return all.find((t) => t.name === 'short')?.status === 'expired' ? all : undefined;
    }, 5000, 'the short token to expire');
    const byName = Object.fromEntries(tokens.map((t) => [t.name, t]));
    expect(byName.ci?.status).toBe('active');
    expect(byName.ci?.lastUsedAt).not.toBeNull();
    expect(byName.gone?.status).toBe('revoked');
    expect(byName.gone?.revokedAt).not.toBeNull();
    expect(byName.short?.lastUsedAt).toBeNull();
    for (const t of tokens) {
      expect(Object.keys(t)).toEqual(expect.arrayContaining(['id', 'appId', 'name', 'description', 'scopes', 'rateLimit', 'expiresAt', 'createdAt', 'lastUsedAt', 'revokedAt', 'status']));
    }
  });
});

describe('rate limits', () => {
  it('a restricted token gets 429 with Retry-After on its 6th request of a burst, and RateLimit headers on every answer', async () => {
    const daemon = await withApp();
    const token = await createToken(daemon, ['--rate-limit', 'restricted']);
    const answers: Response[] = [];
    for (let i = 0; i < 6; i++) answers.push(await publish(daemon, token));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429]);
    for (const r of answers) {
      expect(r.headers.get('ratelimit-limit')).toBe('5');
      expect(r.headers.get('ratelimit-remaining')).toMatch(/^\d+$/);
      expect(r.headers.get('ratelimit-reset')).toMatch(/^\d+$/);
    }
    expect(answers[5]?.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(answers[5]?.headers.get('ratelimit-remaining')).toBe('0');
    const body = (await answers[5]?.json()) as { error: { code: string } };
    expect(body.error.code).toBe('rate_limited');
  });

  it('a token follows its app\'s default profile, and a custom limit overrides it', async () => {
    const daemon = await withApp();
    const updated = await relay(['apps', 'update', 'acme-pm', '--rate-limit', 'restricted', '--json'], { daemon });
    expect(updated.exitCode, updated.stderr).toBe(0);
    const inherited = await createToken(daemon, []);
    expect((await publish(daemon, inherited)).headers.get('ratelimit-limit')).toBe('5');
    const custom = await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'custom', '--rate-limit', '100/min,burst=50', '--json'], { daemon });
    expect(custom.exitCode, custom.stderr).toBe(0);
    const created = custom.json<{ token: TokenJson; secret: string }>();
    expect(created.token.rateLimit).toMatchObject({ profile: 'custom', perMinute: 100, burst: 50 });
    expect((await publish(daemon, created.secret)).headers.get('ratelimit-limit')).toBe('50');
  });
});
