import WebSocket from 'ws';
import { Schemas } from '../daemon/core/schemas.js';
import { systemClock } from '../daemon/core/clock.js';
import type { Store } from '../daemon/store/store.js';
import { nodeScript } from './lib/baseline.js';
import type { RelaydProcess } from './lib/relayd-process.js';
import { fmt, heading, medianRound, row } from './lib/report.js';
import { AGENT } from './roundtrip.js';

const EVENTS = 3000;
const THREADS = 100;
const ROUNDS = 5;

/** A 20-property schema, and a payload that matches it (what an order event might carry). */
const PROPERTIES = Object.fromEntries(
  Array.from({ length: 20 }, (_, i) => [`p${i}`, i % 4 === 0 ? { type: 'string', minLength: 1, maxLength: 64 } : i % 4 === 1 ? { type: 'integer', minimum: 0 } : i % 4 === 2 ? { type: 'number' } : { type: 'boolean' }]),
);
const SCHEMA = { type: 'object', required: Object.keys(PROPERTIES), properties: PROPERTIES, additionalProperties: false };
const payload = (n: number): Record<string, unknown> =>
  Object.fromEntries(Object.keys(PROPERTIES).map((k, i) => [k, i % 4 === 0 ? `value-${n}` : i % 4 === 1 ? n : i % 4 === 2 ? n / 3 : n % 2 === 0]));

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
 * Validation's cost on the agent path, where a schema binds today (the channel rules that bind
 * schemas to publishes land separately): the same events to an agent without a schema and to
 * one bound to a 20-property schema, rounds alternating, medians compared.
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
  await validatorCost();
}

/** A supplement, in this process: the validation alone, per payload, once compiled and cached. */
async function validatorCost(): Promise<void> {
  const record = { org: 'o', appId: 'a', name: 'order', version: 1, document: JSON.stringify(SCHEMA), createdAt: 0, createdBy: 'bench' };
  const store = { getSchema: async () => ({ latest: record, versions: 1, createdAt: 0 }) } as unknown as Store;
  const schemas = new Schemas({ store, clock: systemClock, schemasChanged: async () => undefined, agentChanged: async () => undefined, inUseBy: async () => [] });
  const validator = await schemas.validatorFor('o', 'a', 'order');
  if (!validator) return;
  {
    const payloads = Array.from({ length: 1000 }, (_, n) => payload(n));
    const iterations = 200_000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) validator.check(payloads[i % 1000]);
    const ns = Number(process.hrtime.bigint() - t0) / iterations;
    row('  in-process: one validation (supplement)', `${fmt(ns / 1000, 2)} µs`);
  }
}
