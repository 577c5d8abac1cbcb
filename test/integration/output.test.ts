import { describe, expect, it } from 'vitest';
import type { WebhookDelivery } from '../../src/shared/api.js';
import { relay } from '../helpers/cli.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { channelName, openRawSocket } from '../helpers/pusher.js';
import { relayOnTty, type TtySession } from '../helpers/tty.js';
import { startReceiver, type Receiver } from '../helpers/webhooks.js';
import { connectOk, eventually, type OpenSocket } from '../helpers/ws.js';

/** These tests run relay a dozen times or more, on a terminal: more than the default 30 s on a busy machine. */
const SLOW = 90_000;
const SGR = /\u001b\[[0-9;]*m/g;
const THREAD = 'project-apollo-sprint-42-planning-and-retrospective';
const EVENT_NAME = 'task.assigned.to.the.planning.agent.of.the.team';
const APP_NAME = 'Acme Project Management Suite for Very Large Teams';
const TOKEN_NAME = 'continuous integration deploy token for production';

/** What a terminal shows, line by line, without our colour codes. */
function shown(session: TtySession): string[] {
  return session
    .output()
    .replace(SGR, '')
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '');
}

async function onTty(args: string[], daemon: Daemon, options: { columns?: number; env?: Record<string, string> } = {}): Promise<TtySession> {
  const session = relayOnTty(args, { daemon, ...options });
  expect(await session.exited, `${args.join(' ')}: ${session.output()}`).toBe(0);
  return session;
}

async function ok(args: string[], daemon: Daemon): Promise<string> {
  const result = await relay(args, { daemon });
  expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

async function expectFrame(socket: OpenSocket, type: string): Promise<Record<string, unknown>> {
  const frame = await socket.nextFrame();
  expect(frame.type, JSON.stringify(frame)).toBe(type);
  return frame;
}

interface Seeded {
  daemon: Daemon;
  receiver: Receiver;
  webhookId: string;
  /** Ids of the events: delivered (with a reply), failed (the agent's error), pending (agent offline). */
  delivered: string;
  failed: string;
  pending: string;
}

/**
 * An app with long names, tokens (one revoked), a webhook whose URL is long and whose
 * endpoint answers 500 then 200, and agent events in each status.
 */
async function seed(): Promise<Seeded> {
  const daemon = await startDaemon({ args: ['--webhook-allow-private'] });
  const appToken = (await ok(['apps', 'register', '--id', 'acme-pm', '--name', APP_NAME, '-q'], daemon)).trim();
  await ok(['apps', 'register', '--id', 'old-app', '--name', 'Old', '-q'], daemon);
  await ok(['apps', 'deactivate', 'old-app', '--yes'], daemon);
  const agentToken = (await ok(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], daemon)).trim();
  await ok(['agents', 'register', '--id', 'hermes', '--name', 'Hermes', '-q'], daemon);
  await ok(['tokens', 'create', '--app', 'acme-pm', '--name', TOKEN_NAME, '--scope', 'events:publish,channels:read,connections:read', '-q'], daemon);
  const revoked = JSON.parse(await ok(['tokens', 'create', '--app', 'acme-pm', '--name', 'old', '--json'], daemon)) as { token: { id: string } };
  await ok(['tokens', 'revoke', revoked.token.id, '--yes'], daemon);

  const receiver = await startReceiver();
  receiver.queue = [500];
  const added = JSON.parse(await ok(['webhooks', 'add', '--app', 'acme-pm', '--url', `${receiver.url}/${'deliveries-of-acme'.repeat(4)}`, '--event', 'channel_occupied', '--json'], daemon)) as {
    webhook: { id: string };
  };

  const agent = await connectOk(daemon, agentToken);
  const app = await connectOk(daemon, appToken);
  const send = async (agentId: string): Promise<string> => {
    app.send({ type: 'event', agent: agentId, thread: THREAD, name: EVENT_NAME, payload: { n: 1 } });
    return (await expectFrame(app, 'accepted')).eventId as string;
  };
  const delivered = await send('athena');
  agent.send({ type: 'reply', eventId: (await expectFrame(agent, 'event')).eventId, payload: { ok: true } });
  await expectFrame(app, 'reply');
  const failed = await send('athena');
  agent.send({ type: 'error', eventId: (await expectFrame(agent, 'event')).eventId, error: { message: 'cannot plan' } });
  await expectFrame(app, 'failed');
  const pending = await send('hermes');
  app.ws.close();
  agent.ws.close();
  return { daemon, receiver, webhookId: added.webhook.id, delivered, failed, pending };
}

/** Two channels occupied at once: one delivery (a body of two events), answered 500 then 200. */
async function occupyTwoChannels(seeded: Seeded): Promise<{ channels: string[]; delivery: WebhookDelivery }> {
  const { daemon, receiver, webhookId } = seeded;
  const { key } = JSON.parse(await ok(['apps', 'credentials', 'acme-pm', '--json'], daemon)) as { key: string };
  const socket = await openRawSocket(daemon, `/app/${key}?protocol=7&client=test&version=1`);
  const channels = [channelName('orders-europe-'), channelName('orders-america-')];
  for (const channel of channels) socket.send({ event: 'pusher:subscribe', data: { channel } });
  await receiver.waitForRequests(2);
  const delivery = await eventually(async () => {
    const list = JSON.parse(await ok(['webhooks', 'deliveries', webhookId, '--json'], daemon)) as { deliveries: WebhookDelivery[] };
    const d = list.deliveries[0];
    return d?.status === 'delivered' ? d : undefined;
  }, 10_000, 'the delivery delivered on its second attempt');
  return { channels, delivery };
}

describe('tables on a terminal', () => {
  it('fit 80 columns: ids whole, free text cut with an ellipsis, a row a line; --wide, COLUMNS and a pipe show more', async () => {
    const seeded = await seed();
    const { daemon } = seeded;
    await occupyTwoChannels(seeded);
    const tokens = JSON.parse(await ok(['tokens', 'list', '--app', 'acme-pm', '--json'], daemon)) as { tokens: { id: string }[] };
    const cases: { args: string[]; ids: string[]; long: string }[] = [
      { args: ['events', 'list'], ids: [seeded.delivered, seeded.failed, seeded.pending], long: THREAD },
      { args: ['tokens', 'list', '--app', 'acme-pm'], ids: tokens.tokens.map((t) => t.id), long: TOKEN_NAME },
      { args: ['webhooks', 'list', '--app', 'acme-pm'], ids: [seeded.webhookId], long: 'deliveries-of-acme'.repeat(4) },
    ];
    for (const { args, ids, long } of cases) {
      const what = args.join(' ');
      const [fitted, wideSession, columnsSession, piped] = await Promise.all([
        onTty(args, daemon, { columns: 80 }),
        onTty([...args, '--wide'], daemon, { columns: 80 }),
        // COLUMNS wins over the terminal's own width, as in gh.
        onTty(args, daemon, { columns: 80, env: { COLUMNS: '200' } }),
        relay(args, { daemon }),
      ]);
      const lines = shown(fitted);
      expect(lines, what).toHaveLength(ids.length + 1);
      for (const line of lines) expect(line.length, `${what}: ${line}`).toBeLessThanOrEqual(80);
      for (const id of ids) expect(lines.some((line) => line.startsWith(`${id}  `)), `${what}: ${id}`).toBe(true);
      expect(lines.join('\n'), what).toContain('…');
      expect(lines.join('\n'), what).not.toContain(long);

      const wide = shown(wideSession);
      expect(wide, what).toHaveLength(ids.length + 1);
      expect(wide.join('\n'), what).toContain(long);
      expect(wide.join('\n'), what).not.toContain('…');

      const columns = shown(columnsSession);
      expect(Math.max(...columns.map((l) => l.length)), what).toBeGreaterThan(80);
      for (const line of columns) expect(line.length, `${what}: ${line}`).toBeLessThanOrEqual(200);

      expect(piped.stdout, what).toContain(long);
      expect(piped.stdout, what).not.toContain('…');
    }
  }, SLOW);

  it('fit 160 columns: webhooks list and webhooks deliveries', async () => {
    const seeded = await seed();
    const { daemon, webhookId } = seeded;
    const { delivery } = await occupyTwoChannels(seeded);
    for (const args of [['webhooks', 'list', '--app', 'acme-pm'], ['webhooks', 'deliveries', webhookId]]) {
      const lines = shown(await onTty(args, daemon, { columns: 160 }));
      expect(lines, args.join(' ')).toHaveLength(args[1] === 'list' ? 2 : 1 + delivery.attempts.length);
      for (const line of lines) expect(line.length, `${args.join(' ')}: ${line}`).toBeLessThanOrEqual(160);
    }
  }, SLOW);

  it('colour status words (green, red, yellow) with one map, never across a line end; NO_COLOR changes nothing else', async () => {
    const seeded = await seed();
    const { daemon } = seeded;
    await occupyTwoChannels(seeded);
    const expected: [string[], string[]][] = [
      [['apps', 'list'], ['\u001b[32mactive', '\u001b[33minactive']],
      [['agents', 'list'], ['\u001b[32mactive']],
      [['tokens', 'list', '--app', 'acme-pm'], ['\u001b[32mactive', '\u001b[31mrevoked']],
      [['events', 'list'], ['\u001b[32mdelivered', '\u001b[31mfailed', '\u001b[33mpending']],
      [['events', 'show', seeded.failed], ['\u001b[31mfailed']],
      [['apps', 'show', 'acme-pm'], ['\u001b[32mactive', '\u001b[32mdelivered', '\u001b[31mfailed', '\u001b[33mpending']],
      [['webhooks', 'list', '--app', 'acme-pm'], ['\u001b[32mok']],
      [['webhooks', 'deliveries', seeded.webhookId], ['\u001b[31mfailed', '\u001b[32mdelivered']],
    ];
    // Times move on between two runs (and widths with them).
    const steady = (text: string): string => text.replace(/\d+/g, '0').replace(/ +/g, ' ');
    for (const [shownArgs, colours] of expected) {
      const what = shownArgs.join(' ');
      // Whole cells, so that both runs show the same text (`events show` has no table).
      const args = shownArgs[1] === 'show' && shownArgs[0] === 'events' ? shownArgs : [...shownArgs, '--wide'];
      const [colouredSession, plainSession] = await Promise.all([onTty(args, daemon), onTty(args, daemon, { env: { NO_COLOR: '1' } })]);
      const coloured = colouredSession.output();
      for (const colour of colours) expect(coloured, what).toContain(colour);
      for (const line of coloured.split(/\r?\n/)) {
        // Every colour opened on a line is closed on it.
        expect(line.replace(/\u001b\[(?:1|2|3[1-7])m[^\u001b]*\u001b\[(?:22|39|0)m/g, ''), `${what}: ${JSON.stringify(line)}`).not.toMatch(SGR);
      }
      const plain = plainSession.output();
      expect(plain, what).not.toMatch(SGR);
      expect(steady(plain), what).toBe(steady(coloured.replace(SGR, '')));
    }
  }, SLOW);
});

describe('one form for each kind of value', () => {
  it('durations read 9ms everywhere; the timeline tells steps apart on a terminal and is ISO when piped; a piped route is two fields', async () => {
    const { daemon, delivered, pending } = await seed();
    const event = (JSON.parse(await ok(['events', 'show', delivered, '--json'], daemon)) as { event: { latencyMs: number; timeline: { at: string; type: string }[] } }).event;
    expect(event.latencyMs).toBeLessThan(1000);
    const latency = `${event.latencyMs}ms`;

    const list = shown(await onTty(['events', 'list', '--wide'], daemon));
    expect(list.find((l) => l.startsWith(delivered))).toMatch(new RegExp(`  delivered  ${latency}$`));
    const app = shown(await onTty(['apps', 'show', 'acme-pm', '--wide'], daemon));
    expect(app.find((l) => l.startsWith(delivered))).toContain(`  delivered  ${latency}  `);
    const show = shown(await onTty(['events', 'show', delivered], daemon));
    expect(show).toContain(`Latency:  ${latency}`);

    // Each step of the timeline at the millisecond on a terminal, in ISO 8601 when piped.
    expect(event.timeline.length).toBeGreaterThan(1);
    const steps = show.slice(show.indexOf('Timeline') + 1).map((line) => /^ {2}(\S+) {2}(\S+)/.exec(line)?.slice(1));
    expect(steps).toEqual(event.timeline.map((t) => [t.at.slice(11, 23), t.type]));
    // (Two steps may fall in one millisecond: their times then read the same, and that is right.)
    const piped = (await ok(['events', 'show', delivered], daemon)).split('\n');
    const pipedSteps = piped.slice(piped.indexOf('Timeline') + 1).filter(Boolean);
    expect(pipedSteps.map((s) => s.trim().split('  ')[0])).toEqual(event.timeline.map((t) => t.at));

    // Piped, the route is two fields: app, then agent.
    const rows = (await ok(['events', 'list'], daemon)).trimEnd().split('\n').map((row) => row.split('\t'));
    for (const row of rows) expect(row).toHaveLength(8);
    expect(rows.find((row) => row[0] === delivered)?.slice(2, 4)).toEqual(['acme-pm', 'athena']);
    expect(rows.find((row) => row[0] === delivered)?.[7]).toBe(latency);
    expect(rows.find((row) => row[0] === pending)?.slice(2, 4)).toEqual(['acme-pm', 'hermes']);
    expect(rows.find((row) => row[0] === pending)?.[1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // On a terminal, an arrow.
    expect(list.find((l) => l.startsWith(pending))).toContain('acme-pm → hermes');
  }, SLOW);
});

describe('a create, piped', () => {
  it('prints the new id on stdout, a tab and the secret when it has one; -q still prints the secret alone', async () => {
    const daemon = await startDaemon();
    const app = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM'], { daemon });
    expect(app.exitCode, app.stderr).toBe(0);
    expect(app.stdout).toMatch(/^acme-pm\trlk_acme-pm_[0-9A-Za-z]+\n$/);
    const agent = await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena'], { daemon });
    expect(agent.stdout).toMatch(/^athena\trla_athena_[0-9A-Za-z]+\n$/);
    const token = await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'ci'], { daemon });
    expect(token.stdout).toMatch(/^tok_[0-9A-Za-z]+\trly_[0-9A-Za-z]{36}\n$/);
    const [tokenId] = token.stdout.split('\t');
    expect((await relay(['tokens', 'show', tokenId!, '--json'], { daemon })).json<{ token: { name: string } }>().token.name).toBe('ci');
    const webhook = await relay(['webhooks', 'add', '--app', 'acme-pm', '--url', 'https://example.com/hooks'], { daemon });
    expect(webhook.exitCode, webhook.stderr).toBe(0);
    expect(webhook.stdout).toMatch(/^wh_[0-9A-Za-z]{16}\n$/);
    const listed = (await relay(['webhooks', 'list', '--app', 'acme-pm', '--json'], { daemon })).json<{ webhooks: { id: string }[] }>();
    expect(listed.webhooks.map((w) => w.id)).toEqual([webhook.stdout.trim()]);
    const org = await relay(['orgs', 'create', '--id', 'acme', '--name', 'Acme'], { daemon });
    expect(org.stdout).toBe('acme\n');

    const quiet = await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'ci-2', '-q'], { daemon });
    expect(quiet.stdout).toMatch(/^rly_[0-9A-Za-z]{36}\n$/);
    const quietApp = await relay(['apps', 'register', '--id', 'flow', '--name', 'Flow', '-q'], { daemon });
    expect(quietApp.stdout).toMatch(/^rlk_flow_[0-9A-Za-z]+\n$/);
  });
});

describe('webhooks deliveries', () => {
  it("shows each attempt's own outcome (a 500, then a 200) and the channels of the batched events", async () => {
    const seeded = await seed();
    const { daemon, webhookId } = seeded;
    const { channels, delivery } = await occupyTwoChannels(seeded);
    expect(delivery.events).toEqual(['channel_occupied', 'channel_occupied']);
    expect(delivery.channels).toEqual(channels);
    expect(delivery.attempts.map((a) => [a.statusCode, a.error])).toEqual([
      [500, 'answered 500'],
      [200, null],
    ]);

    const rows = (await ok(['webhooks', 'deliveries', webhookId], daemon)).trimEnd().split('\n').map((row) => row.split('\t'));
    // delivery, attempt, at, result, code, duration, events, channels, error
    expect(rows.map((row) => [row[0], row[1], row[3], row[4], row[7], row[8]])).toEqual([
      [delivery.id, '1', 'failed', '500', channels.join(','), 'answered 500'],
      [delivery.id, '2', 'delivered', '200', channels.join(','), '-'],
    ]);
    expect(rows.map((row) => row[2])).toEqual(delivery.attempts.map((a) => a.at));
    for (const row of rows) expect(row[5]).toMatch(/^\d+ms$|^\d+(\.\d)?s$/);

    const tty = shown(await onTty(['webhooks', 'deliveries', webhookId, '--wide'], daemon));
    expect(tty[0]).toMatch(/^DELIVERY +ATTEMPT +AT +RESULT +CODE +DURATION +EVENTS +CHANNELS +ERROR$/);
    expect(tty[1]).toMatch(new RegExp(`^${delivery.id}  1 +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  failed +500 .* ${channels.join(',')}  answered 500$`));
    expect(tty[2]).toMatch(new RegExp(`^${delivery.id}  2 +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  delivered +200 .* ${channels.join(',')}  -$`));
  }, SLOW);
});
