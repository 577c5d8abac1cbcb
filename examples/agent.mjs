// An agent: answers every event sent to it. Run: RELAY_AGENT_TOKEN=rla_... node examples/agent.mjs
import { RelayAgent } from 'relay';

const agent = new RelayAgent({
  url: process.env.RELAY_URL ?? 'http://127.0.0.1:7420',
  token: process.env.RELAY_AGENT_TOKEN,
  // Called once per event; events of one thread come one at a time, in order.
  // What it returns is the reply; what it throws goes back as the event's failure.
  handler: async (event) => {
    console.log(`${event.appId} asks on thread ${event.thread} (attempt ${event.attempt}):`, event.payload);
    if (!event.payload?.title) throw new Error('a task needs a title');
    return { summary: `Planned "${event.payload.title}" in 3 steps`, agent: 'athena' };
  },
});

agent.on('connected', (id) => console.log(`connected as ${id}; waiting for events (Ctrl-C to stop)`));
agent.on('disconnected', (code) => console.log(`disconnected (${code}); reconnecting...`));
await agent.ready(); // rejects if the token is refused
process.on('SIGINT', () => agent.close().then(() => process.exit(0)));
