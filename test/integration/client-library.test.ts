import { describe, expect, it } from 'vitest';
import { RelayAgent, RelayApp, RelayFailure, type AgentEvent } from '../../src/client/index.js';
import { relay } from '../helpers/cli.js';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { eventually } from '../helpers/ws.js';

async function setup(dataDir?: string) {
  const daemon = await startDaemon(dataDir ? { dataDir } : {});
  const appToken = (await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon })).stdout.trim();
  const agentToken = (await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '--timeout', '5s', '-q'], { daemon })).stdout.trim();
  return { daemon, appToken, agentToken };
}

const fast = { initialDelayMs: 20, maxDelayMs: 200 };

describe('the client library', () => {
  it('RelayApp.send resolves with the reply of a RelayAgent handler, and rejects with its failure', async () => {
    const { daemon, appToken, agentToken } = await setup();
    const seen: AgentEvent[] = [];
    const agent = new RelayAgent({
      url: daemon.url,
      token: agentToken,
      handler: async (event) => {
        seen.push(event);
        if ((event.payload as { fail?: boolean }).fail) throw new Error('cannot do that');
        return { echo: event.payload, thread: event.thread };
      },
    });
    const app = new RelayApp({ url: daemon.url, token: appToken });
    await Promise.all([agent.connect(), app.connect()]);

    expect(await app.send('athena', 'task-1', { title: 'hello' }, { name: 'task.created' })).toEqual({ echo: { title: 'hello' }, thread: 'task-1' });
    expect(seen[0]).toMatchObject({ appId: 'acme-pm', thread: 'task-1', name: 'task.created', attempt: 1 });

    const failure = await app.send('athena', 'task-2', { fail: true }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(RelayFailure);
    expect(failure).toMatchObject({ code: 'agent_error', message: 'cannot do that' });
    const rejected = await app.send('ghost', 't', {}).catch((err: unknown) => err);
    expect(rejected).toMatchObject({ code: 'agent_not_found' });

    // Every outcome was acknowledged: nothing is left owed to the app.
    await eventually(async () => {
      const list = await relay(['events', 'list', '--json'], { daemon });
      const events = list.json<{ events: { id: string }[] }>().events;
      const shown = await Promise.all(events.map(async (e) => (await relay(['events', 'show', e.id, '--json'], { daemon })).json<{ event: { timeline: { type: string }[]; status: string } }>().event));
      return shown.filter((e) => e.status !== 'rejected').every((e) => e.timeline.some((t) => t.type === 'acked'));
    }, 10_000, 'every outcome acked');
    await Promise.all([app.close(), agent.close()]);
  });

  it('reconnects by itself after its connection is closed, and after relayd restarts', async () => {
    const dataDir = tempDir('relayd-client-');
    const { daemon, appToken, agentToken } = await setup(dataDir);
    const agent = new RelayAgent({ url: daemon.url, token: agentToken, reconnect: fast, handler: (event) => event.payload });
    const app = new RelayApp({ url: daemon.url, token: appToken, reconnect: fast });
    await Promise.all([agent.connect(), app.connect()]);
    expect(await app.send('athena', 't', 1)).toBe(1);

    const before = app.connectionId;
    expect((await relay(['connections', 'close', before as string, '--yes'], { daemon })).exitCode).toBe(0);
    await eventually(async () => app.connected && app.connectionId !== before, 10_000, 'the app to reconnect');
    expect(await app.send('athena', 't', 2)).toBe(2);

    // Sent while relayd is down: the event goes out once it is back, on the same address.
    const port = new URL(daemon.url).port;
    await daemon.kill();
    const pending = app.send('athena', 't', 3);
    await startDaemon({ dataDir, args: ['--port', port] });
    expect(await pending).toBe(3);
    await Promise.all([app.close(), agent.close()]);
  });

  it('RelayApp rejects at once when its token is refused', async () => {
    const { daemon } = await setup();
    const app = new RelayApp({ url: daemon.url, token: 'rlk_acme-pm_notavalidtokenatallnotvalid00' });
    await expect(app.connect()).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(app.send('athena', 't', 1)).rejects.toMatchObject({ code: 'unauthorized' });
  });
});
