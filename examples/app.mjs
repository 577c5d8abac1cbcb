// An app: sends an event to the agent "athena" and prints its reply. Run: RELAY_APP_TOKEN=rlk_... node examples/app.mjs
import { RelayApp, RelayFailure } from 'relay';

const app = new RelayApp({
  url: process.env.RELAY_URL ?? 'http://127.0.0.1:7420',
  token: process.env.RELAY_APP_TOKEN,
});
await app.ready(); // rejects if the token is refused

try {
  // Resolves with the agent's reply once relayd has stored the event, delivered it and brought the reply back.
  const reply = await app.send('athena', 'task-42', { title: 'Ship the release' }, { name: 'task.created' });
  console.log('reply:', reply);
} catch (err) {
  // The agent's error, a timeout, or a rejection (agent unknown or not allowed): err.code says which.
  if (err instanceof RelayFailure) console.error(`failed (${err.code}): ${err.message}`);
  else throw err;
} finally {
  await app.close();
}
