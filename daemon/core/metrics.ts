/** Process-wide counters, shown by `relay status` and used by tests and benchmarks. */
export interface Counters {
  bcryptCompares: number;
  handshakesAccepted: number;
  handshakesRefused: number;
  /** Credentials refused on their format or checksum alone, before any lookup. */
  credentialsRefusedUnchecked: number;
}

export function newCounters(): Counters {
  return { bcryptCompares: 0, handshakesAccepted: 0, handshakesRefused: 0, credentialsRefusedUnchecked: 0 };
}
