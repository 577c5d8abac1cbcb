import { describe, expect, it } from 'vitest';
import { relay, relayRunning } from '../helpers/cli.js';
import { startCluster } from '../helpers/cluster.js';
import type { Daemon } from '../helpers/daemon.js';
import { servicesFor } from '../helpers/services.js';
import { expectFrame, sendEvent, showEvent, type Frame } from '../helpers/agent-relay.js';
import { connectOk, type OpenSocket } from '../helpers/ws.js';

/**
 * The agent relay across real relayd nodes on one PostgreSQL database and one Redis: apps on
 * one node, agents on another, and a node killed with SIGKILL while it holds an agent's work.
 */
const ready = await servicesFor(['postgres', 'redis'], 'the cluster agent relay tests (several relayd on PostgreSQL + Redis)');


/** How long a killed node's leases take to lapse (15 s) and be taken at the next renewal (5 s), with room. */
const TAKEOVER_MS = 30_000;

async function credentials(node: Daemon): Promise<{ appToken: string; agentToken: string }> {
  const app = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon: node });
  const agent = await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '--timeout', '2m', '-q'], { daemon: node });
  expect(app.exitCode, app.stderr).toBe(0);
  expect(agent.exitCode, agent.stderr).toBe(0);
  return { appToken: app.stdout.trim(), agentToken: agent.stdout.trim() };
}




describe.skipIf(!ready)('the agent relay across nodes', () => {
  it('takes an event from an app on node A to its agent on node B, and the reply back to A', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    const { appToken, agentToken } = await credentials(a);
    const agent = await connectOk(b, agentToken);
    const app = await connectOk(a, appToken);
    const eventId = await sendEvent(app, { ref: 'q1', agent: 'athena', thread: 'order-1', name: 'question', payload: { text: 'where is my order?' } });
    const event = await expectFrame(agent, 'event');
    expect(event).toMatchObject({ eventId, appId: 'acme-pm', thread: 'order-1', name: 'question', attempt: 1, payload: { text: 'where is my order?' } });
    agent.send({ type: 'reply', eventId, payload: { text: 'on its way' } });
    expect(await expectFrame(app, 'reply')).toMatchObject({ eventId, ref: 'q1', agent: 'athena', thread: 'order-1', payload: { text: 'on its way' } });
    app.send({ type: 'ack', eventId });
    // Either node shows it delivered, acked.
    await expect.poll(async () => (await showEvent(b, eventId)).timeline.map((t) => t.type), { timeout: 5000 }).toContain('acked');
    expect((await showEvent(b, eventId)).status).toBe('delivered');
  });

  it('delivers ten events of one thread, sent through A and B in turn, strictly in order and one at a time', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    const { appToken, agentToken } = await credentials(a);
    const agent = await connectOk(b, agentToken);
    const apps = [await connectOk(a, appToken), await connectOk(b, appToken)] as const;
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) sent.push(await sendEvent(apps[i % 2] as OpenSocket, { agent: 'athena', thread: 'one', payload: i }));
    const received: number[] = [];
    for (let i = 0; i < 10; i++) {
      const event = await expectFrame(agent, 'event');
      received.push(event.payload as number);
      expect(event.eventId).toBe(sent[i]);
      // Nothing else of the thread comes while this one is with the agent: a ping behind it is answered first.
      agent.send({ type: 'ping' });
      expect(await agent.nextFrame()).toEqual({ type: 'pong' });
      agent.send({ type: 'reply', eventId: event.eventId, payload: `done ${i}` });
    }
    expect(received).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Each reply goes to the connection that sent its event.
    const replies = await Promise.all(
      apps.map(async (app, n) => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await expectFrame(app, 'reply')).eventId as string);
        return ids.sort().join() === sent.filter((_, i) => i % 2 === n).sort().join();
      }),
    );
    expect(replies).toEqual([true, true]);
  });

  it('shows on node A, in relay events tail, an event sent and replied through node B, every change in order', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    const { appToken, agentToken } = await credentials(a);
    const tail = relayRunning(['events', 'tail', '--json', '--agent', 'athena'], { daemon: a });
    // tail says on stderr when the stream is open; an event before that would not be seen.
    await tail.waitFor('stderr', 'Watching events');
    const agent = await connectOk(b, agentToken);
    const app = await connectOk(b, appToken);
    const eventId = await sendEvent(app, { agent: 'athena', thread: 'watched', payload: 1 });
    const frame = await expectFrame(agent, 'event');
    agent.send({ type: 'reply', eventId: frame.eventId, payload: 'ok' });
    await expectFrame(app, 'reply');
    app.send({ type: 'ack', eventId });
    await tail.waitFor('stdout', '"acked"');
    const lines = tail
      .stdout()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; event: { id: string; status: string } });
    expect(lines.filter((l) => l.event.id === eventId).map((l) => l.type)).toEqual(['accepted', 'dispatched', 'replied', 'sent', 'acked']);
    expect(lines.at(-1)?.event.status).toBe('delivered');
    expect((await tail.interrupt()).exitCode).toBe(0);
  });

  it('loses nothing accepted when the node holding the agent\'s work is killed: the in-flight event comes again (attempt 2) on the other node', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    const { appToken, agentToken } = await credentials(b);
    const agent = await connectOk(a, agentToken);
    const appOnA = await connectOk(a, appToken);
    const appOnB = await connectOk(b, appToken);
    const inflight = await sendEvent(appOnB, { agent: 'athena', thread: 'busy', payload: 'first' });
    expect(await expectFrame(agent, 'event')).toMatchObject({ eventId: inflight, attempt: 1 });
    // Under load: more accepted through both nodes while A holds the agent's queue.
    const accepted = new Set<string>([inflight]);
    for (let i = 0; i < 20; i++) accepted.add(await sendEvent(i % 2 === 0 ? appOnA : appOnB, { agent: 'athena', thread: `t${i % 4}`, payload: i }));
    await a.kill();
    await Promise.all([agent.closed, appOnA.closed]);

    const again = await connectOk(b, agentToken);
    const app = await connectOk(b, appToken);
    const received = new Map<string, number>();
    const agentDone = (async () => {
      while (received.size < accepted.size) {
        const frame = await expectFrame(again, 'event', TAKEOVER_MS);
        received.set(frame.eventId as string, frame.attempt as number);
        again.send({ type: 'reply', eventId: frame.eventId, payload: 'ok' });
      }
    })();
    // Replies to the events sent through B come to B's first connection or, once it is gone, to the next one.
    const replies = new Set<string>();
    const readReplies = async (socket: OpenSocket): Promise<void> => {
      while (replies.size < accepted.size) {
        const frame = await expectFrame(socket, 'reply', TAKEOVER_MS);
        replies.add(frame.eventId as string);
        socket.send({ type: 'ack', eventId: frame.eventId });
      }
    };
    await agentDone;
    appOnB.ws.close();
    await appOnB.closed;
    await readReplies(app);
    expect([...received.keys()].sort()).toEqual([...accepted].sort());
    expect(received.get(inflight)).toBe(2);
    expect([...replies].sort()).toEqual([...accepted].sort());
    expect((await showEvent(b, inflight)).attempt).toBe(2);
  }, 60_000);
});
