// What the examples share: their settings come from the environment, and a missing one or a
// failure is said in one line (exit 2: a setting is missing or wrong; exit 1: it failed).

/** Where to get each variable the examples read. */
const WHERE = {
  RELAY_APP_TOKEN: 'the app token `relay apps register --id acme-pm --name "Acme PM"` printed (a new one: `export RELAY_APP_TOKEN=$(relay apps rotate acme-pm -q)`)',
  RELAY_AGENT_TOKEN: 'the agent token: `export RELAY_AGENT_TOKEN=$(relay agents register --id athena --name Athena -q)` (a new one: `relay agents rotate athena -q`)',
  PUSHER_APP_ID: 'the app\'s channel credentials: eval "$(relay apps credentials acme-pm --env)"',
  PUSHER_KEY: 'the app\'s channel credentials: eval "$(relay apps credentials acme-pm --env)"',
  PUSHER_SECRET: 'the app\'s channel credentials: eval "$(relay apps credentials acme-pm --env)"',
};

/** The value of a variable the example cannot do without; exits 2 saying where to get it when it is unset. */
export function need(name) {
  const value = process.env[name];
  if (value) return value;
  console.error(`set ${name}: ${WHERE[name] ?? 'see the README'}`);
  process.exit(2);
}

/** relayd's address: RELAY_URL, or http://127.0.0.1:7420 (relayd's default) when unset. */
export function relayUrl() {
  const value = process.env.RELAY_URL || 'http://127.0.0.1:7420';
  let url;
  try {
    url = new URL(value);
  } catch {
    url = null;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol)) {
    console.error(`set RELAY_URL to relayd's address with its scheme, such as http://127.0.0.1:7420 (got ${JSON.stringify(value)})`);
    process.exit(2);
  }
  const tls = url.protocol === 'https:';
  return { url: url.origin, host: url.hostname, port: Number(url.port || (tls ? 443 : 80)), tls };
}

/** Prints a failure in one line (`error: ...`) and exits 1. */
export function fail(err) {
  console.error(`error: ${describe(err)}`);
  process.exit(1);
}

function describe(err) {
  const unset = process.env.RELAY_URL ? '; is relayd running at RELAY_URL?' : '; is relayd running? (RELAY_URL is unset, so it is expected at http://127.0.0.1:7420)';
  if (!(err instanceof Error)) return String(err);
  // RelayConnectionError: its message says what happened and what to do.
  if (err.name === 'RelayConnectionError') return `${err.message}${err.code === 'unreachable' ? unset : ''}`;
  // RelayFailure: the agent's error, a timeout, or a rejection (agent unknown or not allowed).
  if (err.name === 'RelayFailure') return `the event failed (${err.code}): ${flat(err.message)}`;
  // The pusher SDK's RequestError: relayd's answer, or why there was none, rather than a stack.
  if (err.name === 'PusherRequestError') {
    if (err.status) return `relayd answered ${err.status}: ${answerOf(err.body)}`;
    const cause = err.error?.cause ?? err.error;
    const why = cause?.code === 'ECONNREFUSED' ? 'connection refused (ECONNREFUSED)' : cause?.code ?? cause?.message ?? err.message;
    return `cannot reach relayd at ${relayUrl().url}: ${why}${unset}`;
  }
  return flat(err.message);
}

/** relayd's `{"error":{"message"}}`, or the body as it came, in one line. */
function answerOf(body) {
  try {
    const message = JSON.parse(body)?.error?.message;
    if (typeof message === 'string') return flat(message);
  } catch {
    // not JSON: shown as it came
  }
  return flat(String(body ?? '').slice(0, 300)) || '(no body)';
}

const flat = (text) => text.replace(/\s*\n\s*/g, ' ').trim();
