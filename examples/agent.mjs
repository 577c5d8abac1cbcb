// An agent: answers every event sent to it.
// Run: RELAY_AGENT_TOKEN=rla_... node examples/agent.mjs   (RELAY_URL if relayd is not at http://127.0.0.1:7420)
import { RelayAgent } from 'relay';
import { fail, need, relayUrl } from './shared.mjs';

const agent = new RelayAgent({
  url: relayUrl().url,
  token: need('RELAY_AGENT_TOKEN'),
  // Called once per event; events of one thread come one at a time, in order.
  // What it returns is the reply; what it throws goes back as the event's failure.
  handler: async (event) => {
    console.log(`${event.appId} asks on thread ${event.thread} (attempt ${event.attempt}):`, event.payload);
    if (!event.payload?.title) throw new Error('a task needs a title');
    return { summary: `Planned "${event.payload.title}" in 3 steps`, agent: 'athena' };
  },
});

agent.on('connected', (id) => console.log(`connected as ${id}; waiting for events (Ctrl-C to stop)`));
agent.on('disconnected', (code, reconnecting) => {
  if (reconnecting) console.log(`disconnected (${code}); reconnecting...`);
});
process.on('SIGINT', () => void agent.close());

// Resolves when close() has closed it (Ctrl-C); rejects with a RelayConnectionError when it
// cannot go on: a refused, expired or wrong token, a deactivated agent, relayd unreachable.
await agent.closed.catch(fail);
