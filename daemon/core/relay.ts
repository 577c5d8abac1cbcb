import { RelayError } from '../../src/shared/errors.js';
import type { Role } from '../../src/shared/protocol/relay.js';
import type { AgentService } from './agents.js';
import type { AppService } from './apps.js';
import type { AppTokenVerifier } from './credentials.js';
import type { Counters } from './metrics.js';

/** Who a relay-protocol socket belongs to once its handshake is accepted. */
export interface RelayPeer {
  role: Role;
  org: string;
  id: string;
  credentialId: string;
}

export interface RelayDeps {
  verifier: AppTokenVerifier;
  apps: AppService;
  agents: AgentService;
  counters: Counters;
}

/**
 * The relay protocol's core: the handshake now; event routing joins it with the agent relay.
 * The credential decides the role.
 */
export class RelayService {
  readonly #deps: RelayDeps;

  constructor(deps: RelayDeps) {
    this.#deps = deps;
  }

  /** unauthorized (401) for a bad credential, forbidden (403) for a deactivated app. */
  async authenticate(token: string): Promise<RelayPeer> {
    try {
      if (token.startsWith('rla_')) {
        const agent = await this.#deps.agents.verify(token);
        if (agent.status !== 'active') throw new RelayError('forbidden', `agent "${agent.agentId}" is inactive`);
        this.#deps.counters.handshakesAccepted++;
        return { role: 'agent', org: agent.org, id: agent.agentId, credentialId: agent.tokenId };
      }
      if (!token.startsWith('rlk_')) throw new RelayError('unauthorized', 'invalid credential: use an app token (rlk_...) or an agent token (rla_...)');
      const principal = await this.#deps.verifier.verify(token);
      if (principal.status !== 'active') throw new RelayError('forbidden', `app "${principal.appId}" is inactive`);
      this.#deps.counters.handshakesAccepted++;
      return { role: 'app', org: principal.org, id: principal.appId, credentialId: principal.tokenId };
    } catch (err) {
      this.#deps.counters.handshakesRefused++;
      throw err;
    }
  }

  async connected(peer: RelayPeer): Promise<void> {
    if (peer.role === 'app') await this.#deps.apps.recordConnected(peer.org, peer.id);
    else await this.#deps.agents.recordConnected(peer.org, peer.id);
  }
}
