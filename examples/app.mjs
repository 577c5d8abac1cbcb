// An app: sends an event to the agent "athena" and prints its reply.
// Run: RELAY_APP_TOKEN=rlk_... node examples/app.mjs   (RELAY_URL if relayd is not at http://127.0.0.1:7420)
import { RelayApp } from 'relay';
import { fail, need, relayUrl } from './shared.mjs';

const app = new RelayApp({ url: relayUrl().url, token: need('RELAY_APP_TOKEN') });

try {
  // Rejects with a RelayConnectionError (err.code: unreachable, unauthorized, wrong_token, ...)
  // when it cannot connect within connectTimeoutMs (10 s by default).
  await app.connect();
  console.log('sent to athena; waiting for its reply (the event waits while athena is offline)');
  // Resolves with the agent's reply once relayd has stored the event, delivered it and brought the reply back.
  const reply = await app.send('athena', 'task-42', { title: 'Ship the release' }, { name: 'task.created' });
  console.log('reply:', reply);
  await app.close();
} catch (err) {
  // A RelayFailure: the agent's error, a timeout, or a rejection (agent unknown or not allowed); err.code says which.
  fail(err);
}
