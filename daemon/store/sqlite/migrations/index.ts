/**
 * Numbered schema migrations, applied in order at start inside one transaction each.
 * Never edit a released migration: add the next number.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE orgs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE admin_tokens (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE apps (
        org TEXT NOT NULL REFERENCES orgs(id),
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
        created_at INTEGER NOT NULL,
        last_connected_at INTEGER,
        rate_limit_profile TEXT NOT NULL,
        channel_key TEXT NOT NULL UNIQUE,
        channel_secret_enc TEXT NOT NULL,
        PRIMARY KEY (org, id)
      ) STRICT;
      CREATE INDEX apps_by_id ON apps(id);

      CREATE TABLE app_tokens (
        id TEXT PRIMARY KEY,
        org TEXT NOT NULL,
        app_id TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        valid_until INTEGER,
        FOREIGN KEY (org, app_id) REFERENCES apps(org, id)
      ) STRICT;
      CREATE INDEX app_tokens_by_app ON app_tokens(app_id, valid_until);

      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        org TEXT,
        target_type TEXT NOT NULL,
        target_id TEXT NOT NULL,
        details TEXT NOT NULL
      ) STRICT;
      CREATE INDEX audit_by_time ON audit(at);
    `,
  },
  {
    version: 2,
    name: 'api-tokens-and-events',
    sql: `
      CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        org TEXT NOT NULL,
        app_id TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        scopes TEXT NOT NULL,
        rate_limit TEXT,
        hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        last_used_at INTEGER,
        revoked_at INTEGER,
        FOREIGN KEY (org, app_id) REFERENCES apps(org, id)
      ) STRICT;
      CREATE INDEX api_tokens_by_app ON api_tokens(org, app_id, created_at);

      CREATE TABLE events (
        id TEXT PRIMARY KEY,
        org TEXT NOT NULL,
        app_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('agent', 'channel')),
        agent TEXT,
        thread TEXT,
        name TEXT,
        status TEXT NOT NULL,
        channels TEXT,
        payload TEXT,
        socket_id TEXT,
        latency_ms INTEGER,
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX events_by_app ON events(org, app_id, id);
    `,
  },
  {
    version: 3,
    name: 'agents-and-allowlists',
    sql: `
      CREATE TABLE agents (
        org TEXT NOT NULL REFERENCES orgs(id),
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
        timeout_ms INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        last_connected_at INTEGER,
        PRIMARY KEY (org, id)
      ) STRICT;

      CREATE TABLE agent_tokens (
        id TEXT PRIMARY KEY,
        org TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        valid_until INTEGER,
        FOREIGN KEY (org, agent_id) REFERENCES agents(org, id)
      ) STRICT;
      CREATE INDEX agent_tokens_by_agent ON agent_tokens(org, agent_id);

      CREATE TABLE app_allowed_agents (
        org TEXT NOT NULL,
        app_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        PRIMARY KEY (org, app_id, agent_id),
        FOREIGN KEY (org, app_id) REFERENCES apps(org, id),
        FOREIGN KEY (org, agent_id) REFERENCES agents(org, id)
      ) STRICT;
    `,
  },
  {
    version: 4,
    name: 'agent-relay',
    sql: `
      ALTER TABLE events ADD COLUMN ref TEXT;
      ALTER TABLE events ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE events ADD COLUMN reply TEXT;
      ALTER TABLE events ADD COLUMN error TEXT;
      ALTER TABLE events ADD COLUMN outcome_at INTEGER;
      ALTER TABLE events ADD COLUMN acked_at INTEGER;

      -- The work still owed after a restart: agent events not yet acked by their app.
      CREATE INDEX events_unsettled ON events(id) WHERE kind = 'agent' AND acked_at IS NULL AND status != 'rejected';
      CREATE INDEX events_by_org ON events(org, id);
      CREATE INDEX events_by_time ON events(created_at);

      -- seq is a monotonic number for every change, so that readers can resume where they left off.
      CREATE TABLE event_timeline (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        type TEXT NOT NULL,
        detail TEXT
      ) STRICT;
      CREATE INDEX event_timeline_by_event ON event_timeline(event_id, seq);
    `,
  },
  {
    version: 5,
    name: 'channel settings',
    sql: `
      -- Pusher-protocol client events (off until the app turns them on), and the app's
      -- channel limits that differ from the defaults, as a JSON object.
      ALTER TABLE apps ADD COLUMN client_events INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE apps ADD COLUMN channel_limits TEXT NOT NULL DEFAULT '{}';
    `,
  },
  {
    version: 6,
    name: 'webhooks',
    sql: `
      CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        org TEXT NOT NULL,
        app_id TEXT NOT NULL,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_attempt_at INTEGER,
        last_status_code INTEGER,
        last_error TEXT,
        failures_in_row INTEGER NOT NULL DEFAULT 0,
        FOREIGN KEY (org, app_id) REFERENCES apps(org, id)
      ) STRICT;
      CREATE INDEX webhooks_by_app ON webhooks(org, app_id, created_at);

      -- The outbox: a delivery (one POST body) is stored before it is attempted.
      CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        body TEXT NOT NULL,
        event_names TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER,
        settled_at INTEGER
      ) STRICT;
      CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
      CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries(webhook_id, id);
      CREATE INDEX webhook_deliveries_settled ON webhook_deliveries(settled_at) WHERE status != 'pending';

      CREATE TABLE webhook_attempts (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
        at INTEGER NOT NULL,
        status_code INTEGER,
        duration_ms INTEGER NOT NULL,
        error TEXT
      ) STRICT;
      CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts(delivery_id, seq);
    `,
  },
  {
    version: 7,
    name: 'subscription counting',
    sql: `
      -- Pusher's subscription counting: pusher_internal:subscription_count to the
      -- subscribers of non-presence channels, and the subscription_count webhook (off until
      -- the app turns it on).
      ALTER TABLE apps ADD COLUMN subscription_count INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 8,
    name: 'history by id ranges',
    sql: `
      -- Event ids are ULIDs of their creation time, so a time range of history is a range of
      -- the primary key (or of events_by_org and events_by_app): one index fewer to keep up
      -- on every event written.
      DROP INDEX events_by_time;
    `,
  },
  {
    version: 9,
    name: 'history of an organization by its apps',
    sql: `
      -- An organization's history is read as the newest events of each of its apps, merged
      -- (apps are never deleted, so every event belongs to one of them): events_by_app serves
      -- both, and every event written keeps one index fewer up to date.
      DROP INDEX events_by_org;
    `,
  },
  {
    version: 10,
    name: 'app token lookup ids',
    sql: `
      -- An app token's random part starts with a public lookup id: a handshake reads the one
      -- token it names and compares at most one bcrypt hash; an unknown one costs no hash.
      -- Tokens issued before have none (NULL) and keep working until their app is rotated.
      ALTER TABLE app_tokens ADD COLUMN lookup_id TEXT;
      CREATE UNIQUE INDEX app_tokens_by_lookup_id ON app_tokens(lookup_id) WHERE lookup_id IS NOT NULL;
    `,
  },
  {
    version: 11,
    name: 'changes with the state they leave',
    sql: `
      -- Each change (a row of event_timeline, numbered by seq) keeps the event's status and
      -- latency as that change left them, so that a reader resuming after a seq (relay events
      -- tail reconnecting) is told each change as the live feed told it. Rows of before have
      -- NULL: their event's current state stands in.
      ALTER TABLE event_timeline ADD COLUMN status TEXT;
      ALTER TABLE event_timeline ADD COLUMN latency_ms INTEGER;
    `,
  },
  {
    version: 12,
    name: 'deleted apps',
    sql: `
      -- Apps can now be deleted (only inactive ones). Their history stays unless it is purged,
      -- so the id is remembered: it is not handed to a new app that would then read the old
      -- app's events (unless the history was purged, purged_at set). An organization's history
      -- is read per app id (migration 9): the ids of deleted apps whose history is kept count.
      -- Written to apply whether or not migration 11 ran before it.
      CREATE TABLE deleted_apps (
        org TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        deleted_at INTEGER NOT NULL,
        purged_at INTEGER,
        PRIMARY KEY (org, id)
      ) STRICT;
    `,
  },
  {
    version: 13,
    name: 'settings and nodes',
    sql: `
      -- Several relayd can share one store (PostgreSQL): settings holds what they must agree
      -- on (the master key's fingerprint), nodes who is alive (a heartbeat each).
      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
      CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        broker TEXT NOT NULL,
        version TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        connections INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 14,
    name: 'leases',
    sql: `
      -- Work that one node at a time does (background jobs, an agent's queue): the node that
      -- holds a lease renews it; when it stops renewing, another takes the lease over.
      CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX leases_by_holder ON leases (holder);
    `,
  },
  {
    version: 15,
    name: 'webhook delivery claims',
    sql: `
      -- Several nodes share the outbox: one node at a time makes a delivery's attempts. It
      -- claims the delivery until a time and renews the claim while it holds it; once the claim
      -- lapses (the node died), another node claims it. Each attempt names the node that made it.
      ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT;
      ALTER TABLE webhook_deliveries ADD COLUMN claimed_until INTEGER;
      ALTER TABLE webhook_attempts ADD COLUMN node TEXT;
    `,
  },
  {
    version: 16,
    name: 'channel rules',
    sql: `
      -- Settings for the channels whose names match a pattern (an exact name, or a prefix
      -- ending in *), per app; a NULL setting inherits the app's (or the daemon's). A channel
      -- event written under a rule with a retention carries its own expiry (expires_at), which
      -- the pruner honours instead of the daemon's retention.
      CREATE TABLE channel_rules (
        id TEXT PRIMARY KEY,
        org TEXT NOT NULL,
        app_id TEXT NOT NULL,
        pattern TEXT NOT NULL,
        schema TEXT,
        schema_event TEXT,
        client_events INTEGER,
        history INTEGER,
        retention_ms INTEGER,
        max_members INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (org, app_id, pattern)
      ) STRICT;
      ALTER TABLE events ADD COLUMN expires_at INTEGER;
      CREATE INDEX events_expiring ON events (expires_at) WHERE expires_at IS NOT NULL;
    `,
  },
  {
    version: 17,
    name: 'event schemas',
    sql: `
      -- An app's JSON Schemas (issue 18): each update adds a version, older ones stay readable.
      -- Removing a schema deletes its versions (the audit log keeps who removed it, and when).
      CREATE TABLE schema_versions (
        org TEXT NOT NULL,
        app_id TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        document TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        PRIMARY KEY (org, app_id, name, version)
      ) STRICT;
      -- An agent's payloads must match this schema (of any app of its organization), when set.
      ALTER TABLE agents ADD COLUMN schema_app_id TEXT;
      ALTER TABLE agents ADD COLUMN schema_name TEXT;
      CREATE INDEX agents_by_schema ON agents (org, schema_app_id, schema_name) WHERE schema_app_id IS NOT NULL;
    `,
  },
  {
    version: 18,
    name: 'encryption keys',
    sql: `
      -- An app's encryption keys (issue 18): the key bytes sealed under the node master key,
      -- destroyed (NULL) when the key is retired. At most one active key per app. Events name
      -- the key that sealed their payload and reply (NULL: stored as sent).
      CREATE TABLE encryption_keys (
        id TEXT PRIMARY KEY,
        org TEXT NOT NULL,
        app_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'decrypt-only', 'retired')),
        material TEXT,
        created_at INTEGER NOT NULL,
        rotated_at INTEGER,
        retired_at INTEGER,
        CHECK ((state = 'retired') = (material IS NULL))
      ) STRICT;
      CREATE INDEX encryption_keys_by_app ON encryption_keys (org, app_id, id);
      CREATE UNIQUE INDEX encryption_keys_one_active ON encryption_keys (org, app_id) WHERE state = 'active';
      ALTER TABLE events ADD COLUMN key_id TEXT;
    `,
  },
  {
    version: 19,
    name: 'edge functions',
    sql: `
      -- An app's edge functions (issue 19). Each deploy adds a version (never changed after);
      -- functions holds which version runs (a rollback points it back) and the counts every
      -- node adds to. function_logs is what the functions printed and their failures, bounded
      -- per function by the writer (the newest lines are kept); seq is what --follow reads after.
      CREATE TABLE function_versions (
        org TEXT NOT NULL,
        app_id TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        source TEXT NOT NULL,
        trigger TEXT NOT NULL CHECK (trigger IN ('before-publish', 'after-publish', 'before-dispatch')),
        channels TEXT,
        event TEXT,
        agent TEXT,
        timeout_ms INTEGER NOT NULL,
        memory_bytes INTEGER NOT NULL,
        on_error TEXT NOT NULL CHECK (on_error IN ('reject', 'pass')),
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        PRIMARY KEY (org, app_id, name, version)
      ) STRICT;
      CREATE TABLE functions (
        org TEXT NOT NULL,
        app_id TEXT NOT NULL,
        name TEXT NOT NULL,
        active_version INTEGER NOT NULL,
        latest_version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        calls INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        timeouts INTEGER NOT NULL DEFAULT 0,
        dropped INTEGER NOT NULL DEFAULT 0,
        last_failure_at INTEGER,
        PRIMARY KEY (org, app_id, name)
      ) STRICT;
      CREATE TABLE function_logs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        org TEXT NOT NULL,
        app_id TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        at INTEGER NOT NULL,
        node TEXT NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL
      ) STRICT;
      CREATE INDEX function_logs_by_function ON function_logs (org, app_id, name, seq);
    `,
  },
  {
    version: 20,
    name: 'usage analytics',
    sql: `
      -- Each app's usage (issue 20): one row per app, node and bucket of time, its counts as
      -- JSON (UsageCounts; fields are added over releases without a migration). Minutes are
      -- rolled up into hours and hours into days, across nodes (node ''), and days pruned.
      -- The key serves one app's series; usage_by_org an organization's; usage_by_age the
      -- rollups and the pruning, which go by resolution and age alone.
      CREATE TABLE usage (
        org TEXT NOT NULL,
        app_id TEXT NOT NULL,
        resolution TEXT NOT NULL CHECK (resolution IN ('minute', 'hour', 'day')),
        start INTEGER NOT NULL,
        node TEXT NOT NULL,
        counts TEXT NOT NULL,
        PRIMARY KEY (org, app_id, resolution, start, node)
      ) STRICT;
      CREATE INDEX usage_by_org ON usage (org, resolution, start);
      CREATE INDEX usage_by_age ON usage (resolution, start);
    `,
  },
];
