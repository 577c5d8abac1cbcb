// A pusher-js subscriber: a public channel and a presence channel, authorized by a local
// auth function (in a browser that is your app's /pusher/auth endpoint, built with the same SDK).
// Run: eval "$(relay apps credentials acme-pm --env)"; node examples/subscriber.mjs   (RELAY_URL if relayd is not at http://127.0.0.1:7420)
import PusherJS from 'pusher-js';
import Pusher from 'pusher';
import { fail, need, relayUrl } from './shared.mjs';

const relayd = relayUrl();
const key = need('PUSHER_KEY');
const server = new Pusher({ appId: need('PUSHER_APP_ID'), key, secret: need('PUSHER_SECRET'), host: relayd.host, port: String(relayd.port), useTLS: relayd.tls });

const client = new PusherJS(key, {
  wsHost: relayd.host,
  wsPort: relayd.port,
  wssPort: relayd.port,
  forceTLS: relayd.tls,
  enabledTransports: relayd.tls ? ['wss'] : ['ws'],
  cluster: '',
  channelAuthorization: {
    customHandler: ({ socketId, channelName }, callback) =>
      callback(null, server.authorizeChannel(socketId, channelName, { user_id: 'ada', user_info: { name: 'Ada' } })),
  },
});

client.subscribe('orders').bind('order.shipped', (data) => console.log('orders: order.shipped', data));
const room = client.subscribe('presence-room');
room.bind('pusher:subscription_succeeded', (members) => console.log(`presence-room: ${members.count} member(s) here`));
room.bind('pusher:member_added', (member) => console.log('presence-room: joined', member.id));
room.bind('pusher:member_removed', (member) => console.log('presence-room: left', member.id));
client.connection.bind('connected', () => console.log(`connected as ${client.connection.socket_id}; Ctrl-C to stop`));

// pusher-js retries for ever without a word: say so when relayd cannot be reached or refuses the key.
client.connection.bind('unavailable', () =>
  console.error(`cannot reach relayd at ${relayd.url}; still trying (is relayd running? set RELAY_URL if it listens elsewhere)`),
);
client.connection.bind('error', (event) => {
  const error = event?.error?.data ?? event?.data ?? event?.error;
  // A refused key or a deactivated app (Pusher close codes 4000-4099) will not mend by retrying.
  if (error?.code >= 4000 && error.code < 4100) fail(new Error(`relayd refused the connection (${error.code}): ${error.message}`));
});
