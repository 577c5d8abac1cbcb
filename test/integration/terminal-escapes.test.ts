import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { ROOT, cleanEnv, startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { relayOnTty } from '../helpers/tty.js';
import { connectOk } from '../helpers/ws.js';

// What a token with only events:publish, or whoever names an app, can put in front of an
// operator: clear the screen, fake a green "ok", set the window title (OSC ... BEL), a
// one-character CSI (U+009B), a right-to-left override, and a tab and a newline that would
// break a row of a table.
const EVENT_NAME = '\u001b[2J\u001b[32mok evt\u001b]0;title\u0007';
const EVENT_NAME_SHOWN = '^[[2J^[[32mok evt^[]0;title^G';
const APP_NAME = 'Acme \u001b[2J PM';
const APP_NAME_SHOWN = 'Acme ^[[2J PM';
const DESCRIPTION = 'desc \u001b]0;title\u0007 \u009b31m red \u202eabc\tx\ny';
const DESCRIPTION_SHOWN = 'desc ^[]0;title^G ^[[31m red <U+202E>abc^Ix^Jy';
const THREAD = 'task\u009b2J-42';
const THREAD_SHOWN = 'task^[[2J-42';

/** What a terminal would act on rather than show. */
const ACTIVE = /[\u0007\u001b\u0080-\u009f\u202a-\u202e\u2066-\u2069]/;

interface Seeded {
  daemon: Daemon;
  channelEvent: string;
  agentEvent: string;
  appToken: string;
  publishToken: string;
}

async function publish(daemon: Daemon, token: string, name: string): Promise<string> {
  const res = await fetch(`${daemon.url}/api/v1/apps/acme-pm/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, channel: 'orders', data: JSON.stringify({ note: 'C1 CSI \u009b1m' }) }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

/** An app and an event of each kind carrying escapes, put in as an attacker would: the public API and the relay protocol. */
async function seed(): Promise<Seeded> {
  const daemon = await startDaemon();
  const app = await relay(['apps', 'register', '--id', 'acme-pm', '--name', APP_NAME, '--description', DESCRIPTION, '-q'], { daemon });
  expect(app.exitCode, app.stderr).toBe(0);
  expect((await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon })).exitCode).toBe(0);
  const token = await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'publisher', '--scope', 'events:publish', '-q'], { daemon });
  expect(token.exitCode, token.stderr).toBe(0);
  const publishToken = token.stdout.trim();
  const channelEvent = await publish(daemon, publishToken, EVENT_NAME);

  const socket = await connectOk(daemon, app.stdout.trim());
  socket.send({ type: 'event', agent: 'athena', thread: THREAD, name: EVENT_NAME, payload: { title: 'x' } });
  const accepted = await socket.nextFrame();
  expect(accepted.type).toBe('accepted');
  socket.ws.close();
  return { daemon, channelEvent, agentEvent: accepted.eventId as string, appToken: app.stdout.trim(), publishToken };
}

describe('server data on a terminal', () => {
  it('is printed with its control characters made visible when stdout is not a TTY, a row still one line of fields', async () => {
    const { daemon, channelEvent, agentEvent } = await seed();

    const list = await relay(['events', 'list'], { daemon });
    expect(list.exitCode, list.stderr).toBe(0);
    expect(list.stdout).not.toMatch(ACTIVE);
    expect(list.stdout).toContain(EVENT_NAME_SHOWN);
    expect(list.stdout).toContain(THREAD_SHOWN);
    const rows = list.stdout.trimEnd().split('\n');
    expect(rows).toHaveLength(2);
    // id, time, app, agent or channels, thread, name, status, latency
    for (const row of rows) expect(row.split('\t')).toHaveLength(8);

    for (const id of [channelEvent, agentEvent]) {
      const shown = await relay(['events', 'show', id], { daemon });
      expect(shown.exitCode, shown.stderr).toBe(0);
      expect(shown.stdout).not.toMatch(ACTIVE);
      expect(shown.stdout).toContain(`Name:     ${EVENT_NAME_SHOWN}\n`);
    }
    expect((await relay(['events', 'show', channelEvent], { daemon })).stdout).toContain('C1 CSI ^[[1m');

    const apps = await relay(['apps', 'list'], { daemon });
    expect(apps.stdout).not.toMatch(ACTIVE);
    expect(apps.stdout.split('\n')[0]?.split('\t')[1]).toBe(APP_NAME_SHOWN);

    const app = await relay(['apps', 'show', 'acme-pm'], { daemon });
    expect(app.exitCode, app.stderr).toBe(0);
    expect(app.stdout).not.toMatch(ACTIVE);
    expect(app.stdout).toContain(`(${APP_NAME_SHOWN})\n`);
    expect(app.stdout).toMatch(/\nDescription: +desc /);
    expect(app.stdout).toContain(`${DESCRIPTION_SHOWN}\n`);
    expect(app.stdout).toContain(EVENT_NAME_SHOWN);
  });

  it('is printed with its control characters made visible on a TTY, in colour and without', async () => {
    const { daemon, channelEvent } = await seed();
    // Fitted to the terminal (truncated) and --wide (whole).
    for (const args of [['events', 'list'], ['events', 'list', '--wide'], ['events', 'show', channelEvent], ['apps', 'list', '--wide'], ['apps', 'show', 'acme-pm']]) {
      const coloured = relayOnTty(args, { daemon });
      expect(await coloured.exited).toBe(0);
      // Our own colours are the only escape sequences left.
      const output = coloured.output().replace(/\u001b\[[0-9;]*m/g, '');
      expect(output, args.join(' ')).not.toMatch(ACTIVE);
      if (!args.includes('list') || args.includes('--wide')) expect(output).toContain(args[0] === 'events' ? EVENT_NAME_SHOWN : APP_NAME_SHOWN);

    }
    for (const args of [['events', 'list', '--wide'], ['apps', 'show', 'acme-pm']]) {
      const plain = relayOnTty(args, { daemon, env: { NO_COLOR: '1' } });
      expect(await plain.exited).toBe(0);
      expect(plain.output(), args.join(' ')).not.toMatch(ACTIVE);
      expect(plain.output()).toContain(args[0] === 'events' ? EVENT_NAME_SHOWN : DESCRIPTION_SHOWN);
    }
  });

  it('stays exact in --json and --jq', async () => {
    const { daemon, channelEvent, agentEvent } = await seed();
    const list = await relay(['events', 'list', '--json'], { daemon });
    const events = list.json<{ events: { id: string; name: string; thread: string | null }[] }>().events;
    expect(events.map((e) => [e.id, e.name, e.thread])).toEqual([
      [agentEvent, EVENT_NAME, THREAD],
      [channelEvent, EVENT_NAME, null],
    ]);
    expect((await relay(['events', 'show', channelEvent, '--json'], { daemon })).json<{ event: { name: string } }>().event.name).toBe(EVENT_NAME);
    const app = (await relay(['apps', 'show', 'acme-pm', '--json'], { daemon })).json<{ app: { name: string; description: string } }>().app;
    expect(app).toMatchObject({ name: APP_NAME, description: DESCRIPTION });
    expect((await relay(['apps', 'list', '--json'], { daemon })).json<{ apps: { name: string }[] }>().apps[0]?.name).toBe(APP_NAME);
    expect((await relay(['events', 'show', channelEvent, '--jq', '.event.name'], { daemon })).stdout).toBe(`${EVENT_NAME}\n`);
  });

  it('is made visible in the lines of events tail, and exact in its --json lines', async () => {
    const { daemon, appToken } = await seed();
    const app = await connectOk(daemon, appToken);
    const env = { ...cleanEnv(), RELAY_URL: daemon.url, RELAY_DATA_DIR: daemon.dataDir, RELAY_CONFIG_DIR: tempDir('relay-config-') };
    for (const json of [false, true]) {
      const child = execa(process.execPath, [join(ROOT, 'bin/relay.js'), 'events', 'tail', ...(json ? ['--json'] : [])], { env, extendEnv: false, reject: false });
      let stdout = '';
      child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      await new Promise<void>((resolve) => child.stderr?.on('data', (chunk: Buffer) => chunk.toString().includes('Watching events') && resolve()));
      app.send({ type: 'event', agent: 'athena', thread: THREAD, name: EVENT_NAME, payload: {} });
      await new Promise<void>((resolve) => {
        const check = (): void => (stdout.includes('\n') ? resolve() : void child.stdout?.once('data', check));
        check();
      });
      child.kill('SIGINT');
      expect((await child).exitCode).toBe(0);
      const first = stdout.split('\n')[0] ?? '';
      if (json) {
        expect((JSON.parse(first) as { event: { name: string; thread: string } }).event).toMatchObject({ name: EVENT_NAME, thread: THREAD });
      } else {
        expect(first).not.toMatch(ACTIVE);
        expect(first).toContain(`acme-pm\tathena\t${THREAD_SHOWN}`);
      }
    }
  });

  it('is made visible in an error that echoes what relayd was given', async () => {
    const { daemon } = await seed();
    const result = await relay(['apps', 'show', 'acme-pm', '--org', 'x\u001b]0;pwned\u0007'], { daemon });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('organization "x^[]0;pwned^G" not found');
    expect(result.stderr).not.toMatch(ACTIVE);
  });
});
