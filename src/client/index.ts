/** The package's library: the relay protocol's clients and the admin API client. */
export { RelayAgent, RelayApp, RelayFailure } from './ws.js';
export type { AgentEvent, AgentHandler, Outcome, RelayClientOptions, SendOptions } from './ws.js';
export { AdminClient } from './http.js';
export type { ServerFrame, EventError } from '../shared/protocol/relay.js';
