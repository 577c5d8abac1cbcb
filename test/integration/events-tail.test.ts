import { describe, expect, it } from 'vitest';
import { relay, relayRunning, type RunningCli } from '../helpers/cli.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { connectOk, type OpenSocket } from '../helpers/ws.js';

interface Seeded {
  daemon: Daemon;
  /** acme-pm's app token, for its WebSocket. */
  appToken: string;
  /** An API token of acme-pm that may publish. */
  publishToken: string;
}

async function seed(): Promise<Seeded> {
  const d = await startDaemon();
  const app = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon: d });
  expect(app.exitCode, app.stderr).toBe(0);
  const token = await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'publisher', '--scope', 'events:publish', '-q'], { daemon: d });
  expect(token.exitCode, token.stderr).toBe(0);
  return { daemon: d, appToken: app.stdout.trim(), publishToken: token.stdout.trim() };
}

/** Publishes an event to a channel through the public API; its id. */
async function publish(daemon: Daemon, token: string, name: string, app = 'acme-pm'): Promise<string> {
  const res = await fetch(`${daemon.url}/api/v1/apps/${app}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, channel: 'news', data: '{}' }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

/** relayd again, on the port and data dir of the one stopped. */
function restart(stopped: Daemon): Promise<Daemon> {
  return startDaemon({ dataDir: stopped.dataDir, args: ['--port', new URL(stopped.url).port] });
}

interface Change {
  seq: number;
  type: string;
  event: { id: string; name: string | null; kind: string; status: string };
}

const changes = (cli: RunningCli): Change[] =>
  cli
    .stdout()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Change);

describe('relay events tail when relayd goes away', () => {
  it('says so, reconnects with backoff when relayd is back, and shows a change made while it was away exactly once', async () => {
    const { daemon, publishToken } = await seed();
    const tail = relayRunning(['events', 'tail', '--json'], { daemon });
    await tail.waitFor('stderr', 'Watching events');
    const before = await publish(daemon, publishToken, 'before');
    await tail.waitFor('stdout', before);

    expect(await daemon.stop()).toBe(0);
    await tail.waitFor('stderr', 'relayd went away; reconnecting in 1s...');
    // The first try finds nothing there; the wait doubles.
    await tail.waitFor('stderr', 'relayd is still unreachable; reconnecting in 2s...');
    const again = await restart(daemon);
    const whileAway = await publish(again, publishToken, 'while-away');
    await tail.waitFor('stderr', 'relayd is back; reconnected.');
    const after = await publish(again, publishToken, 'after');
    await tail.waitFor('stdout', after);

    const result = await tail.interrupt();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/error|bug/);
    const seen = changes(tail);
    expect(seen.map((c) => [c.event.id, c.type])).toEqual([
      [before, 'published'],
      [whileAway, 'published'],
      [after, 'published'],
    ]);
    expect(seen.map((c) => c.seq)).toEqual([...seen.map((c) => c.seq)].sort((a, b) => a - b));
  });

  it('with --no-reconnect, exits 6 and says relayd went away', async () => {
    const { daemon } = await seed();
    const tail = relayRunning(['events', 'tail', '--no-reconnect'], { daemon });
    await tail.waitFor('stderr', 'Watching events');
    expect(await daemon.stop()).toBe(0);
    const result = await tail.exited;
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`error: relayd at ${daemon.url} went away; not reconnecting (--no-reconnect)`);
    expect(result.stderr).toContain('hint: start relayd again');
    expect(result.stderr).not.toContain('this is a bug');
    expect(result.stdout).toBe('');
  });
});

describe('relay events tail and events list', () => {
  it('show a channel publish alike: the same row, with the same filters', async () => {
    const { daemon, publishToken } = await seed();
    expect((await relay(['apps', 'register', '--id', 'billing', '--name', 'Billing', '-q'], { daemon })).exitCode).toBe(0);
    const billingToken = (await relay(['tokens', 'create', '--app', 'billing', '--name', 'p', '--scope', 'events:publish', '-q'], { daemon })).stdout.trim();
    const tail = relayRunning(['events', 'tail', '--app', 'acme-pm'], { daemon });
    await tail.waitFor('stderr', 'Watching events');
    const other = await publish(daemon, billingToken, 'elsewhere', 'billing');
    const mine = await publish(daemon, publishToken, 'deployed');
    await tail.waitFor('stdout', mine);
    const result = await tail.interrupt();
    expect(result.exitCode, result.stderr).toBe(0);

    const list = await relay(['events', 'list', '--app', 'acme-pm'], { daemon });
    expect(list.exitCode, list.stderr).toBe(0);
    // Piped, both print tab-separated fields; tail adds what the change was.
    expect(result.stdout).toBe(`${list.stdout.trimEnd()}\tpublished\n`);
    expect(result.stdout).toContain('acme-pm\tnews\t');
    expect(result.stdout).not.toContain(other);
  });

  it('takes --thread and --status as list does', async () => {
    const { daemon, appToken } = await seed();
    expect((await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon })).exitCode).toBe(0);
    const tail = relayRunning(['events', 'tail', '--json', '--thread', 'wanted', '--status', 'pending'], { daemon });
    await tail.waitFor('stderr', 'Watching events');
    const app: OpenSocket = await connectOk(daemon, appToken);
    const send = async (thread: string): Promise<string> => {
      app.send({ type: 'event', agent: 'athena', thread, payload: {} });
      const accepted = await app.nextFrame();
      expect(accepted.type).toBe('accepted');
      return accepted.eventId as string;
    };
    const skipped = await send('other');
    const wanted = await send('wanted');
    await tail.waitFor('stdout', wanted);
    expect((await tail.interrupt()).exitCode).toBe(0);
    expect(changes(tail).map((c) => [c.event.id, c.type, c.event.status])).toEqual([[wanted, 'accepted', 'pending']]);
    expect(tail.stdout()).not.toContain(skipped);
    const list = await relay(['events', 'list', '--thread', 'wanted', '--status', 'pending', '--json'], { daemon });
    expect(list.json<{ events: { id: string }[] }>().events.map((e) => e.id)).toEqual([wanted]);
  });
});

describe('relay status --watch when relayd goes away', () => {
  it('says so and reconnects when relayd is back', async () => {
    const { daemon } = await seed();
    const watch = relayRunning(['status', '--watch', '--interval', '1s'], { daemon });
    await watch.waitFor('stdout', 'acme-pm');
    expect(await daemon.stop()).toBe(0);
    await watch.waitFor('stderr', 'relayd went away; reconnecting in 1s...');
    const printed = watch.stdout().split('\n').length;
    await restart(daemon);
    await watch.waitFor('stderr', 'relayd is back; reconnected.');
    await watch.waitFor('stdout', '"status":"ok"', { times: printed });
    const result = await watch.interrupt();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/error|bug/);
  });

  it('with --no-reconnect, exits 6 and says relayd went away', async () => {
    const { daemon } = await seed();
    const watch = relayRunning(['status', '--watch', '--interval', '1s', '--no-reconnect'], { daemon });
    await watch.waitFor('stdout', 'acme-pm');
    expect(await daemon.stop()).toBe(0);
    const result = await watch.exited;
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`error: relayd at ${daemon.url} went away; not reconnecting (--no-reconnect)`);
    expect(result.stderr).not.toContain('this is a bug');
  });

  it('refuses --no-reconnect without --watch, rather than ignore it', async () => {
    const { daemon } = await seed();
    const result = await relay(['status', '--no-reconnect'], { daemon });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--no-reconnect goes with --watch');
  });
});
