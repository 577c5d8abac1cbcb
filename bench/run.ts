import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchFanout } from './fanout.js';
import { benchHandshakes } from './handshake.js';
import { benchPublish } from './publish.js';
import { benchRoundTrip } from './roundtrip.js';
import { spawnRelayd } from './lib/relayd-process.js';
import { benchStartup } from './startup.js';
import { benchWebhooks } from './webhooks.js';

/** `npm run bench`: every figure beside a baseline measured in the same run. */
const dataDir = mkdtempSync(join(tmpdir(), 'relay-bench-'));
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('RELAY_')));
const daemon = await spawnRelayd(dataDir, [], env);
try {
  process.stdout.write(`relay benchmarks — node ${process.version}, relayd at ${daemon.url}\n`);
  await benchStartup(daemon);
  await benchHandshakes(daemon);
  await benchPublish(daemon);
  await benchRoundTrip(daemon);
  await benchFanout(daemon);
  // Last: it leaves deliveries being retried behind it.
  await benchWebhooks(daemon);
} finally {
  await daemon.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
