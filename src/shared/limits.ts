/** Limits the daemon's schemas enforce and the CLI checks before sending, in one place. */

/** Token rotation's grace period: 0 (the old token ends at once) to 30 days. */
export const GRACE_MS = { min: 0, max: 30 * 86_400_000 } as const;

/** An agent's reply timeout: 1 s to 24 h. */
export const AGENT_TIMEOUT_MS = { min: 1000, max: 86_400_000 } as const;
