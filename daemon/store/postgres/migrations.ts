import type { Migration } from '../sqlite/migrations/index.js';

/**
 * PostgreSQL's schema, in the same numbered steps as SQLite's (daemon/store/sqlite/migrations):
 * a version here makes the same change as the version of that number there, so the next
 * migration is added to both with one number. Never edit a released migration: add the next.
 *
 * Beside SQLite: every integer is BIGINT (SQLite's are 64-bit; the pool reads int8 as a
 * number), flags are BOOLEAN, JSON stays TEXT (read and written as SQLite's are), the
 * AUTOINCREMENT keys are identities, and the text keys that are sorted or compared by range
 * are COLLATE "C", so that they order byte by byte as in SQLite whatever the database's locale.
 */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE orgs (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );

      CREATE TABLE admin_tokens (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL
      );

      CREATE TABLE apps (
        org TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
        id TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
        created_at BIGINT NOT NULL,
        last_connected_at BIGINT,
        rate_limit_profile TEXT NOT NULL,
        channel_key TEXT NOT NULL CONSTRAINT apps_channel_key_key UNIQUE,
        channel_secret_enc TEXT NOT NULL,
        PRIMARY KEY (org, id)
      );
      CREATE INDEX apps_by_id ON apps(id);

      CREATE TABLE app_tokens (
        id TEXT PRIMARY KEY,
        org TEXT COLLATE "C" NOT NULL,
        app_id TEXT COLLATE "C" NOT NULL,
        hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        valid_until BIGINT,
        FOREIGN KEY (org, app_id) REFERENCES apps(org, id)
      );
      CREATE INDEX app_tokens_by_app ON app_tokens(app_id, valid_until);

      CREATE TABLE audit (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        org TEXT,
        target_type TEXT NOT NULL,
        target_id TEXT NOT NULL,
        details TEXT NOT NULL
      );
      CREATE INDEX audit_by_time ON audit(at);
    `,
  },
  {
    version: 2,
    name: 'api-tokens-and-events',
    sql: `
      CREATE TABLE api_tokens (
        id TEXT COLLATE "C" PRIMARY KEY,
        org TEXT COLLATE "C" NOT NULL,
        app_id TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        scopes TEXT NOT NULL,
        rate_limit TEXT,
        hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        last_used_at BIGINT,
        revoked_at BIGINT,
        FOREIGN KEY (org, app_id) REFERENCES apps(org, id)
      );
      CREATE INDEX api_tokens_by_app ON api_tokens(org, app_id, created_at);

      CREATE TABLE events (
        id TEXT COLLATE "C" PRIMARY KEY,
        org TEXT COLLATE "C" NOT NULL,
        app_id TEXT COLLATE "C" NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('agent', 'channel')),
        agent TEXT,
        thread TEXT,
        name TEXT,
        status TEXT NOT NULL,
        channels TEXT,
        payload TEXT,
        socket_id TEXT,
        latency_ms BIGINT,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX events_by_app ON events(org, app_id, id);
    `,
  },
  {
    version: 3,
    name: 'agents-and-allowlists',
    sql: `
      CREATE TABLE agents (
        org TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
        id TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
        timeout_ms BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        last_connected_at BIGINT,
        PRIMARY KEY (org, id)
      );

      CREATE TABLE agent_tokens (
        id TEXT PRIMARY KEY,
        org TEXT COLLATE "C" NOT NULL,
        agent_id TEXT COLLATE "C" NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        valid_until BIGINT,
        FOREIGN KEY (org, agent_id) REFERENCES agents(org, id)
      );
      CREATE INDEX agent_tokens_by_agent ON agent_tokens(org, agent_id);

      CREATE TABLE app_allowed_agents (
        org TEXT COLLATE "C" NOT NULL,
        app_id TEXT COLLATE "C" NOT NULL,
        agent_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (org, app_id, agent_id),
        FOREIGN KEY (org, app_id) REFERENCES apps(org, id),
        FOREIGN KEY (org, agent_id) REFERENCES agents(org, id)
      );
    `,
  },
  {
    version: 4,
    name: 'agent-relay',
    sql: `
      ALTER TABLE events ADD COLUMN ref TEXT;
      ALTER TABLE events ADD COLUMN attempt BIGINT NOT NULL DEFAULT 0;
      ALTER TABLE events ADD COLUMN reply TEXT;
      ALTER TABLE events ADD COLUMN error TEXT;
      ALTER TABLE events ADD COLUMN outcome_at BIGINT;
      ALTER TABLE events ADD COLUMN acked_at BIGINT;

      -- The work still owed after a restart: agent events not yet acked by their app.
      CREATE INDEX events_unsettled ON events(id) WHERE kind = 'agent' AND acked_at IS NULL AND status != 'rejected';
      CREATE INDEX events_by_org ON events(org, id);
      CREATE INDEX events_by_time ON events(created_at);

      -- seq is a monotonic number for every change, so that readers can resume where they
      -- left off. EventLog gives it (from blocks reserved in change_seqs), so it is a plain key.
      CREATE TABLE event_timeline (
        seq BIGINT PRIMARY KEY,
        event_id TEXT COLLATE "C" NOT NULL,
        at BIGINT NOT NULL,
        type TEXT NOT NULL,
        detail TEXT
      );
      CREATE INDEX event_timeline_by_event ON event_timeline(event_id, seq);

      -- What SQLite's sqlite_sequence keeps for event_timeline, for nodes sharing the store:
      -- the highest seq reserved by a node, and the highest seq of a change whose row was
      -- deleted (pruned, purged), so that no seq is given twice once its row is gone.
      CREATE TABLE change_seqs (
        single BOOLEAN PRIMARY KEY DEFAULT true CHECK (single),
        reserved BIGINT NOT NULL,
        removed BIGINT NOT NULL
      );
      INSERT INTO change_seqs (reserved, removed) VALUES (0, 0);
    `,
  },
  {
    version: 5,
    name: 'channel settings',
    sql: `
      -- Pusher-protocol client events (off until the app turns them on), and the app's
      -- channel limits that differ from the defaults, as a JSON object.
      ALTER TABLE apps ADD COLUMN client_events BOOLEAN NOT NULL DEFAULT false;
      ALTER TABLE apps ADD COLUMN channel_limits TEXT NOT NULL DEFAULT '{}';
    `,
  },
  {
    version: 6,
    name: 'webhooks',
    sql: `
      CREATE TABLE webhooks (
        id TEXT COLLATE "C" PRIMARY KEY,
        org TEXT COLLATE "C" NOT NULL,
        app_id TEXT COLLATE "C" NOT NULL,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_attempt_at BIGINT,
        last_status_code BIGINT,
        last_error TEXT,
        failures_in_row BIGINT NOT NULL DEFAULT 0,
        FOREIGN KEY (org, app_id) REFERENCES apps(org, id)
      );
      CREATE INDEX webhooks_by_app ON webhooks(org, app_id, created_at);

      -- The outbox: a delivery (one POST body) is stored before it is attempted.
      CREATE TABLE webhook_deliveries (
        id TEXT COLLATE "C" PRIMARY KEY,
        webhook_id TEXT COLLATE "C" NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        body TEXT NOT NULL,
        event_names TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts BIGINT NOT NULL DEFAULT 0,
        next_attempt_at BIGINT,
        settled_at BIGINT
      );
      CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
      CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries(webhook_id, id);
      CREATE INDEX webhook_deliveries_settled ON webhook_deliveries(settled_at) WHERE status != 'pending';

      CREATE TABLE webhook_attempts (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_id TEXT COLLATE "C" NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
        at BIGINT NOT NULL,
        status_code BIGINT,
        duration_ms BIGINT NOT NULL,
        error TEXT
      );
      CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts(delivery_id, seq);
    `,
  },
  {
    version: 7,
    name: 'subscription counting',
    sql: `
      ALTER TABLE apps ADD COLUMN subscription_count BOOLEAN NOT NULL DEFAULT false;
    `,
  },
  {
    version: 8,
    name: 'history by id ranges',
    sql: `
      DROP INDEX events_by_time;
    `,
  },
  {
    version: 9,
    name: 'history of an organization by its apps',
    sql: `
      DROP INDEX events_by_org;
    `,
  },
  {
    version: 10,
    name: 'app token lookup ids',
    sql: `
      ALTER TABLE app_tokens ADD COLUMN lookup_id TEXT;
      CREATE UNIQUE INDEX app_tokens_by_lookup_id ON app_tokens(lookup_id) WHERE lookup_id IS NOT NULL;
    `,
  },
  {
    version: 11,
    name: 'changes with the state they leave',
    sql: `
      ALTER TABLE event_timeline ADD COLUMN status TEXT;
      ALTER TABLE event_timeline ADD COLUMN latency_ms BIGINT;
    `,
  },
  {
    version: 12,
    name: 'deleted apps',
    sql: `
      CREATE TABLE deleted_apps (
        org TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        deleted_at BIGINT NOT NULL,
        purged_at BIGINT,
        PRIMARY KEY (org, id)
      );
    `,
  },
  {
    version: 13,
    name: 'settings and nodes',
    sql: `
      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE nodes (
        id TEXT COLLATE "C" PRIMARY KEY,
        url TEXT NOT NULL,
        broker TEXT NOT NULL,
        version TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL,
        connections BIGINT NOT NULL
      );
    `,
  },
  {
    version: 14,
    name: 'leases',
    sql: `
      CREATE TABLE leases (
        name TEXT COLLATE "C" PRIMARY KEY,
        holder TEXT COLLATE "C" NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX leases_by_holder ON leases (holder);
    `,
  },
  {
    version: 15,
    name: 'webhook delivery claims',
    sql: `
      ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT COLLATE "C";
      ALTER TABLE webhook_deliveries ADD COLUMN claimed_until BIGINT;
      ALTER TABLE webhook_attempts ADD COLUMN node TEXT COLLATE "C";
    `,
  },
  {
    version: 16,
    name: 'channel rules',
    sql: `
      CREATE TABLE channel_rules (
        id TEXT COLLATE "C" PRIMARY KEY,
        org TEXT COLLATE "C" NOT NULL,
        app_id TEXT COLLATE "C" NOT NULL,
        pattern TEXT COLLATE "C" NOT NULL,
        schema TEXT,
        schema_event TEXT,
        client_events BOOLEAN,
        history BOOLEAN,
        retention_ms BIGINT,
        max_members BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (org, app_id, pattern)
      );
      ALTER TABLE events ADD COLUMN expires_at BIGINT;
      CREATE INDEX events_expiring ON events (expires_at) WHERE expires_at IS NOT NULL;
    `,
  },
  {
    version: 17,
    name: 'event schemas',
    sql: `
      CREATE TABLE schema_versions (
        org TEXT COLLATE "C" NOT NULL,
        app_id TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        document TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        created_by TEXT NOT NULL,
        PRIMARY KEY (org, app_id, name, version)
      );
      ALTER TABLE agents ADD COLUMN schema_app_id TEXT COLLATE "C";
      ALTER TABLE agents ADD COLUMN schema_name TEXT COLLATE "C";
      CREATE INDEX agents_by_schema ON agents (org, schema_app_id, schema_name) WHERE schema_app_id IS NOT NULL;
    `,
  },
  {
    version: 18,
    name: 'encryption keys',
    sql: `
      CREATE TABLE encryption_keys (
        id TEXT COLLATE "C" PRIMARY KEY,
        org TEXT COLLATE "C" NOT NULL,
        app_id TEXT COLLATE "C" NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'decrypt-only', 'retired')),
        material TEXT,
        created_at BIGINT NOT NULL,
        rotated_at BIGINT,
        retired_at BIGINT,
        CHECK ((state = 'retired') = (material IS NULL))
      );
      CREATE INDEX encryption_keys_by_app ON encryption_keys (org, app_id, id);
      CREATE UNIQUE INDEX encryption_keys_one_active ON encryption_keys (org, app_id) WHERE state = 'active';
      ALTER TABLE events ADD COLUMN key_id TEXT COLLATE "C";
    `,
  },
  {
    version: 19,
    name: 'edge functions',
    sql: `
      CREATE TABLE function_versions (
        org TEXT COLLATE "C" NOT NULL,
        app_id TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        source TEXT NOT NULL,
        trigger TEXT NOT NULL CHECK (trigger IN ('before-publish', 'after-publish', 'before-dispatch')),
        channels TEXT,
        event TEXT,
        agent TEXT COLLATE "C",
        timeout_ms BIGINT NOT NULL,
        memory_bytes BIGINT NOT NULL,
        on_error TEXT NOT NULL CHECK (on_error IN ('reject', 'pass')),
        created_at BIGINT NOT NULL,
        created_by TEXT NOT NULL,
        PRIMARY KEY (org, app_id, name, version)
      );
      CREATE TABLE functions (
        org TEXT COLLATE "C" NOT NULL,
        app_id TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        active_version BIGINT NOT NULL,
        latest_version BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        calls BIGINT NOT NULL DEFAULT 0,
        failures BIGINT NOT NULL DEFAULT 0,
        timeouts BIGINT NOT NULL DEFAULT 0,
        dropped BIGINT NOT NULL DEFAULT 0,
        last_failure_at BIGINT,
        PRIMARY KEY (org, app_id, name)
      );
      CREATE TABLE function_logs (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        org TEXT COLLATE "C" NOT NULL,
        app_id TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        at BIGINT NOT NULL,
        node TEXT NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL
      );
      CREATE INDEX function_logs_by_function ON function_logs (org, app_id, name, seq);
    `,
  },
  {
    version: 20,
    name: 'usage analytics',
    sql: `
      CREATE TABLE usage (
        org TEXT COLLATE "C" NOT NULL,
        app_id TEXT COLLATE "C" NOT NULL,
        resolution TEXT NOT NULL CHECK (resolution IN ('minute', 'hour', 'day')),
        start BIGINT NOT NULL,
        node TEXT COLLATE "C" NOT NULL,
        counts TEXT NOT NULL,
        PRIMARY KEY (org, app_id, resolution, start, node)
      );
      CREATE INDEX usage_by_org ON usage (org, resolution, start);
      CREATE INDEX usage_by_age ON usage (resolution, start);
    `,
  },
];
