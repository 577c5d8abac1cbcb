/** Process-wide counters, shown by `relay status` and used by tests and benchmarks. */
export interface Counters {
  bcryptCompares: number;
  handshakesAccepted: number;
  handshakesRefused: number;
  /** Handshakes refused (429) because their address was over its limit of refused credentials, unverified. */
  handshakesRateLimited: number;
  /** Credentials refused on their format or checksum alone, before any lookup. */
  credentialsRefusedUnchecked: number;
}

export function newCounters(): Counters {
  return { bcryptCompares: 0, handshakesAccepted: 0, handshakesRefused: 0, handshakesRateLimited: 0, credentialsRefusedUnchecked: 0 };
}
