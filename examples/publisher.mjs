// A backend publishing with the `pusher` server SDK, unchanged, against relayd's signed REST API.
// Run: eval "$(relay apps credentials acme-pm --env)"; node examples/publisher.mjs   (RELAY_URL if relayd is not at http://127.0.0.1:7420)
import Pusher from 'pusher';
import { fail, need, relayUrl } from './shared.mjs';

const relayd = relayUrl();
const pusher = new Pusher({
  appId: need('PUSHER_APP_ID'),
  key: need('PUSHER_KEY'),
  secret: need('PUSHER_SECRET'),
  host: relayd.host,
  port: String(relayd.port),
  useTLS: relayd.tls,
});

try {
  await pusher.trigger('orders', 'order.shipped', { id: 'ord_1', carrier: 'UPS' });
  const answer = await pusher.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } });
  console.log('published; occupied presence channels:', JSON.stringify(await answer.json()));
} catch (err) {
  fail(err);
}
