// A backend publishing with the `pusher` server SDK, unchanged, against relayd's signed REST API.
// Run: PUSHER_KEY=... PUSHER_SECRET=... node examples/publisher.mjs
import Pusher from 'pusher';

const { PUSHER_APP_ID = 'acme-pm', PUSHER_KEY, PUSHER_SECRET } = process.env;
const pusher = new Pusher({ appId: PUSHER_APP_ID, key: PUSHER_KEY, secret: PUSHER_SECRET, host: '127.0.0.1', port: '7420', useTLS: false });

await pusher.trigger('orders', 'order.shipped', { id: 'ord_1', carrier: 'UPS' });
const answer = await pusher.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } });
console.log('published; occupied presence channels:', JSON.stringify(await answer.json()));
