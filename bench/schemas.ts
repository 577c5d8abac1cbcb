import WebSocket from 'ws';
import { nodeScript } from './lib/baseline.js';
import type { RelaydProcess } from './lib/relayd-process.js';
import { fmt, heading, medianRound, row } from './lib/report.js';
import { CONNECTIONS, DURATION_S, ROUNDS as PUBLISH_ROUNDS, WARMUP_S, load } from './publish.js';
import { AGENT } from './roundtrip.js';

const EVENTS = 3000;
const THREADS = 100;
const ROUNDS = 5;

/** A 20-property order, every property typed and most constrained: what a real event contract looks like. */
const PROPERTIES: Record<string, unknown> = {
  id: { type: 'integer', minimum: 1 },
  customer: { type: 'string', minLength: 1, maxLength: 64 },
  email: { type: 'string', format: 'email' },
  currency: { type: 'string', pattern: '^[A-Z]{3}$' },
  total: { type: 'number', minimum: 0 },
  subtotal: { type: 'number', minimum: 0 },
  tax: { type: 'number', minimum: 0 },
  shipping: { type: 'number', minimum: 0 },
  discount: { type: 'number', minimum: 0 },
  items: { type: 'integer', minimum: 0 },
  status: { enum: ['placed', 'paid', 'shipped', 'delivered', 'canceled'] },
  channel: { enum: ['web', 'app', 'store'] },
  gift: { type: 'boolean' },
  note: { type: 'string', maxLength: 500 },
  country: { type: 'string', pattern: '^[A-Z]{2}$' },
  city: { type: 'string', maxLength: 80 },
  postcode: { type: 'string', maxLength: 16 },
  placedAt: { type: 'string', format: 'date-time' },
  coupon: { type: ['string', 'null'] },
  tags: { type: 'array', maxItems: 10, items: { type: 'string' } },
};
const SCHEMA = { type: 'object', required: Object.keys(PROPERTIES), additionalProperties: false, properties: PROPERTIES };
const ORDER = {
  id: 12345,
  customer: 'Ada Lovelace',
  email: 'ada@example.com',
  currency: 'EUR',
  total: 99.5,
  subtotal: 90,
  tax: 9.5,
  shipping: 0,
  discount: 0,
  items: 3,
  status: 'placed',
  channel: 'web',
  gift: false,
  note: 'x'.repeat(60),
  country: 'FR',
  city: 'Paris',
  postcode: '75001',
  placedAt: '2026-12-05T10:00:00Z',
  coupon: null,
  tags: ['vip', 'first'],
};

const payload = (n: number): Record<string, unknown> => ({ ...ORDER, id: n + 1 });

/** Saturated: THREADS threads, each sending its next event as soon as the previous one's reply came. Events per second. */
async function run(daemon: RelaydProcess, appToken: string, agent: string): Promise<{ rps: number }> {
  const ws = new WebSocket(`${daemon.wsUrl}/v1/connect`, { headers: { authorization: `Bearer ${appToken}` } });
  await new Promise((r) => ws.once('message', r));
  let sent = 0;
  let done = 0;
  const t0 = process.hrtime.bigint();
  const send = (thread: number): void => {
    const n = sent++;
    ws.send(JSON.stringify({ type: 'event', ref: String(thread), agent, thread: `t${thread}`, payload: payload(n) }));
  };
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; ref: string; eventId: string; error?: unknown };
      if (frame.type === 'rejected') reject(new Error(`rejected: ${JSON.stringify(frame.error)}`));
      if (frame.type !== 'reply') return;
      ws.send(JSON.stringify({ type: 'ack', eventId: frame.eventId }));
      if (++done === EVENTS) resolve();
      else if (sent < EVENTS) send(Number(frame.ref));
    });
    for (let t = 0; t < THREADS; t++) send(t);
  });
  ws.close();
  return { rps: EVENTS / (Number(process.hrtime.bigint() - t0) / 1e9) };
}

/**
 * Validation's cost where schemas bind: agent events to an agent without a schema and to one
 * bound to a 20-property schema, then channel publishes with and without a rule's schema;
 * rounds alternating, medians compared.
 */
export async function benchSchemas(daemon: RelaydProcess): Promise<void> {
  heading(`Event schemas: ${EVENTS} agent events (100 threads, saturated) against a 20-property JSON Schema vs none, median of ${ROUNDS} rounds`);
  const app = await daemon.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/apps', { id: 'bench-schemas', name: 'Bench schemas' });
  const plain = await daemon.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/agents', { id: 'bench-plain', name: 'No schema' });
  const checked = await daemon.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/agents', { id: 'bench-checked', name: 'With a schema' });
  await daemon.admin('POST', '/admin/v1/orgs/default/apps/bench-schemas/schemas', { name: 'order', schema: SCHEMA });
  const bound = await daemon.admin('PATCH', '/admin/v1/orgs/default/agents/bench-checked', { schema: 'bench-schemas/order' });
  if (bound.status !== 200) throw new Error(`could not bind the schema: ${JSON.stringify(bound.body)}`);
  const agents = await Promise.all([plain, checked].map((a) => nodeScript(AGENT, { URL: `${daemon.wsUrl}/v1/connect`, TOKEN: a.body.secret })));
  try {
    const without: { rps: number }[] = [];
    const withSchema: { rps: number }[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      without.push(await run(daemon, app.body.secret, 'bench-plain'));
      withSchema.push(await run(daemon, app.body.secret, 'bench-checked'));
    }
    const base = medianRound(without).rps;
    const rate = medianRound(withSchema).rps;
    row('  agent without a schema (baseline)', `${fmt(base, 0)} /s`);
    row('  agent with a 20-property schema', `${fmt(rate, 0)} /s`, `${fmt(rate / base, 2)}x (goal: at least 0.9x)`);
  } finally {
    for (const a of agents) a.proc.kill();
  }
  await benchChannelSchemas(daemon);
}

async function benchApp(daemon: RelaydProcess, id: string, withSchema: boolean): Promise<string> {
  await daemon.admin('POST', '/admin/v1/orgs/default/apps', { id, name: id });
  const created = await daemon.admin<{ secret: string }>('POST', `/admin/v1/orgs/default/apps/${id}/tokens`, { name: 'bench', rateLimit: '10000000/min,burst=10000000' });
  const token = created.body.secret;
  if (withSchema) {
    const call = async (path: string, body: unknown): Promise<void> => {
      const res = await fetch(`${daemon.url}/api/v1/apps/${id}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    };
    await call('/schemas', { name: 'order', schema: SCHEMA });
    await call('/channel-rules', { pattern: 'orders-*', schema: 'order' });
  }
  return token;
}

/** Publish requests/s to a channel whose rule binds a 20-property schema, beside the same publish with no schema, alternating rounds. */
async function benchChannelSchemas(daemon: RelaydProcess): Promise<void> {
  const body = JSON.stringify({ name: 'order-placed', channel: 'orders-eu', data: ORDER });
  heading(`Schemas: publish with a 20-property JSON Schema bound by a channel rule, against the same publish unchecked; ${CONNECTIONS} clients, ${PUBLISH_ROUNDS} alternating rounds of ${DURATION_S} s (medians), ${body.length}-byte body`);
  const plain = await benchApp(daemon, 'bench-unchecked', false);
  const checked = await benchApp(daemon, 'bench-checked', true);
  const url = (id: string): string => `${daemon.url}/api/v1/apps/${id}/events`;
  const probe = await fetch(url('bench-checked'), { method: 'POST', headers: { authorization: `Bearer ${checked}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'order-placed', channel: 'orders-eu', data: { ...ORDER, id: 'x' } }) });
  if (probe.status !== 422) throw new Error(`an invalid order should be refused with 422, got ${probe.status}: the schema is not bound`);

  await load(url('bench-unchecked'), { authorization: `Bearer ${plain}` }, WARMUP_S, body);
  await load(url('bench-checked'), { authorization: `Bearer ${checked}` }, WARMUP_S, body);
  const without: Awaited<ReturnType<typeof load>>[] = [];
  const withSchema: Awaited<ReturnType<typeof load>>[] = [];
  for (let round = 0; round < PUBLISH_ROUNDS; round++) {
    without.push(await load(url('bench-unchecked'), { authorization: `Bearer ${plain}` }, DURATION_S, body));
    withSchema.push(await load(url('bench-checked'), { authorization: `Bearer ${checked}` }, DURATION_S, body));
  }
  const base = medianRound(without);
  const got = medianRound(withSchema);
  row('publish, no schema (baseline)', `${fmt(base.rps, 0)} req/s`, `p99 ${base.p99} ms`);
  row('publish, 20-property schema checked', `${fmt(got.rps, 0)} req/s`, `${fmt(got.rps / base.rps, 2)}x of baseline (goal ≥ 0.9x), p99 ${got.p99} ms`);
  const failed = [...without, ...withSchema].reduce((sum, r) => sum + r.non2xx, 0);
  if (failed > 0) row('  non-2xx answers or errors (should be 0)', String(failed));
}
