// A pusher-js subscriber: a public channel and a presence channel, authorized by a local
// auth function (in a browser that is your app's /pusher/auth endpoint, built with the same SDK).
// Run: PUSHER_KEY=... PUSHER_SECRET=... node examples/subscriber.mjs
import PusherJS from 'pusher-js';
import Pusher from 'pusher';

const { PUSHER_APP_ID = 'acme-pm', PUSHER_KEY, PUSHER_SECRET } = process.env;
const server = new Pusher({ appId: PUSHER_APP_ID, key: PUSHER_KEY, secret: PUSHER_SECRET, host: '127.0.0.1', port: '7420', useTLS: false });

const client = new PusherJS(PUSHER_KEY, {
  wsHost: '127.0.0.1',
  wsPort: 7420,
  forceTLS: false,
  enabledTransports: ['ws'],
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
