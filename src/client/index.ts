/** The package's library: the relay protocol's clients and the admin API client. */
export { RelayAgent, RelayApp, RelayConnectionError, RelayFailure, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_RECONNECT } from './ws.js';
export type {
  AgentEvent,
  AgentHandler,
  Outcome,
  RelayAppEvents,
  RelayClientOptions,
  RelayConnectionErrorCode,
  RelayConnectionEvents,
  SendOptions,
} from './ws.js';
export { AdminClient } from './http.js';
export type { ServerFrame, EventError } from '../shared/protocol/relay.js';
