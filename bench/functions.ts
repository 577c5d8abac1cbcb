import type { RelaydProcess } from './lib/relayd-process.js';
import { fmt, heading, medianRound, row } from './lib/report.js';
import { CONNECTIONS, DURATION_S, ROUNDS, WARMUP_S, load } from './publish.js';

/** The smallest function there is: it returns the event it was given. */
const NOOP = 'export default function (event) { return event; }\n';
/** A function that does a little work: redacts one field and adds one. */
const REDACT = 'export default function (event) { const { email, ...rest } = event.data; return { ...event, data: { ...rest, redacted: true } }; }\n';

async function benchApp(daemon: RelaydProcess, id: string, source: string | null): Promise<string> {
  await daemon.admin('POST', '/admin/v1/orgs/default/apps', { id, name: id });
  const created = await daemon.admin<{ secret: string }>('POST', `/admin/v1/orgs/default/apps/${id}/tokens`, { name: 'bench', rateLimit: '10000000/min,burst=10000000' });
  if (source !== null) {
    const deployed = await daemon.admin('POST', `/admin/v1/orgs/default/apps/${id}/functions`, { name: 'fn', source, trigger: 'before-publish' });
    if (deployed.status !== 201) throw new Error(`could not deploy the function: ${JSON.stringify(deployed.body)}`);
  }
  return created.body.secret;
}

/**
 * What a before-publish function costs a publish: the same publish to an app without a
 * function, with a no-op one and with a small redaction, in alternating rounds (medians).
 */
export async function benchFunctions(daemon: RelaydProcess): Promise<void> {
  const body = JSON.stringify({ name: 'order-placed', channel: 'orders-eu', data: { id: 1, customer: 'Ada Lovelace', email: 'ada@example.com', total: 99.5, currency: 'EUR' } });
  heading(`Edge functions: publish through a before-publish function against the same publish without one; ${CONNECTIONS} clients, ${ROUNDS} alternating rounds of ${DURATION_S} s (medians), ${body.length}-byte body`);
  const apps = { plain: await benchApp(daemon, 'bench-fn-none', null), noop: await benchApp(daemon, 'bench-fn-noop', NOOP), redact: await benchApp(daemon, 'bench-fn-redact', REDACT) };
  const url = (id: string): string => `${daemon.url}/api/v1/apps/${id}/events`;
  const ids = { plain: 'bench-fn-none', noop: 'bench-fn-noop', redact: 'bench-fn-redact' } as const;
  const kinds = ['plain', 'noop', 'redact'] as const;
  for (const kind of kinds) await load(url(ids[kind]), { authorization: `Bearer ${apps[kind]}` }, WARMUP_S, body);
  const results: Record<(typeof kinds)[number], Awaited<ReturnType<typeof load>>[]> = { plain: [], noop: [], redact: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of kinds) results[kind].push(await load(url(ids[kind]), { authorization: `Bearer ${apps[kind]}` }, DURATION_S, body));
  }
  const base = medianRound(results.plain);
  const noop = medianRound(results.noop);
  const redact = medianRound(results.redact);
  row('publish, no function (baseline)', `${fmt(base.rps, 0)} req/s`, `p99 ${base.p99} ms`);
  row('publish, no-op before-publish function', `${fmt(noop.rps, 0)} req/s`, `${fmt(noop.rps / base.rps, 2)}x of baseline (goal ≥ 0.6x), p99 ${noop.p99} ms`);
  row('publish, redacting before-publish function', `${fmt(redact.rps, 0)} req/s`, `${fmt(redact.rps / base.rps, 2)}x of baseline, p99 ${redact.p99} ms`);
  const failed = kinds.flatMap((k) => results[k]).reduce((sum, r) => sum + r.non2xx, 0);
  if (failed > 0) row('  non-2xx answers or errors (should be 0)', String(failed));
}
