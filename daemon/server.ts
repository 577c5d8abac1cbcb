import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { DaemonStatus } from '../src/shared/api.js';
import { RELAY_CLOSE } from '../src/shared/protocol/relay.js';
import { createBroker, type Broker } from './broker/index.js';
import type { Config } from './config.js';
import { AdminAuth } from './core/admin.js';
import { AgentService } from './core/agents.js';
import { AppService } from './core/apps.js';
import { listAudit } from './core/audit.js';
import { systemClock, type Clock } from './core/clock.js';
import { ConnectionRegistry } from './core/connections.js';
import { ControlBus } from './core/control.js';
import { BcryptAppTokenVerifier, CachedAppTokenVerifier } from './core/credentials.js';
import { newCounters } from './core/metrics.js';
import { OrgService } from './core/orgs.js';
import { RelayService } from './core/relay.js';
import { Dispatcher } from './core/dispatcher.js';
import { HistoryPruner } from './core/retention.js';
import { RoutingDirectory } from './core/routing.js';
import { Schemas } from './core/schemas.js';
import { FunctionService } from './core/functions.js';
import { AnalyticsService } from './core/analytics.js';
import { usageOf, type Usage } from './core/usage.js';
import { FunctionHost } from './core/function-host.js';
import { BROKER_PREFIX, ChannelService } from './core/channels.js';
import { ChannelRules } from './core/channel-rules.js';
import { createChannelState, type ChannelState } from './channel-state/index.js';
import { ChannelAppDirectory } from './core/pusher-auth.js';
import { WebhookService } from './core/webhooks.js';
import { PusherEndpoint } from './ws/pusher.js';
import { EventLog } from './core/events.js';
import { createRateLimiter, type RateLimiter } from './ratelimit/index.js';
import { TokenService } from './core/tokens.js';
import { SecretBox } from './core/secrets.js';
import { EncryptionKeyService } from './core/encryption-keys.js';
import { withEncryptedHistory } from './core/encrypted-history.js';
import { checkDataFiles, checkMasterKey, checkMasterKeyFingerprint, hasAdminTokenFile, loadConfiguredMasterKey, prepareDataDir, writeAdminTokenFile } from './data-dir.js';
import { NodeRegistry } from './core/nodes.js';
import { Leader, Leases } from './core/leases.js';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import { guardConnections } from './http/connection-guard.js';
import { createHttpHandler } from './http/handler.js';
import { routes, type HttpServices } from './http/routes.js';
import type { Logger } from './log.js';
import { createStore } from './store/index.js';
import { VERSION } from './version.js';
import { RelayEndpoint } from './ws/relay.js';
import { createUpgradeDispatcher } from './ws/upgrade.js';
import { PrometheusMetrics } from './metrics/prometheus.js';
import { startMetricsServer, type MetricsServer } from './metrics/metrics-server.js';

export interface RunningDaemon {
  url: string;
  stop(): Promise<void>;
}

/**
 * Takes the data dir before anything in it is read, so that a second relayd on it changes
 * nothing; it is let go after the store is closed, or when the start fails.
 */
export async function startDaemon(config: Config, log: Logger, clock: Clock = systemClock): Promise<RunningDaemon> {
  prepareDataDir(config.dataDir, log);
  const lock = lockDataDir(config.dataDir, log);
  try {
    return await startLocked(config, log, clock, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** Wiring only: builds the store, broker, core and transports, and the order they stop in. */
async function startLocked(config: Config, log: Logger, clock: Clock, lock: DataDirLock): Promise<RunningDaemon> {
  const databaseInDataDir = config.store.driver === 'sqlite' && config.store.path === join(config.dataDir, 'relay.db');
  checkDataFiles(config.dataDir, log, { database: databaseInDataDir, masterKey: config.masterKey === null });
  const masterKey = loadConfiguredMasterKey(config.masterKey, config.dataDir);
  const secrets = new SecretBox(masterKey);
  const plainStore = await createStore({ location: config.store, log });
  const encryptionKeys = new EncryptionKeyService({
    store: plainStore,
    clock,
    secrets,
    keysChanged: (org, appId) => control.send({ type: 'keysChanged', org, appId }),
  });
  // Every part of relayd reads and writes history through this one wrapper: encrypted at rest for apps with a key.
  const store = withEncryptedHistory(plainStore, encryptionKeys);
  const startedAt = clock.now();
  const nodes: NodeRegistry = new NodeRegistry({
    store,
    clock,
    self: { id: config.nodeId, broker: config.broker.driver, version: VERSION, startedAt, sharedStore: config.store.driver === 'postgres' },
    connections: (): number => connections.size,
    onDropped: async (ids: string[]): Promise<void> => {
      log.warn({ nodes: ids }, 'dropped nodes whose heartbeat stopped');
      for (const id of ids) await channels.dropNode(id);
    },
    onError: (err, what) => log.error({ err }, what),
  });
  try {
    // Its message names relay.db in the data dir; elsewhere the fingerprint below tells a wrong key.
    if (databaseInDataDir) await checkMasterKey(config.dataDir, store, secrets, config.masterKey);
    await checkMasterKeyFingerprint(store, masterKey, config.masterKey, config.dataDir, config.store.driver === 'postgres');
    await nodes.check();
  } catch (err) {
    await store.close();
    throw err;
  }
  let broker: Broker;
  try {
    broker = await createBroker({ location: config.broker, log });
  } catch (err) {
    await store.close();
    throw err;
  }
  const counters = newCounters();
  // Prometheus (--metrics-port): a listener of usage, as analytics is, with the node's own figures read when scraped.
  const metrics =
    config.metricsPort === null
      ? null
      : new PrometheusMetrics({
          node: config.nodeId,
          maxApps: config.metricsMaxApps,
          readings: { subscriptions: () => channels.localSubscriptions(), brokerAvailable: () => broker.available },
          warn: (fields, message) => log.warn(fields, message),
        });
  const analytics = new AnalyticsService({
    store,
    clock,
    nodeId: config.nodeId,
    flushMs: config.analyticsFlushMs,
    retentionMs: config.analyticsRetentionMs,
    enabled: config.analytics,
    onError: (err, what) => log.error({ err }, what),
  });
  // What relayd does, told as it happens to those who count it: analytics unless turned off, and Prometheus when on.
  const usage: Usage = usageOf([...(config.analytics ? [analytics] : []), ...(metrics ? [metrics] : [])]);

  // Questions to every node wait for as many answers as the registry counts live nodes.
  const control = new ControlBus({ broker, nodeId: config.nodeId, aliveNodes: (): Promise<number> => nodes.aliveCount(), onError: (err, what) => log.warn({ err }, what) });
  const connections = new ConnectionRegistry(control, usage);
  const channelApps = new ChannelAppDirectory(store, secrets, clock);
  const events = new EventLog(store, (err) => log.error({ err }, 'could not record changes of events in history'));
  if (metrics) {
    events.observeBatches((writes, seconds, ok) => metrics.storeBatch(writes, seconds, ok));
    broker.onStatus((available) => {
      if (!available) metrics.brokerError();
    });
  }
  const sharedStore = config.store.driver === 'postgres';
  const webhooks = new WebhookService({
    store,
    clock,
    apps: channelApps,
    nodeId: config.nodeId,
    sharedStore,
    // The node that holds a channel_vacated back answers whether it dropped it; one yes is enough.
    dropHeldElsewhere: sharedStore
      ? async (org, appId, event) => {
          const question = { type: 'dropHeldWebhook', org, appId, name: event.name === 'member_added' ? 'member_added' : 'channel_occupied', channel: String(event['channel']), userId: event.name === 'member_added' ? String(event['user_id']) : null } as const;
          return (await control.ask(question, { enough: (dropped) => dropped.includes(true) })).includes(true);
        }
      : null,
    retryForMs: config.webhookRetryForMs,
    timeoutMs: config.webhookTimeoutMs,
    debounceMs: config.webhookDebounceMs,
    userAgent: `relayd/${VERSION} (webhooks)`,
    allowPrivate: config.webhookAllowPrivate,
    webhooksChanged: (org, appId) => control.send({ type: 'webhooksChanged', org, appId }),
    usage,
    onError: (err, what) => log.error({ err }, what),
  });
  // On the broker's Redis when there is one: the nodes that share publications share channel state.
  let channelState: ChannelState;
  let rateLimiter: RateLimiter;
  try {
    channelState = await createChannelState({ location: config.broker, nodeId: config.nodeId, clock });
    // One bucket per key for the cluster: where the broker is.
    rateLimiter = await createRateLimiter({ location: config.broker, clock, log }).catch(async (err: unknown) => {
      await channelState.close();
      throw err;
    });
  } catch (err) {
    await broker.close();
    await store.close();
    throw err;
  }
  const schemas = new Schemas({
    store,
    clock,
    schemasChanged: (org, appId, name) => control.send({ type: 'schemasChanged', org, appId, name }),
    agentChanged: (org, agentId) => control.send({ type: 'agentChanged', org, agentId }),
    rulesChanged: (org, appId) => control.send({ type: 'channelRulesChanged', org, appId }),
    // The agents bound to it and the channel rules that name it.
    inUseBy: async (org, appId, name) => [
      ...(await store.agentsUsingSchema(org, appId, name)).map((id) => `agent:${id}`),
      ...(await store.listChannelRules(org, appId)).filter((rule) => rule.schema === name).map((rule) => `rule:${rule.id} (${rule.pattern})`),
    ],
  });
  const channelRules = new ChannelRules({
    store,
    clock,
    app: (org, appId) => channelApps.byId(org, appId),
    defaultRetentionMs: config.historyRetentionMs,
    rulesChanged: (org, appId) => control.send({ type: 'channelRulesChanged', org, appId }),
    schemaExists: (org, appId, name) => schemas.exists(org, appId, name),
  });
  const functions = new FunctionService({
    store,
    clock,
    nodeId: config.nodeId,
    sandbox: () => FunctionHost.start(),
    functionsChanged: (org, appId) => control.send({ type: 'functionsChanged', org, appId }),
    warn: (fields, message) => log.warn(fields, message),
    onError: (err, what) => log.error({ err }, what),
  });
  const channels = new ChannelService({
    log: events,
    clock,
    broker,
    state: channelState,
    terminateUser: (message) => control.send({ type: 'terminateUser', ...message }),
    apps: channelApps,
    rules: channelRules,
    schemas,
    sealer: encryptionKeys,
    functions,
    webhooks,
    usage,
    onError: (err, what) => log.error({ err }, what),
  });
  broker.registerEventHandler({
    handlePublication: (channel, data) => {
      if (control.owns(channel)) control.handlePublication(channel, data);
      else if (channel.startsWith(BROKER_PREFIX)) channels.handlePublication(channel, data);
    },
  });
  await control.start();

  // Work one node at a time does: the background jobs (the leader's), each agent's queue (its owner's).
  const leases = new Leases({ store, clock, holder: config.nodeId, onError: (err, what) => log.error({ err }, what) });
  const routing = new RoutingDirectory(store, clock);
  const verifier = new CachedAppTokenVerifier(new BcryptAppTokenVerifier(store, clock, counters), clock, counters);
  const orgs = new OrgService(store, clock);
  const tokens = new TokenService(store, clock, counters, (org, appId, tokenId) => control.send({ type: 'tokenRevoked', org, appId, tokenId }));
  // The caches' control messages, each handled here on every node (the sender's included).
  control.on('appChanged', ({ org, appId }) => {
    verifier.invalidateApp(appId);
    tokens.invalidateApp(org, appId);
    channelApps.invalidate(org, appId);
    routing.allowlistChanged(org, appId);
  });
  control.on('tokenRevoked', ({ tokenId }) => tokens.forgetToken(tokenId));
  control.on('agentChanged', ({ org, agentId }) => routing.agentChanged(org, agentId));
  control.on('allowlistChanged', ({ org, appId }) => routing.allowlistChanged(org, appId));
  control.on('webhooksChanged', ({ org, appId }) => webhooks.reload(org, appId));
  control.on('channelRulesChanged', ({ org, appId }) => channelRules.invalidate(org, appId));
  control.on('schemasChanged', ({ org, appId, name }) => schemas.schemaChanged(org, appId, name));
  control.on('dropHeldWebhook', ({ org, appId, name, channel, userId }) => webhooks.dropHeld(org, appId, userId === null ? { name, channel } : { name, channel, user_id: userId }));
  control.on('terminateUser', (message) => channels.terminateLocal(message));
  control.on('keysChanged', ({ org, appId }) => encryptionKeys.drop(org, appId));
  control.on('functionsChanged', ({ org, appId }) => functions.invalidate(org, appId));
  // Back from a broker outage, this node may have missed some of those: it drops everything.
  broker.onStatus((available) => {
    if (!available) return;
    verifier.dropAll();
    tokens.dropAll();
    channelApps.dropAll();
    channelRules.dropAll();
    routing.dropAll();
    encryptionKeys.dropAll();
    schemas.dropAll();
    functions.dropAll();
    webhooks.reloadAll().catch((err: unknown) => log.error({ err }, 'could not read the webhooks again'));
  });
  const apps = new AppService({
    store,
    clock,
    secrets,
    connections,
    events,
    appChanged: (org, appId) => control.send({ type: 'appChanged', org, appId }),
    appDeleting: async (org, id) => {
      await dispatcher.forgetApp(org, id);
      // Held changes of its events are written before a purge can delete their rows.
      await events.drain();
    },
    appDeleted: async (org, appId) => {
      await control.send({ type: 'webhooksChanged', org, appId });
      // Its rules went with it.
      await control.send({ type: 'channelRulesChanged', org, appId });
      await control.send({ type: 'keysChanged', org, appId });
      await control.send({ type: 'functionsChanged', org, appId });
    },
    graceStarted: (org, id, at) => control.send({ type: 'graceStarted', role: 'app', org, id, at }),
    onError: (err, what) => log.error({ err }, what),
  });
  const adminAuth = new AdminAuth(store, clock, counters);
  const agents = new AgentService({
    store,
    clock,
    connections,
    counters,
    agentChanged: (org, agentId) => control.send({ type: 'agentChanged', org, agentId }),
    agentDeleting: async (org, id, purge) => {
      await dispatcher.forgetAgent(org, id, purge);
      await events.drain();
    },
    allowlistChanged: (org, appId) => control.send({ type: 'allowlistChanged', org, appId }),
    graceStarted: (org, id, at) => control.send({ type: 'graceStarted', role: 'agent', org, id, at }),
    onError: (err, what) => log.error({ err }, what),
    schemaExists: (org, appId, name) => schemas.exists(org, appId, name),
  });
  const dispatcher = new Dispatcher({
    store,
    log: events,
    clock,
    nodeId: config.nodeId,
    leases,
    peers: {
      work: (message) => control.tell(null, message),
      outcome: (node, message) => control.tell(node, message),
      released: (org, agent) => control.tell(null, { type: 'agentReleased', org, agent }),
      forget: (message) => control.tell(null, message),
    },
    maxAttempts: config.maxAttempts,
    webhooks,
    usage,
    onError: (err, what) => log.error({ err }, what),
  });
  const relay = new RelayService({ verifier, apps, agents, routing, schemas, functions, dispatcher, counters, webhooks, rateLimiter, usage, failedHandshakes: config.failedHandshakeLimit });
  const pruner = new HistoryPruner({
    store,
    clock,
    retentionMs: config.historyRetentionMs,
    everyMs: Math.min(3_600_000, config.historyRetentionMs),
    onPruned: (count) => log.info({ count }, 'pruned old events from history'),
    onError: (err) => log.error({ err }, 'could not prune history'),
  });

  control.on('graceStarted', ({ role, org, id, at }) => (role === 'app' ? apps : agents).graceStarted(org, id, at));
  control.on('agentWork', (message) => dispatcher.receiveWork(message));
  control.on('agentOutcome', (message) => dispatcher.receiveOutcome(message));
  control.on('agentReleased', ({ org, agent }) => dispatcher.agentReleased(org, agent));
  control.on('agentRelayForget', (message) => dispatcher.forget(message));
  // relay events tail against any node: the changes of the others come to it while it has followers.
  control.on('followChanges', ({ org, node }) => {
    if (node !== config.nodeId) events.exportTo(org, node);
    return true;
  });
  control.on('eventChange', ({ change }) => events.receive(change));
  events.share({
    want: async (org) => {
      await control.ask({ type: 'followChanges', org, node: config.nodeId });
    },
    send: (node, change) => {
      control.tell(node, { type: 'eventChange', change }).catch((err: unknown) => log.warn({ err }, 'could not send a change of history to a node following it'));
    },
  });
  // Work that runs once for the cluster, on the node holding the leader lease.
  const leader = new Leader(leases, [apps, agents, pruner, ...(config.analytics ? [analytics] : [])], (err, what) => log.error({ err }, what));

  await orgs.ensureDefault();
  tokens.start();
  await events.start();
  await webhooks.start();
  functions.start();
  if (config.analytics) analytics.start();
  // On a store no other node shares, leases left in it are a crashed relayd's (this one's
  // before a restart, under another node id): taken over now, rather than after they run out.
  if (!sharedStore) {
    const taken = await store.releaseOtherLeases(config.nodeId);
    if (taken.length > 0) log.info({ leases: taken.length }, 'took over the work a previous relayd left unfinished');
  }
  await leader.start();
  leases.start();
  if (!hasAdminTokenFile(config.dataDir)) {
    const path = writeAdminTokenFile(config.dataDir, await adminAuth.issue());
    log.info({ path }, 'wrote a new admin token (relay reads it from there)');
  }

  const status = async (): Promise<DaemonStatus> => {
    const all = await Promise.all((await orgs.list()).map((org) => apps.list(org.id)));
    const now = clock.now();
    const live = await nodes.list();
    return {
      status: 'ok',
      version: VERSION,
      node: nodes.id,
      startedAt: new Date(startedAt).toISOString(),
      uptimeMs: now - startedAt,
      connections: live.reduce((sum, n) => sum + n.connections, 0),
      nodes: live.map((n) => ({
        id: n.id,
        url: n.url,
        version: n.version,
        broker: n.broker,
        startedAt: new Date(n.startedAt).toISOString(),
        uptimeMs: now - n.startedAt,
        connections: n.connections,
        lastHeartbeatAt: new Date(n.heartbeatAt).toISOString(),
      })),
      apps: all.flat().map((a) => ({ id: a.id, org: a.org, name: a.name, status: a.status, connected: a.connected, connections: a.connections, channelConnections: a.channelConnections, lastConnectedAt: a.lastConnectedAt })),
      counters: { ...counters },
    };
  };

  let draining = false;
  const isDraining = (): boolean => draining;
  const services: HttpServices = {
    version: VERSION,
    adminAuth,
    apps,
    orgs,
    tokens,
    agents,
    channels,
    channelApps,
    webhooks,
    channelRules,
    encryptionKeys,
    schemas,
    functions,
    analytics,
    usage,
    authTimestampWindowMs: config.authTimestampWindowMs,
    events,
    connections,
    rateLimiter,
    now: () => clock.now(),
    status,
    audit: (q) => listAudit(store, clock, q),
  };
  const relayEndpoint = new RelayEndpoint({ relay, connections, log, pingIntervalMs: config.pingIntervalMs });
  // Timeouts are checked every second rather than node's 30 s, so that --header-timeout means what it says.
  const http = createHttpHandler({ services, routes: routes(services), log, isDraining });
  const server: Server = createServer({ connectionsCheckingInterval: 1000 }, http.listener);
  guardConnections(server, { headerTimeoutMs: config.headerTimeoutMs, maxPerAddress: config.maxConnectionsPerAddress, log });
  const pusherEndpoint = new PusherEndpoint({ channels, connections, log, activityTimeoutMs: config.activityTimeoutMs });
  server.on('upgrade', createUpgradeDispatcher({ '/v1/connect': relayEndpoint.handleUpgrade, '/app/*': pusherEndpoint.handleUpgrade }, { isDraining, log }));
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  lock.setUrl(url);
  const metricsServer: MetricsServer | null = metrics && config.metricsPort !== null ? await startMetricsServer(metrics, { host: config.host, port: config.metricsPort, log }) : null;
  await nodes.start(url);
  log.info({ url, ...(metricsServer && { metricsUrl: metricsServer.url }), node: nodes.id, dataDir: config.dataDir, adminTokenFile: `${config.dataDir}/admin-token`, version: VERSION }, 'relayd listening');

  /** soketi's order: refuse new work, close sockets (1001), drain, close the store, close listeners; all under one deadline. */
  const stop = async (): Promise<void> => {
    const deadline = Date.now() + config.shutdownTimeoutMs;
    draining = true;
    server.close();
    http.endStreams();
    relayEndpoint.stop();
    dispatcher.stop();
    pusherEndpoint.closeAll();
    connections.closeAll(RELAY_CLOSE.goingAway, 'relayd shutting down');
    await Promise.all([relayEndpoint.drain(deadline), pusherEndpoint.drain(deadline)]);
    await channels.drain();
    await channelState.close();
    server.closeIdleConnections();
    await leader.stop();
    await webhooks.stop();
    await functions.stop();
    await events.drain();
    await analytics.stop();
    await dispatcher.release();
    await leases.stop();
    await tokens.stop();
    await nodes.stop().catch((err: unknown) => log.error({ err }, 'could not take this node out of the node list'));
    control.close();
    await broker.close();
    await rateLimiter.close();
    await store.close();
    await metricsServer?.close();
    lock.release();
    server.closeAllConnections();
  };

  return { url, stop };
}
