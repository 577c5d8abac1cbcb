/**
 * The "Examples:" section of the main verbs' --help, as gh shows it: by command path, next
 * to nothing else so that it reads as a page of recipes. A `#` line says what the next does.
 * `withExamples` (common.ts) refuses a path that is not a command, so these cannot drift.
 */
export const EXAMPLES: Record<string, string[]> = {
  'apps register': [
    '# register an app, keeping its token (shown once) in a variable',
    'APP_TOKEN=$(relay apps register --id acme-pm --name "Acme PM" -q)',
    'relay apps register --id acme-pm --name "Acme PM" --description "project management"',
  ],
  'apps list': ['relay apps list', '# the ids of the apps connected now', "relay apps list --jq '.apps[] | select(.connected) | .id'"],
  'apps show': ['relay apps show acme-pm', 'relay apps show acme-pm --jq .recentEvents'],
  'apps deactivate': ['relay apps deactivate acme-pm', '# in a script, where nobody can answer a prompt', 'relay apps deactivate acme-pm --yes'],
  'apps delete': [
    'relay apps deactivate acme-pm --yes && relay apps delete acme-pm --yes',
    '# delete its event history too, which frees the id',
    'relay apps delete acme-pm --purge --yes',
  ],
  'apps rotate': [
    '# a new app token; the old one keeps working for 15 minutes',
    'relay apps rotate acme-pm --grace 15m',
    'APP_TOKEN=$(relay apps rotate acme-pm -q)',
    '# a new channel secret (Pusher SDKs, webhook signatures), at once',
    'relay apps rotate acme-pm --channel-secret',
  ],
  'apps credentials': ['relay apps credentials acme-pm', 'PUSHER_SECRET=$(relay apps credentials acme-pm --jq .secret)'],
  'agents register': [
    'AGENT_TOKEN=$(relay agents register --id athena --name Athena -q)',
    '# an agent that may take up to 10 minutes to reply',
    'relay agents register --id athena --name Athena --timeout 10m',
  ],
  'agents list': ['relay agents list', '# the agents that are not connected', "relay agents list --jq '.agents[] | select(.connected | not) | .id'"],
  'agents update': [
    '# every payload an app sends athena must match the order schema of acme-pm',
    'relay agents update athena --schema acme-pm/order',
    'relay agents update athena --schema none',
    'relay agents update athena --timeout 10m',
  ],
  'agents delete': ['relay agents deactivate athena --yes && relay agents delete athena --yes', 'relay agents delete athena --purge --yes'],
  'tokens create': [
    '# a token that can only publish, for CI, expiring in 30 days',
    'TOKEN=$(relay tokens create --app acme-pm --name ci --scope events:publish --expires 30d -q)',
    "relay tokens create --app acme-pm --name backend --scope 'events:*' --scope channels:read --rate-limit api-heavy",
  ],
  'tokens list': ['relay tokens list --app acme-pm', "relay tokens list --app acme-pm --jq '.tokens[] | select(.status == \"active\") | .id'"],
  'tokens revoke': ['relay tokens revoke tok_4fQm8Zk2LpR7xW1a', 'relay tokens revoke tok_4fQm8Zk2LpR7xW1a --yes'],
  'events list': [
    'relay events list --app acme-pm --status failed --since 1h',
    '# the next page: the id a full page ends with (relay prints the command on stderr)',
    'relay events list --limit 1000 --before evt_01JEXAMPLE0000000000000000',
  ],
  'events show': ['relay events show evt_01JEXAMPLE0000000000000000', 'relay events show evt_01JEXAMPLE0000000000000000 --jq .timeline'],
  'events tail': ['relay events tail --app acme-pm', '# failures only, one JSON object a line', 'relay events tail --status failed --json'],
  'schemas add': [
    'relay schemas add --app acme-pm --name order --file order.schema.json',
    '# from stdin',
    'curl -s https://example.com/order.schema.json | relay schemas add --app acme-pm --name order --file -',
  ],
  'schemas update': ['# a new version; the previous ones stay readable', 'relay schemas update order --app acme-pm --file order.schema.json'],
  'schemas show': ['relay schemas show order --app acme-pm > order.schema.json', 'relay schemas show order --app acme-pm --version 1 --json'],
  'schemas remove': ['relay schemas remove order --app acme-pm --yes', '# even while a channel rule or an agent uses it (they are unbound)', 'relay schemas remove order --app acme-pm --force --yes'],
  'functions deploy': [
    "relay functions deploy --app acme-pm --name redact --file redact.js --trigger before-dispatch --agent athena",
    "relay functions deploy --app acme-pm --name spam-filter --file filter.js --trigger before-publish --channels 'chat-*' --timeout 20ms",
    '# in a script: only the new version number',
    "V=$(relay functions deploy --app acme-pm --name fan-out --file fan-out.js --trigger after-publish --channels 'orders-*' --on-error pass -q)",
  ],
  'functions list': ['relay functions list --app acme-pm', '# the functions that have failed', "relay functions list --app acme-pm --jq '.functions[] | select(.stats.failures > 0) | .name'"],
  'functions show': ['relay functions show redact --app acme-pm', 'relay functions show redact --app acme-pm --version 1 --jq .function.source > redact.v1.js'],
  'functions rollback': ['relay functions rollback redact --app acme-pm --to 1'],
  'functions remove': ['relay functions remove redact --app acme-pm --yes'],
  'functions logs': ['relay functions logs redact --app acme-pm', '# follow it live, as JSON lines', 'relay functions logs redact --app acme-pm --follow --json'],
  'functions test': [
    'relay functions test spam-filter --app acme-pm --event \'{"channel":"chat-1","event":"message","data":{"text":"hi"}}\'',
    'relay functions test redact --app acme-pm --event @event.json --version 2',
  ],
  'webhooks add': [
    'relay webhooks add --app acme-pm --url https://example.com/relay-hooks',
    'relay webhooks add --app acme-pm --url https://example.com/relay-hooks --event event_failed --event connection_closed',
  ],
  'webhooks list': ['relay webhooks list --app acme-pm'],
  'channels rules add': [
    "# live prices: delivered, never kept in history",
    "relay channels rules add --app acme-pm --pattern 'prices-*' --history off",
    "relay channels rules add --app acme-pm --pattern 'private-chat-*' --client-events on --retention 7d",
    "relay channels rules add --app acme-pm --pattern 'presence-standup' --max-members 12",
  ],
  'channels rules update': ['# back to the app\'s switch', 'relay channels rules update chr_01JF3Q6W8X9Y2Z3A4B5C6D7E8F --client-events default'],
  'channels rules test': ['relay channels rules test --app acme-pm private-chat-42'],
  'webhooks deliveries': ['relay webhooks deliveries wh_8kTq2mZ4vN7pR1cX --limit 50'],
  'connections list': ['relay connections list', 'relay connections list --app acme-pm'],
  'connections close': ['relay connections close conn_9xLp3QmZ7tR2vB4k --yes'],
  analytics: [
    '# the whole organization over the last 24 hours: totals, then charts',
    'relay analytics',
    'relay analytics --app acme-pm --since 7d --by day',
    'relay analytics --app acme-pm --since 2026-12-01 --until 2026-12-02 --metric agentAccepted --metric agentLatencyP95',
    '# messages published in the last hour, for a script',
    "relay analytics --app acme-pm --since 1h --metric published --jq .analytics.totals.published",
  ],
  status: ['relay status', '# redraw every 2 seconds until Ctrl-C', 'relay status --watch'],
};
