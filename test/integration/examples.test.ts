import { execa, type ResultPromise } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { ROOT, cleanEnv, deadUrl, startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';

/**
 * The four examples run as a user runs them: `node examples/X.mjs` with the variables the
 * README sets, against the real relayd on a port of its own (never the default 7420).
 */

type Child = ResultPromise<{ reject: false; timeout: number; extendEnv: false; cwd: string; env: Record<string, string> }>;

function example(name: string, env: Record<string, string>): Child {
  return execa(process.execPath, [join(ROOT, 'examples', name)], { cwd: ROOT, env: { ...cleanEnv(), ...env }, extendEnv: false, reject: false, timeout: 30_000 });
}

/** Runs an example after `eval "$(relay apps credentials acme-pm --env)"`, as the README does. */
function exampleWithCredentials(name: string, daemon: Daemon): Child {
  const script = `eval "$(node bin/relay.js apps credentials acme-pm --env)" && exec node examples/${name}`;
  return execa('bash', ['-c', script], {
    cwd: ROOT,
    env: { ...cleanEnv(), RELAY_URL: daemon.url, RELAY_DATA_DIR: daemon.dataDir, RELAY_CONFIG_DIR: tempDir('relay-config-') },
    extendEnv: false,
    reject: false,
    timeout: 30_000,
  });
}

/** Resolves once the child has printed `text` on stdout; rejects if it exits first. */
function printed(child: Child, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(text)) resolve();
    });
    void child.then((result) => reject(new Error(`exited with ${result.exitCode} before printing ${JSON.stringify(text)}:\n${String(result.stdout)}\n${String(result.stderr)}`)));
  });
}

/** stderr as lines, for "one line" checks. */
const lines = (stderr: unknown): string[] => String(stderr).trim().split('\n');

async function setup() {
  const daemon = await startDaemon();
  expect(new URL(daemon.url).port).not.toBe('7420');
  const appToken = (await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon })).stdout.trim();
  const agentToken = (await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '--timeout', '10s', '-q'], { daemon })).stdout.trim();
  return { daemon, appToken, agentToken };
}

describe('the examples', () => {
  it('relay apps credentials --env prints the three variables the channel examples need, as exports eval can take', async () => {
    const { daemon } = await setup();
    const json = (await relay(['apps', 'credentials', 'acme-pm', '--json'], { daemon })).json<{ appId: string; key: string; secret: string }>();
    const env = await relay(['apps', 'credentials', 'acme-pm', '--env'], { daemon });
    expect(env.exitCode, env.stderr).toBe(0);
    expect(env.stdout).toBe(`export PUSHER_APP_ID='acme-pm'\nexport PUSHER_KEY='${json.key}'\nexport PUSHER_SECRET='${json.secret}'\n`);
  });

  it('on a port of its own, subscriber.mjs gets what publisher.mjs sends, both set up by eval "$(relay apps credentials acme-pm --env)"', async () => {
    const { daemon } = await setup();
    const subscriber = exampleWithCredentials('subscriber.mjs', daemon);
    // Subscribed to `orders` before `presence-room` (one socket, in order): this line means both are.
    await printed(subscriber, 'presence-room: 1 member(s) here');
    const received = printed(subscriber, "orders: order.shipped { id: 'ord_1', carrier: 'UPS' }");

    const publisher = await exampleWithCredentials('publisher.mjs', daemon);
    expect(publisher.exitCode, String(publisher.stderr)).toBe(0);
    expect(String(publisher.stdout)).toContain('published; occupied presence channels: {"channels":{"presence-room":{"user_count":1}}}');
    await received;
    subscriber.kill('SIGTERM');
    await subscriber;
  });

  it('app.mjs gets the reply of agent.mjs; agent.mjs exits 1 with one line when a rotation with grace 0 ends its token', async () => {
    const { daemon, appToken, agentToken } = await setup();
    const agent = example('agent.mjs', { RELAY_URL: daemon.url, RELAY_AGENT_TOKEN: agentToken });
    await printed(agent, 'waiting for events');

    const app = await example('app.mjs', { RELAY_URL: daemon.url, RELAY_APP_TOKEN: appToken });
    expect(app.exitCode, String(app.stderr)).toBe(0);
    expect(String(app.stdout)).toContain(`reply: { summary: 'Planned "Ship the release" in 3 steps', agent: 'athena' }`);

    expect((await relay(['agents', 'rotate', 'athena', '--grace', '0s', '-q'], { daemon })).exitCode).toBe(0);
    const ended = await agent;
    expect(ended.exitCode).toBe(1);
    expect(lines(ended.stderr)).toEqual([expect.stringMatching(/^error: relayd closed the connection \(4001\): the agent token of athena expired/)]);
    expect(String(ended.stdout)).not.toContain('reconnecting');
  });

  it('agent.mjs exits 1 with one line when its agent is deactivated, and when it is refused as deactivated', async () => {
    const { daemon, agentToken } = await setup();
    const agent = example('agent.mjs', { RELAY_URL: daemon.url, RELAY_AGENT_TOKEN: agentToken });
    await printed(agent, 'waiting for events');
    expect((await relay(['agents', 'deactivate', 'athena', '--yes'], { daemon })).exitCode).toBe(0);
    const ended = await agent;
    expect(ended.exitCode).toBe(1);
    expect(lines(ended.stderr)).toEqual(['error: relayd closed the connection (4003): agent athena was deactivated; `relay agents activate athena` lets it in again']);

    const refused = await example('agent.mjs', { RELAY_URL: daemon.url, RELAY_AGENT_TOKEN: agentToken });
    expect(refused.exitCode).toBe(1);
    expect(lines(refused.stderr)).toEqual([expect.stringMatching(/^error: relayd refused the agent token of athena \(403: agent "athena" is inactive\)/)]);
  });

  it('a wrong-role token: app.mjs exits 1 with one line saying so', async () => {
    const { daemon, agentToken } = await setup();
    const app = await example('app.mjs', { RELAY_URL: daemon.url, RELAY_APP_TOKEN: agentToken });
    expect(app.exitCode).toBe(1);
    expect(lines(app.stderr)).toEqual([expect.stringContaining('error: RelayApp needs an app token (rlk_...), but this is an agent token (rla_...)')]);
    expect(String(app.stderr)).not.toContain(agentToken);
  });

  it('against a port nobody listens on, app.mjs and publisher.mjs exit 1 with one line', async () => {
    const url = await deadUrl();
    const [app, publisher] = await Promise.all([
      example('app.mjs', { RELAY_URL: url, RELAY_APP_TOKEN: 'rlk_acme-pm_0123456789abcdefghijABCDEFGHIJ0123456789' }),
      example('publisher.mjs', { RELAY_URL: url, PUSHER_APP_ID: 'acme-pm', PUSHER_KEY: 'k', PUSHER_SECRET: 's' }),
    ]);
    expect(app.exitCode).toBe(1);
    expect(lines(app.stderr)).toEqual([
      `error: cannot reach relayd at ${url}: connection refused (ECONNREFUSED); gave up after 10 s (connectTimeoutMs); is relayd running at RELAY_URL?`,
    ]);
    expect(publisher.exitCode).toBe(1);
    expect(lines(publisher.stderr)).toEqual([`error: cannot reach relayd at ${url}: connection refused (ECONNREFUSED); is relayd running at RELAY_URL?`]);
  });

  it('a missing variable: each example says which one and where to get it, exit 2', async () => {
    const cases: [string, Record<string, string>, string][] = [
      ['app.mjs', {}, 'set RELAY_APP_TOKEN: the app token `relay apps register'],
      ['agent.mjs', {}, 'set RELAY_AGENT_TOKEN: the agent token: `export RELAY_AGENT_TOKEN=$(relay agents register'],
      ['publisher.mjs', {}, `set PUSHER_APP_ID: the app's channel credentials: eval "$(relay apps credentials acme-pm --env)"`],
      ['subscriber.mjs', { PUSHER_APP_ID: 'acme-pm', PUSHER_KEY: 'k' }, `set PUSHER_SECRET: the app's channel credentials: eval "$(relay apps credentials acme-pm --env)"`],
      ['publisher.mjs', { RELAY_URL: '127.0.0.1:7431' }, `set RELAY_URL to relayd's address with its scheme, such as http://127.0.0.1:7420 (got "127.0.0.1:7431")`],
    ];
    const results = await Promise.all(cases.map(([name, env]) => example(name, env)));
    results.forEach((result, i) => {
      const [name, , message] = cases[i]!;
      expect(result.exitCode, name).toBe(2);
      expect(lines(result.stderr), name).toEqual([expect.stringContaining(message)]);
    });
  });
});
