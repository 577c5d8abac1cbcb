/**
 * Every RELAY_* variable Relay reads, in one list for relayd and the CLI, so that a mistyped
 * one (RELAY_PROT) is named with a suggestion instead of being silently ignored.
 */

/** relayd's settings (daemon/config.ts's SETTINGS uses exactly these; a unit test checks it). */
export const RELAYD_VARIABLES = [
  'RELAY_HOST',
  'RELAY_PORT',
  'RELAY_DATA_DIR',
  'RELAY_LOG_LEVEL',
  'RELAY_PING_INTERVAL',
  'RELAY_SHUTDOWN_TIMEOUT',
  'RELAY_HISTORY_RETENTION',
  'RELAY_ACTIVITY_TIMEOUT',
  'RELAY_AUTH_TIMESTAMP_WINDOW',
  'RELAY_WEBHOOK_TIMEOUT',
  'RELAY_WEBHOOK_DEBOUNCE',
  'RELAY_WEBHOOK_RETRY_FOR',
  'RELAY_ANALYTICS',
  'RELAY_ANALYTICS_RETENTION',
  'RELAY_ANALYTICS_FLUSH_INTERVAL',
  'RELAY_HEADER_TIMEOUT',
  'RELAY_MAX_CONNECTIONS_PER_ADDRESS',
  'RELAY_WEBHOOK_ALLOW_PRIVATE',
  'RELAY_MAX_ATTEMPTS',
  'RELAY_FAILED_HANDSHAKE_LIMIT',
  'RELAY_STORE',
  'RELAY_BROKER',
  'RELAY_NODE_ID',
  'RELAY_MASTER_KEY_FILE',
  'RELAY_METRICS_PORT',
  'RELAY_METRICS_MAX_APPS',
] as const;
export type RelaydVariable = (typeof RELAYD_VARIABLES)[number];

/** relayd's settings that have no flag: a secret on a command line is seen by every user of the machine (ps). */
export const RELAYD_SECRET_VARIABLES = ['RELAY_MASTER_KEY'] as const;

/** The `relay` CLI's own (it also reads RELAY_HOST, RELAY_PORT and RELAY_DATA_DIR, as relayd does). */
export const CLI_VARIABLES = ['RELAY_URL', 'RELAY_ADMIN_TOKEN', 'RELAY_PROFILE', 'RELAY_CONFIG_DIR', 'RELAY_DEBUG'] as const;

/** What the examples in examples/ read. */
export const EXAMPLE_VARIABLES = ['RELAY_APP_TOKEN', 'RELAY_AGENT_TOKEN'] as const;

const KNOWN: ReadonlySet<string> = new Set<string>([...RELAYD_VARIABLES, ...RELAYD_SECRET_VARIABLES, ...CLI_VARIABLES, ...EXAMPLE_VARIABLES]);

/** One warning for each RELAY_* variable in `env` that nothing in Relay reads, with the closest known name. */
export function strayVariableWarnings(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('RELAY_') && !KNOWN.has(name))
    .sort()
    .map((name) => {
      const guess = closest(name, [...KNOWN]);
      return `${name} is not a Relay setting${guess ? `; did you mean ${guess}?` : ' (ignored)'}`;
    });
}

/**
 * The known name nearest to `word`, if it is near enough to be a typo: at most a third of the
 * part after RELAY_ edited, in the whole name or in its last words (RELAY_TOKN → RELAY_ADMIN_TOKEN).
 */
export function closest(word: string, candidates: readonly string[]): string | null {
  const tail = word.replace(/^RELAY_/, '');
  let best: string | null = null;
  let bestScore = Infinity;
  for (const candidate of candidates) {
    const parts = candidate.replace(/^RELAY_/, '').split('_');
    const ends = parts.slice(1).map((_, i) => parts.slice(i + 1).join('_'));
    // A whole-name match beats a match of the last words at the same distance.
    const score = Math.min(editDistance(tail, parts.join('_')), ...ends.map((end) => editDistance(tail, end) + 0.5));
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return bestScore <= Math.max(1, Math.floor(tail.length / 3)) + 0.5 ? best : null;
}

/** Levenshtein distance, with a transposition counted as one edit (RELAY_PROT → RELAY_PORT). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i] as number[];
      const up = d[i - 1] as number[];
      row[j] = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}
