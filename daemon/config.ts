import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { parseDuration } from '../src/shared/duration.js';
import { ADDRESS_VARIABLES, DEFAULT_HOST, DEFAULT_PORT, dataDirFrom } from '../src/shared/address.js';
import { strayVariableWarnings, type RelaydVariable } from '../src/shared/environment.js';
import { isRateLimitProfile, parseRateLimit } from '../src/shared/rate-limits.js';
import { parseInput } from '../src/shared/schemas.js';
import type { LogLevel } from './log.js';
import type { BrokerLocation } from './broker/index.js';
import type { StoreLocation } from './store/index.js';

/**
 * relayd's configuration: written values (flags, then RELAY_* environment) → schema →
 * normalised Config. One table names every setting, its flag and its variable.
 */
export const SETTINGS = {
  host: { flag: '--host <host>', env: ADDRESS_VARIABLES.host, doc: 'address to listen on', default: DEFAULT_HOST },
  port: { flag: '--port <port>', env: ADDRESS_VARIABLES.port, doc: 'port to listen on (0: any free port)', default: String(DEFAULT_PORT) },
  dataDir: { flag: '--data-dir <dir>', env: ADDRESS_VARIABLES.dataDir, doc: 'where the database, master key and admin token live', default: null },
  logLevel: { flag: '--log-level <level>', env: 'RELAY_LOG_LEVEL', doc: 'debug, info, warn, error or silent', default: 'info' },
  pingInterval: { flag: '--ping-interval <duration>', env: 'RELAY_PING_INTERVAL', doc: 'WebSocket keepalive; a peer silent for two intervals is dropped', default: '25s' },
  shutdownTimeout: { flag: '--shutdown-timeout <duration>', env: 'RELAY_SHUTDOWN_TIMEOUT', doc: 'how long SIGTERM waits for sockets and writes before exiting', default: '10s' },
  historyRetention: { flag: '--history-retention <duration>', env: 'RELAY_HISTORY_RETENTION', doc: 'how long settled events stay in history (pruned in the background)', default: '30d' },
  activityTimeout: { flag: '--activity-timeout <duration>', env: 'RELAY_ACTIVITY_TIMEOUT', doc: 'Pusher activity_timeout: a silent subscriber is pinged after it, and closed (4201) if it stays silent', default: '120s' },
  authTimestampWindow: { flag: '--auth-timestamp-window <duration>', env: 'RELAY_AUTH_TIMESTAMP_WINDOW', doc: 'how far a signed Pusher REST request\'s auth_timestamp may be from relayd\'s clock', default: '600s' },
  webhookTimeout: { flag: '--webhook-timeout <duration>', env: 'RELAY_WEBHOOK_TIMEOUT', doc: 'a webhook attempt without a 2xx answer within this is retried', default: '5s' },
  webhookDebounce: { flag: '--webhook-debounce <duration>', env: 'RELAY_WEBHOOK_DEBOUNCE', doc: 'channel_vacated and member_removed wait this long, and are dropped with their occupied/added if the channel or user is back (Pusher: 3s; 0s: at once)', default: '3s' },
  webhookRetryFor: { flag: '--webhook-retry-for <duration>', env: 'RELAY_WEBHOOK_RETRY_FOR', doc: 'how long a webhook delivery is retried (with backoff) before it is given up', default: '5m' },
  analytics: { flag: '--analytics <on|off>', env: 'RELAY_ANALYTICS', doc: 'count usage per app and minute into the store (relay analytics); off: nothing is counted, and the analytics routes answer 409', default: 'on' },
  analyticsRetention: { flag: '--analytics-retention <duration>', env: 'RELAY_ANALYTICS_RETENTION', doc: 'how long usage analytics are kept (by minute for 2d, by hour for 30d, then by day)', default: '365d' },
  analyticsFlushInterval: { flag: '--analytics-flush-interval <duration>', env: 'RELAY_ANALYTICS_FLUSH_INTERVAL', doc: 'how often each node adds the usage it counted in memory to the store', default: '5s' },
  headerTimeout: { flag: '--header-timeout <duration>', env: 'RELAY_HEADER_TIMEOUT', doc: 'a connection must send its request headers (or WebSocket handshake) within this, or it is closed', default: '10s' },
  maxConnectionsPerAddress: { flag: '--max-connections-per-address <n>', env: 'RELAY_MAX_CONNECTIONS_PER_ADDRESS', doc: 'open connections (HTTP and WebSocket) one client address may hold; 0: no cap', default: '0' },
  webhookAllowPrivate: { flag: '--webhook-allow-private', env: 'RELAY_WEBHOOK_ALLOW_PRIVATE', doc: 'let webhooks call loopback, private, link-local and other non-public addresses', default: 'false' },
  maxAttempts: { flag: '--max-attempts <n>', env: 'RELAY_MAX_ATTEMPTS', doc: 'deliveries of one event to agents that disconnect mid-work before it fails', default: '5' },
  store: { flag: '--store <url>', env: 'RELAY_STORE', doc: 'where state is kept: sqlite:PATH, or postgres://user@host:port/db shared by several nodes', default: null },
  broker: { flag: '--broker <url>', env: 'RELAY_BROKER', doc: 'how nodes pass publications and control messages: memory (one node), or redis://host:port[/db][?prefix=relay:]', default: 'memory' },
  nodeId: { flag: '--node-id <id>', env: 'RELAY_NODE_ID', doc: "this node's name among several (letters, digits, . _ -)", default: null },
  masterKeyFile: { flag: '--master-key-file <path>', env: 'RELAY_MASTER_KEY_FILE', doc: 'the key that seals channel secrets, the same on every node (or the key itself in RELAY_MASTER_KEY)', default: null },
  failedHandshakeLimit: { flag: '--failed-handshake-limit <limit>', env: 'RELAY_FAILED_HANDSHAKE_LIMIT', doc: 'refused credentials a client address may send to /v1/connect (N/min,burst=M) before its handshakes get 429 unchecked; off: no limit', default: '30/min,burst=30' },
  metricsPort: { flag: '--metrics-port <port>', env: 'RELAY_METRICS_PORT', doc: 'serve Prometheus metrics at /metrics on this port, on the --host address (0: any free port; off: none)', default: 'off' },
  metricsMaxApps: { flag: '--metrics-max-apps <n>', env: 'RELAY_METRICS_MAX_APPS', doc: 'apps the metrics name in their app label; the others count together as app="_other"', default: '100' },
} as const satisfies Record<string, { flag: string; env: RelaydVariable; doc: string; default: string | null }>;

export type SettingKey = keyof typeof SETTINGS;
export type WrittenConfig = Partial<Record<SettingKey, string>>;

/** The master key given to the node; null: the data dir's master.key (made at first start). */
export type MasterKeySource = { from: 'file'; path: string } | { from: 'env'; base64: string } | null;

export interface Config {
  store: StoreLocation;
  broker: BrokerLocation;
  nodeId: string;
  masterKey: MasterKeySource;
  host: string;
  port: number;
  dataDir: string;
  logLevel: LogLevel;
  pingIntervalMs: number;
  shutdownTimeoutMs: number;
  historyRetentionMs: number;
  maxAttempts: number;
  activityTimeoutMs: number;
  authTimestampWindowMs: number;
  webhookTimeoutMs: number;
  webhookRetryForMs: number;
  webhookDebounceMs: number;
  headerTimeoutMs: number;
  /** null: no cap. */
  maxConnectionsPerAddress: number | null;
  /** Refused handshake credentials allowed per client address; null: no limit. */
  failedHandshakeLimit: { perMinute: number; burst: number } | null;
  webhookAllowPrivate: boolean;
  /** Whether usage analytics are counted (and can be read). */
  analytics: boolean;
  analyticsRetentionMs: number;
  analyticsFlushMs: number;
  /** null: no metrics listener; 0: any free port. */
  metricsPort: number | null;
  metricsMaxApps: number;
}

const duration = (name: string) =>
  z.string().transform((text, ctx) => {
    try {
      return parseDuration(text, name);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

/** A switch's value as written in the environment (the flag alone writes `true`). */
const boolean = z
  .string()
  .transform((text) => text.trim().toLowerCase())
  .pipe(z.enum(['true', 'false', '1', '0'], { message: 'must be true, false, 1 or 0' }))
  .transform((text) => text === 'true' || text === '1');

/** A URL's text without its password, for messages and logs. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return text.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}

const storeLocation = z.string().transform((text, ctx): StoreLocation => {
  const value = text.trim();
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path.length > 0) return { driver: 'sqlite', path: resolve(path) };
  } else if (/^postgres(ql)?:\/\//.test(value)) {
    try {
      const url = new URL(value);
      if (url.hostname && url.pathname.length > 1) return { driver: 'postgres', url: value };
    } catch {
      // the message below says what is expected
    }
  }
  ctx.addIssue({ code: 'custom', message: `invalid store "${redactUrl(value)}": use sqlite:PATH or postgres://user@host:port/database` });
  return z.NEVER;
});

const brokerLocation = z.string().transform((text, ctx): BrokerLocation => {
  const value = text.trim();
  if (value === 'memory') return { driver: 'memory' };
  if (/^rediss?:\/\//.test(value)) {
    try {
      const url = new URL(value);
      const db = url.pathname.replace(/^\//, '');
      if (url.hostname && (db === '' || /^\d+$/.test(db))) return { driver: 'redis', url: value };
    } catch {
      // the message below says what is expected
    }
  }
  ctx.addIssue({ code: 'custom', message: `invalid broker "${redactUrl(value)}": use memory or redis://host:port[/db]` });
  return z.NEVER;
});

const schema = z.object({
  store: storeLocation.optional(),
  broker: brokerLocation,
  nodeId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a node id is 1 to 63 letters, digits, dots, underscores and hyphens, starting with a letter or digit')
    .optional(),
  masterKeyFile: z.string().min(1).optional(),
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  dataDir: z.string().min(1),
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']),
  pingInterval: duration('ping interval').refine((ms) => ms >= 1000, 'the ping interval must be at least 1s'),
  shutdownTimeout: duration('shutdown timeout'),
  historyRetention: duration('history retention').refine((ms) => ms >= 60_000, 'the history retention must be at least 1m'),
  maxAttempts: z.coerce.number().int().min(1).max(100),
  headerTimeout: duration('header timeout').refine((ms) => ms >= 1000 && ms <= 300_000, 'the header timeout must be between 1s and 5m'),
  maxConnectionsPerAddress: z.coerce.number().int().min(0).max(10_000_000),
  activityTimeout: duration('activity timeout').refine((ms) => ms >= 1000 && ms <= 3_600_000, 'the activity timeout must be between 1s and 1h'),
  authTimestampWindow: duration('auth timestamp window').refine((ms) => ms >= 1000, 'the auth timestamp window must be at least 1s'),
  webhookTimeout: duration('webhook timeout').refine((ms) => ms >= 1000 && ms <= 60_000, 'the webhook timeout must be between 1s and 60s'),
  webhookDebounce: duration('webhook debounce').refine((ms) => ms <= 60_000, 'the webhook debounce must be at most 60s'),
  webhookRetryFor: duration('webhook retry period').refine((ms) => ms >= 1000 && ms <= 7 * 86_400_000, 'the webhook retry period must be between 1s and 7d'),
  analytics: z.enum(['on', 'off'], { message: 'must be on or off' }),
  analyticsRetention: duration('analytics retention').refine((ms) => ms >= 86_400_000, 'the analytics retention must be at least 1d'),
  analyticsFlushInterval: duration('analytics flush interval').refine((ms) => ms >= 1000 && ms <= 60_000, 'the analytics flush interval must be between 1s and 60s'),
  failedHandshakeLimit: z.string().transform((text, ctx) => {
    if (text.trim() === 'off') return null;
    try {
      // The API tokens' profiles are no limit for this.
      if (!isRateLimitProfile(text)) {
        const { perMinute, burst } = parseRateLimit(text);
        return { perMinute, burst };
      }
    } catch {
      // not N/min,burst=M: the issue below says what is
    }
    ctx.addIssue({ code: 'custom', message: `invalid limit "${text}": use N/min,burst=M (say 30/min,burst=30) or off` });
    return z.NEVER;
  }),
  webhookAllowPrivate: boolean,
  metricsPort: z.string().transform((text, ctx) => {
    const value = text.trim();
    if (value === 'off') return null;
    if (/^\d{1,5}$/.test(value) && Number(value) <= 65535) return Number(value);
    ctx.addIssue({ code: 'custom', message: `invalid port "${text}": use a port number (0: any free port) or off` });
    return z.NEVER;
  }),
  metricsMaxApps: z.coerce.number().int().min(0).max(100_000),
});

/** The host's name and a random suffix: readable in `relay status`, and new at every start (a restarted node is a new node). */
function defaultNodeId(): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'node';
  return `${host}-${randomBytes(3).toString('hex')}`;
}

export type ConfigResult = { config: Config; warnings: string[] } | { config: null; errors: string[]; warnings: string[] };

/** An empty variable counts as unset, as the CLI reads them too (`RELAY_PORT=` is not port 0). */
const nonEmpty = (value: string | undefined): string | undefined => (value === '' ? undefined : value);

export async function loadConfig(flags: WrittenConfig, env: NodeJS.ProcessEnv): Promise<ConfigResult> {
  const written: Record<string, string> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [SettingKey, (typeof SETTINGS)[SettingKey]][]) {
    // The data dir as the CLI finds it too (src/shared/address.ts), so that it looks for admin-token where relayd writes it.
    const value = key === 'dataDir' ? (flags.dataDir ?? (await dataDirFrom(env)).dir) : (flags[key] ?? nonEmpty(env[setting.env]) ?? setting.default ?? undefined);
    if (value !== undefined) written[key] = value;
  }
  const warnings = strayVariableWarnings(env);
  const parsed = parseInput(schema, written);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]) as SettingKey;
      const setting = SETTINGS[key];
      return `${setting ? `${setting.flag.split(' ')[0]} / ${setting.env}` : key}: ${issue.message}`;
    });
    return { config: null, errors, warnings };
  }
  const c = parsed.data;
  const masterKeyEnv = nonEmpty(env['RELAY_MASTER_KEY']);
  if (masterKeyEnv !== undefined && c.masterKeyFile !== undefined) {
    return { config: null, errors: ['--master-key-file / RELAY_MASTER_KEY_FILE and RELAY_MASTER_KEY are both set: give the master key one way'], warnings };
  }
  if (c.metricsPort !== null && c.metricsPort !== 0 && c.metricsPort === c.port) {
    return { config: null, errors: [`--metrics-port / RELAY_METRICS_PORT: ${c.metricsPort} is relayd's --port too; give the metrics a port of their own`], warnings };
  }
  const masterKey: MasterKeySource = c.masterKeyFile !== undefined ? { from: 'file', path: resolve(c.masterKeyFile) } : masterKeyEnv !== undefined ? { from: 'env', base64: masterKeyEnv } : null;
  return {
    config: {
      store: c.store ?? { driver: 'sqlite', path: join(c.dataDir, 'relay.db') },
      broker: c.broker,
      nodeId: c.nodeId ?? defaultNodeId(),
      masterKey,
      host: c.host,
      port: c.port,
      dataDir: c.dataDir,
      logLevel: c.logLevel,
      pingIntervalMs: c.pingInterval,
      shutdownTimeoutMs: c.shutdownTimeout,
      historyRetentionMs: c.historyRetention,
      maxAttempts: c.maxAttempts,
      activityTimeoutMs: c.activityTimeout,
      authTimestampWindowMs: c.authTimestampWindow,
      webhookTimeoutMs: c.webhookTimeout,
      webhookRetryForMs: c.webhookRetryFor,
      webhookDebounceMs: c.webhookDebounce,
      headerTimeoutMs: c.headerTimeout,
      maxConnectionsPerAddress: c.maxConnectionsPerAddress === 0 ? null : c.maxConnectionsPerAddress,
      failedHandshakeLimit: c.failedHandshakeLimit,
      webhookAllowPrivate: c.webhookAllowPrivate,
      analytics: c.analytics === 'on',
      analyticsRetentionMs: c.analyticsRetention,
      analyticsFlushMs: c.analyticsFlushInterval,
      metricsPort: c.metricsPort,
      metricsMaxApps: c.metricsMaxApps,
    },
    warnings,
  };
}
