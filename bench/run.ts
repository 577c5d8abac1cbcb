import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchAnalytics } from './analytics.js';
import { benchCluster } from './cluster.js';
import { benchFanout } from './fanout.js';
import { benchFunctions } from './functions.js';
import { benchHandshakes } from './handshake.js';
import { benchPublish } from './publish.js';
import { benchRoundTrip } from './roundtrip.js';
import { benchSchemas } from './schemas.js';
import { spawnRelayd } from './lib/relayd-process.js';
import { benchStartup } from './startup.js';
import { benchWebhooks } from './webhooks.js';

/** In the order they run; the webhooks one last, as it leaves deliveries being retried behind it. */
const SECTIONS = {
  startup: benchStartup,
  handshakes: benchHandshakes,
  publish: benchPublish,
  roundtrip: benchRoundTrip,
  schemas: benchSchemas,
  functions: benchFunctions,
  analytics: benchAnalytics,
  fanout: benchFanout,
  cluster: benchCluster,
  webhooks: benchWebhooks,
};
type Section = keyof typeof SECTIONS;

/** `npm run bench [-- SECTION...]`: every figure beside a baseline measured in the same run. */
const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(name in SECTIONS));
if (unknown.length > 0) {
  process.stderr.write(`unknown bench section ${unknown.map((n) => `"${n}"`).join(', ')}; the sections are ${Object.keys(SECTIONS).join(', ')}\n`);
  process.exit(2);
}
const sections = (Object.keys(SECTIONS) as Section[]).filter((name) => asked.length === 0 || asked.includes(name));
const dataDir = mkdtempSync(join(tmpdir(), 'relay-bench-'));
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('RELAY_')));
// The webhooks section's endpoint listens on 127.0.0.1, which relayd calls only when allowed to.
const daemon = await spawnRelayd(dataDir, ['--webhook-allow-private'], env);
try {
  process.stdout.write(`relay benchmarks — node ${process.version}, relayd at ${daemon.url}\n`);
  for (const name of sections) await SECTIONS[name](daemon);
} finally {
  await daemon.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
