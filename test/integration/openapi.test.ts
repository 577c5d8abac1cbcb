import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { HttpServices } from '../../daemon/http/routes.js';
import { relay } from '../helpers/cli.js';
import { ROOT, startSharedDaemon, type Daemon } from '../helpers/daemon.js';

// The route table of the built relayd, the one the daemon under test serves.
const built = <T>(path: string): Promise<T> => import(pathToFileURL(join(ROOT, 'dist', path)).href) as Promise<T>;
const { routes } = await built<typeof import('../../daemon/http/routes.js')>('daemon/http/routes.js');
const { VERSION } = await built<typeof import('../../daemon/version.js')>('daemon/version.js');
// Building the table calls no service (its handlers do), as `npm run openapi` builds it.
const table = routes({ version: VERSION } as HttpServices);

type Operation = { operationId: string; summary: string; security: Record<string, string[]>[]; 'x-relay-scope'?: string; requestBody?: { content: Record<string, { schema: object }> }; responses: Record<string, unknown> };
type Document = { openapi: string; info: { version: string }; paths: Record<string, Record<string, Operation>>; components: Record<string, unknown> };

const COMMITTED = join(ROOT, 'docs/openapi.json');
const STALE = 'docs/openapi.json differs from what relayd serves: run `npm run openapi` and commit it';

let shared: Promise<Daemon> | undefined;
/** One relayd for the file: each test brings its own app. */
const sharedRelayd = (): Promise<Daemon> => (shared ??= startSharedDaemon());

async function served(daemon: Daemon): Promise<Document> {
  const res = await fetch(`${daemon.url}/api/v1/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return (await res.json()) as Document;
}

const operation = (doc: Document, method: string, path: string): Operation | undefined => doc.paths[path.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()];

async function appWithToken(daemon: Daemon, id: string): Promise<string> {
  expect((await relay(['apps', 'register', '--id', id, '--name', id, '-q'], { daemon })).exitCode).toBe(0);
  const token = await relay(['tokens', 'create', '--app', id, '--name', 'all', '-q'], { daemon });
  expect(token.exitCode).toBe(0);
  return token.stdout.trim();
}

/** A body's schema in the document, compiled with the document's components beside it. */
function bodyValidator(doc: Document, method: string, path: string): (body: unknown) => boolean {
  const schema = operation(doc, method, path)?.requestBody?.content['application/json']?.schema;
  expect(schema, `${method} ${path} has a JSON body schema`).toBeDefined();
  const ajv = new Ajv2020({ strict: false });
  ajv.addSchema({ components: doc.components }, 'doc');
  const validate = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/')) as object);
  return (body) => validate(body);
}

describe('the OpenAPI document', () => {
  it('is served at /api/v1/openapi.json without a token, exactly as committed under docs/', async () => {
    const doc = await served(await sharedRelayd());
    // Byte for byte as the file is written, key order included, so that a regeneration diffs only what changed.
    expect(`${JSON.stringify(doc, null, 2)}\n` === readFileSync(COMMITTED, 'utf8'), STALE).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe(VERSION);
  });

  it('is valid OpenAPI 3.1 (and the validator refuses a broken copy)', async () => {
    const doc = await served(await sharedRelayd());
    const result = await new Validator().validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);

    const broken = structuredClone(doc);
    (broken.paths['/healthz']?.['get'] as { security: unknown }).security = 'none';
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('holds every public route of the table with its scope, the Pusher routes signed, and no admin route', () => {
    // The committed file: a route added without regenerating it is named here.
    const doc = JSON.parse(readFileSync(COMMITTED, 'utf8')) as Document;
    const scoped = table.filter((r) => typeof r.auth === 'object');
    expect(scoped.length).toBeGreaterThan(30);
    for (const route of table) {
      const op = operation(doc, route.method, route.path);
      const name = `${route.method} ${route.path}`;
      if (route.auth === 'admin') {
        expect(op, name).toBeUndefined();
        continue;
      }
      expect(op, `${name} is missing: ${STALE}`).toBeDefined();
      expect(op?.summary, name).toBe(route.summary);
      if (typeof route.auth === 'object') {
        expect(op?.security, name).toEqual([{ apiToken: [route.auth.scope] }]);
        expect(op?.['x-relay-scope'], name).toBe(route.auth.scope);
      } else {
        expect(op?.security, name).toEqual(route.auth === 'pusher' ? [{ pusherSignature: [] }] : []);
      }
    }
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/admin'))).toEqual([]);
    const count = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    expect(count).toBe(table.filter((r) => r.auth !== 'admin').length);
    expect(operation(doc, 'GET', '/api/v1/openapi.json')?.security).toEqual([]);
  });

  it('describes a publish body as relayd checks it: "channel" or "channels", one of them', async () => {
    const relayd = await sharedRelayd();
    const doc = await served(relayd);
    const token = await appWithToken(relayd, 'openapi-publish');
    const valid = bodyValidator(doc, 'POST', '/api/v1/apps/:app/events');
    const cases: [string, unknown, number][] = [
      ['one channel', { name: 'e', channel: 'orders', data: 'x' }, 200],
      ['several channels', { name: 'e', channels: ['a', 'b'], data: { id: 1 } }, 200],
      ['neither channel nor channels', { name: 'e', data: 'x' }, 400],
      ['both', { name: 'e', channel: 'a', channels: ['b'], data: 'x' }, 400],
      ['no name', { channel: 'a', data: 'x' }, 400],
      ['no data', { name: 'e', channel: 'a' }, 400],
      ['an unknown field', { name: 'e', channel: 'a', data: 'x', extra: 1 }, 400],
      ['an empty channel list', { name: 'e', channels: [], data: 'x' }, 400],
      ['a malformed socket_id', { name: 'e', channel: 'a', data: 'x', socket_id: 'abc' }, 400],
    ];
    for (const [what, body, status] of cases) {
      const res = await fetch(`${relayd.url}/api/v1/apps/openapi-publish/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status, what).toBe(status);
      expect(valid(body), `the schema agrees with relayd on ${what}`).toBe(status === 200);
    }
  });

  it('says 201 where relayd answers 201, and refuses an empty app update as relayd does', async () => {
    const relayd = await sharedRelayd();
    const doc = await served(relayd);
    const token = await appWithToken(relayd, 'openapi-status');
    const call = (method: string, path: string, body: unknown): Promise<Response> =>
      fetch(`${relayd.url}/api/v1/apps/openapi-status${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const added = await call('POST', '/channel-rules', { pattern: 'orders-*', history: false });
    expect(added.status).toBe(201);
    expect(Object.keys(operation(doc, 'POST', '/api/v1/apps/:app/channel-rules')?.responses ?? {})).toContain('201');
    expect(bodyValidator(doc, 'POST', '/api/v1/apps/:app/channel-rules')({ pattern: 'orders-*', history: false })).toBe(true);

    const valid = bodyValidator(doc, 'PATCH', '/api/v1/apps/:app');
    expect((await call('PATCH', '', {})).status).toBe(400);
    expect(valid({})).toBe(false);
    expect((await call('PATCH', '', { name: 'Renamed' })).status).toBe(200);
    expect(valid({ name: 'Renamed' })).toBe(true);
  });
});
