import { createRequire } from 'node:module';
import WebSocket from 'ws';
import type { RelaydProcess } from './lib/relayd-process.js';
import { nodeScript } from './lib/baseline.js';
import { fmt, heading, row } from './lib/report.js';

const require = createRequire(import.meta.url);
const CONCURRENT = 200;
const ROUNDS = 5;

/** Opens `CONCURRENT` sockets at once, waits for the first frame (or open) of each, closes them; handshakes/s over the rounds. */
async function handshakeRate(url: string, headers: Record<string, string>, waitForFrame: boolean): Promise<number> {
  let total = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint();
    const sockets = await Promise.all(
      Array.from(
        { length: CONCURRENT },
        () =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(url, { headers });
            ws.once(waitForFrame ? 'message' : 'open', () => resolve(ws));
            ws.once('error', reject);
            ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused: ${res.statusCode}`)));
          }),
      ),
    );
    total += Number(process.hrtime.bigint() - started) / 1e6;
    await Promise.all(sockets.map((ws) => new Promise((r) => (ws.once('close', r), ws.close()))));
  }
  return (CONCURRENT * ROUNDS) / (total / 1000);
}

/** A bare `ws` server in its own process, as relayd runs in its own. */
async function startBareWs(): Promise<{ url: string; stop(): void }> {
  const script = `
    const { WebSocketServer } = require(${JSON.stringify(require.resolve('ws'))});
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws) => ws.send('{"type":"welcome"}'));
    wss.on('listening', () => console.log(wss.address().port));
  `;
  const { line: port, proc } = await nodeScript(script);
  return { url: `ws://127.0.0.1:${port}`, stop: () => proc.kill() };
}

export async function benchHandshakes(daemon: RelaydProcess): Promise<void> {
  heading(`Handshakes: ${CONCURRENT} concurrent connections with one app token, ${ROUNDS} rounds`);
  const registered = await daemon.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/apps', { id: 'bench-handshake', name: 'Bench' });
  const before = await daemon.admin<{ counters: { bcryptCompares: number } }>('GET', '/admin/v1/status');

  const bare = await startBareWs();
  const baseline = await handshakeRate(bare.url, {}, true);
  bare.stop();
  row('bare ws server (baseline)', `${fmt(baseline, 0)} /s`);

  const rate = await handshakeRate(`${daemon.wsUrl}/v1/connect`, { authorization: `Bearer ${registered.body.secret}` }, true);
  const after = await daemon.admin<{ counters: { bcryptCompares: number } }>('GET', '/admin/v1/status');
  row('relayd /v1/connect', `${fmt(rate, 0)} /s`, `${fmt((rate / baseline) * 100, 0)} % of baseline`);
  row('bcrypt comparisons for all of them', String(after.body.counters.bcryptCompares - before.body.counters.bcryptCompares), '(goal: 1)');
}
