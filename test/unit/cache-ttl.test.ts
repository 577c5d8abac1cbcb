import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../daemon/broker/memory-broker.js';
import { AgentService } from '../../daemon/core/agents.js';
import { AppService } from '../../daemon/core/apps.js';
import type { Clock } from '../../daemon/core/clock.js';
import { ConnectionRegistry } from '../../daemon/core/connections.js';
import { usageOf } from '../../daemon/core/usage.js';
import { CACHE_TTL_MS, ControlBus } from '../../daemon/core/control.js';
import { BcryptAppTokenVerifier, CachedAppTokenVerifier } from '../../daemon/core/credentials.js';
import { EventLog } from '../../daemon/core/events.js';
import { newCounters } from '../../daemon/core/metrics.js';
import { ChannelAppDirectory } from '../../daemon/core/pusher-auth.js';
import { RoutingDirectory } from '../../daemon/core/routing.js';
import { Schemas } from '../../daemon/core/schemas.js';
import { SecretBox } from '../../daemon/core/secrets.js';
import { TokenService } from '../../daemon/core/tokens.js';
import { SqliteStore } from '../../daemon/store/sqlite/sqlite-store.js';

/**
 * Node B's caches over the store node A changes, when B never hears of the change (a lost
 * control message): B may keep its copy until CACHE_TTL_MS has passed, never longer.
 */

const dirs: string[] = [];
const closing: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closing.splice(0)) await close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function cluster() {
  const dir = mkdtempSync(join(tmpdir(), 'relay-cache-ttl-'));
  dirs.push(dir);
  const store = new SqliteStore(join(dir, 'relay.db'));
  closing.push(() => store.close());
  let now = Date.UTC(2026, 11, 4, 12);
  const clock: Clock = { now: () => now };
  const secrets = new SecretBox(Buffer.alloc(32, 1));
  await store.insertOrg({ id: 'default', name: 'Default', createdAt: now }, null);
  const control = new ControlBus({ broker: new MemoryBroker(), nodeId: 'a', aliveNodes: async () => 1, onError: (err) => { throw err; } });
  const connections = new ConnectionRegistry(control, usageOf([]));
  const events = new EventLog(store, (err) => { throw err; });
  const lost = async (): Promise<void> => undefined;
  const nodeA = {
    apps: new AppService({ store, clock, secrets, connections, events, appChanged: lost, appDeleting: lost, appDeleted: lost, graceStarted: lost, onError: (err) => { throw err; } }),
    agents: new AgentService({ store, clock, connections, counters: newCounters(), agentChanged: lost, agentDeleting: lost, allowlistChanged: lost, graceStarted: lost, onError: (err) => { throw err; }, schemaExists: async () => true }),
    tokens: new TokenService(store, clock, newCounters(), lost),
    schemas: new Schemas({ store, clock, schemasChanged: lost, agentChanged: lost, rulesChanged: lost, inUseBy: async () => [] }),
  };
  const nodeB = {
    schemas: new Schemas({ store, clock, schemasChanged: lost, agentChanged: lost, rulesChanged: lost, inUseBy: async () => [] }),
    verifier: new CachedAppTokenVerifier(new BcryptAppTokenVerifier(store, clock, newCounters()), clock, newCounters()),
    tokens: new TokenService(store, clock, newCounters(), lost),
    channelApps: new ChannelAppDirectory(store, secrets, clock),
    routing: new RoutingDirectory(store, clock),
  };
  return { nodeA, nodeB, advance: (ms: number) => void (now += ms) };
}

describe('caches on a node that missed a change', () => {
  it('app tokens: a deactivated app is seen as such after the TTL, not before', async () => {
    const { nodeA, nodeB, advance } = await cluster();
    const { secret } = await nodeA.apps.register('test', 'default', { id: 'acme-pm', name: 'Acme' });
    expect((await nodeB.verifier.verify(secret)).status).toBe('active');
    await nodeA.apps.deactivate('test', 'default', 'acme-pm');
    advance(CACHE_TTL_MS - 1);
    expect((await nodeB.verifier.verify(secret)).status).toBe('active');
    advance(1);
    expect((await nodeB.verifier.verify(secret)).status).toBe('inactive');
  });

  it('app tokens: dropAll (the broker came back) forgets at once', async () => {
    const { nodeA, nodeB } = await cluster();
    const { secret } = await nodeA.apps.register('test', 'default', { id: 'acme-pm', name: 'Acme' });
    await nodeB.verifier.verify(secret);
    await nodeA.apps.deactivate('test', 'default', 'acme-pm');
    nodeB.verifier.dropAll();
    expect((await nodeB.verifier.verify(secret)).status).toBe('inactive');
  });

  it('API tokens: a token revoked elsewhere is refused after the TTL; forgetToken refuses it at once', async () => {
    const { nodeA, nodeB, advance } = await cluster();
    await nodeA.apps.register('test', 'default', { id: 'acme-pm', name: 'Acme' });
    const first = await nodeA.tokens.create('test', 'default', 'acme-pm', { name: 'one', scopes: ['events:*'] });
    const second = await nodeA.tokens.create('test', 'default', 'acme-pm', { name: 'two', scopes: ['events:*'] });
    await nodeB.tokens.authenticate(first.secret);
    await nodeB.tokens.authenticate(second.secret);
    await nodeA.tokens.revoke('test', first.token.id);
    await nodeA.tokens.revoke('test', second.token.id);
    advance(CACHE_TTL_MS - 1);
    expect((await nodeB.tokens.authenticate(first.secret)).tokenId).toBe(first.token.id);
    nodeB.tokens.forgetToken(second.token.id);
    await expect(nodeB.tokens.authenticate(second.secret)).rejects.toMatchObject({ code: 'unauthorized' });
    advance(1);
    await expect(nodeB.tokens.authenticate(first.secret)).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('channel apps: a new key and a deactivation are seen after the TTL', async () => {
    const { nodeA, nodeB, advance } = await cluster();
    await nodeA.apps.register('test', 'default', { id: 'acme-pm', name: 'Acme', channelKey: 'oldkey0001' });
    expect(await nodeB.channelApps.byKey('oldkey0001')).toMatchObject({ id: 'acme-pm', active: true });
    await nodeA.apps.update('test', 'default', 'acme-pm', { channelKey: 'newkey0001' });
    await nodeA.apps.deactivate('test', 'default', 'acme-pm');
    advance(CACHE_TTL_MS - 1);
    expect(await nodeB.channelApps.byId('default', 'acme-pm')).toMatchObject({ key: 'oldkey0001', active: true });
    advance(1);
    expect(await nodeB.channelApps.byKey('oldkey0001')).toBeNull();
    expect(await nodeB.channelApps.byId('default', 'acme-pm')).toMatchObject({ key: 'newkey0001', active: false });
  });

  it('routing: an allowlist and an agent changed elsewhere are seen after the TTL', async () => {
    const { nodeA, nodeB, advance } = await cluster();
    await nodeA.apps.register('test', 'default', { id: 'acme-pm', name: 'Acme' });
    await nodeA.agents.register('test', 'default', { id: 'athena', name: 'Athena' });
    expect(await nodeB.routing.allowlist('default', 'acme-pm')).toEqual([]);
    expect((await nodeB.routing.agent('default', 'athena'))?.status).toBe('active');
    await nodeA.apps.allow('test', 'default', 'acme-pm', ['athena']);
    await nodeA.agents.deactivate('test', 'default', 'athena');
    advance(CACHE_TTL_MS - 1);
    expect(await nodeB.routing.allowlist('default', 'acme-pm')).toEqual([]);
    expect((await nodeB.routing.agent('default', 'athena'))?.status).toBe('active');
    advance(1);
    expect(await nodeB.routing.allowlist('default', 'acme-pm')).toEqual(['athena']);
    expect((await nodeB.routing.agent('default', 'athena'))?.status).toBe('inactive');
  });

  it('event schemas: a new version is checked after the TTL, not before; schemaChanged and dropAll read it at once', async () => {
    const { nodeA, nodeB, advance } = await cluster();
    await nodeA.apps.register('test', 'default', { id: 'acme-pm', name: 'Acme' });
    await nodeA.schemas.add('test', 'default', 'acme-pm', { name: 'order', schema: { type: 'object' } });
    await nodeB.schemas.check('default', 'acme-pm', 'order', { id: 1 });
    await nodeA.schemas.update('test', 'default', 'acme-pm', 'order', { type: 'object', required: ['currency'] });
    advance(CACHE_TTL_MS - 1);
    await nodeB.schemas.check('default', 'acme-pm', 'order', { id: 1 });
    advance(1);
    await expect(nodeB.schemas.check('default', 'acme-pm', 'order', { id: 1 })).rejects.toMatchObject({ code: 'schema_violation', details: { version: 2 } });
    await nodeA.schemas.update('test', 'default', 'acme-pm', 'order', { type: 'object' });
    nodeB.schemas.schemaChanged('default', 'acme-pm', 'order');
    await nodeB.schemas.check('default', 'acme-pm', 'order', { id: 1 });
    // The schemas that take everything and nothing are schemas too.
    await nodeA.schemas.update('test', 'default', 'acme-pm', 'order', false);
    nodeB.schemas.schemaChanged('default', 'acme-pm', 'order');
    await expect(nodeB.schemas.check('default', 'acme-pm', 'order', {})).rejects.toMatchObject({ code: 'schema_violation', details: { version: 4 } });
    await nodeA.schemas.update('test', 'default', 'acme-pm', 'order', { type: 'array' });
    nodeB.schemas.dropAll();
    await expect(nodeB.schemas.check('default', 'acme-pm', 'order', { id: 1 }, { index: 3 })).rejects.toMatchObject({
      code: 'schema_violation',
      message: 'batch item 3: 1 error against schema "order" (version 5): the data must be array',
      details: { index: 3, errors: [{ pointer: '', message: 'must be array' }] },
    });
  });
});
