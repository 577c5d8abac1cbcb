import type { z } from 'zod';
import { RelayError } from '../../src/shared/errors.js';
import { describeIssues, parseInput } from '../../src/shared/schemas.js';
import {
  CLIENT_FRAMES,
  MAX_PAYLOAD_BYTES,
  type AppEventFrame,
  type ErrorFrame,
  type Role,
  type ServerFrame,
} from '../../src/shared/protocol/relay.js';
import type { AgentService } from './agents.js';
import type { AppService } from './apps.js';
import type { AppTokenVerifier } from './credentials.js';
import type { Dispatcher, Rejection, Session } from './dispatcher.js';
import type { Counters } from './metrics.js';
import type { Limit, RateLimiter } from '../ratelimit/rate-limiter.js';
import { rateBucket } from './rate-limit.js';
import type { RoutingDirectory } from './routing.js';
import type { FunctionService } from './functions.js';
import type { Schemas } from './schemas.js';
import type { WebhookSink } from './webhooks.js';
import type { Usage } from './usage.js';

/** Who a relay-protocol socket belongs to once its handshake is accepted. */
export interface RelayPeer {
  role: Role;
  org: string;
  id: string;
  credentialId: string;
}

export interface RelaySession extends Session {
  readonly role: Role;
}

export interface RelayDeps {
  verifier: AppTokenVerifier;
  apps: AppService;
  agents: AgentService;
  routing: RoutingDirectory;
  /** The agents' schemas: an event whose payload does not match its agent's is rejected. */
  schemas: Schemas;
  /** The app's before-dispatch functions: they change an event's payload, or reject it, before it is stored. */
  functions: Pick<FunctionService, 'beforeDispatch'>;
  dispatcher: Dispatcher;
  counters: Counters;
  webhooks: WebhookSink;
  rateLimiter: RateLimiter;
  /** Analytics and metrics: the apps' agent events, taken in or refused. */
  usage: Usage;
  /**
   * Refused credentials allowed per client address (null: no limit). A client with a wrong
   * token still gets its 401s; past them, the address gets 429 without its credential being
   * looked at. Only refused credentials (401) are charged: a success, or a deactivated app's
   * 403, costs the address nothing.
   */
  failedHandshakes: Limit | null;
}

export function encodeFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

/**
 * The relay protocol's core: the handshake (the credential decides the role) and every
 * frame after it, checked against the frames its role may send, then routed.
 */
export class RelayService {
  readonly #deps: RelayDeps;

  constructor(deps: RelayDeps) {
    this.#deps = deps;
  }

  /**
   * unauthorized (401) for a bad credential, forbidden (403) for a deactivated app or agent,
   * rate_limited (429) while `address` is over its limit of refused credentials. `credential`
   * reads the token (it throws unauthorized when there is none), after the address is let in.
   */
  async authenticate(credential: () => string, address: string | undefined): Promise<RelayPeer> {
    const { counters, rateLimiter, failedHandshakes: limit } = this.#deps;
    const failures = rateBucket.failedHandshakes(address);
    try {
      const gate = limit && (await rateLimiter.peek(failures, limit));
      if (gate && !gate.allowed) {
        counters.handshakesRateLimited++;
        throw new RelayError('rate_limited', `too many refused credentials from this address; retry in ${gate.retryAfterSeconds}s`, {
          details: { retryAfter: gate.retryAfterSeconds },
        });
      }
      try {
        return await this.#verify(credential());
      } catch (err) {
        if (limit && err instanceof RelayError && err.code === 'unauthorized') await rateLimiter.consume(failures, limit);
        throw err;
      }
    } catch (err) {
      counters.handshakesRefused++;
      throw err;
    }
  }

  async #verify(token: string): Promise<RelayPeer> {
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
  }

  async open(session: RelaySession): Promise<void> {
    this.#connectionHook(session, 'connection_opened');
    if (session.role === 'app') {
      await this.#deps.dispatcher.openApp(session);
      await this.#deps.apps.recordConnected(session.org, session.ownerId);
    } else {
      await this.#deps.dispatcher.openAgent(session);
      await this.#deps.agents.recordConnected(session.org, session.ownerId);
    }
  }

  close(session: RelaySession): void {
    this.#connectionHook(session, 'connection_closed');
    if (session.role === 'app') this.#deps.dispatcher.closeApp(session);
    else this.#deps.dispatcher.closeAgent(session);
  }
  /** An app's own connections go to its webhooks; an agent's to those of every app of its organization. */
  #connectionHook(session: RelaySession, name: 'connection_opened' | 'connection_closed'): void {
    if (session.role === 'app') this.#deps.webhooks.emit(session.org, session.ownerId, { name, connection_id: session.id, role: 'app', app_id: session.ownerId });
    else this.#deps.webhooks.emitToOrg(session.org, { name, connection_id: session.id, role: 'agent', agent: session.ownerId });
  }


  /**
   * One frame, already parsed as a JSON object with a string `type`. `bytes` is its size on
   * the wire. Anything wrong with it is answered on the session; nothing here throws.
   */
  async receive(session: RelaySession, frame: { type: string } & Record<string, unknown>, bytes: number): Promise<void> {
    if (frame.type === 'ping') {
      session.send(encodeFrame({ type: 'pong' }));
      return;
    }
    const schemas: Record<string, z.ZodType> = CLIENT_FRAMES[session.role];
    const schema = Object.hasOwn(schemas, frame.type) ? schemas[frame.type] : undefined;
    if (!schema) {
      const allowed = ['ping', ...Object.keys(schemas)].map((t) => `"${t}"`).join(', ');
      this.#refuse(session, frame, 'invalid_request', `unknown frame type "${frame.type.slice(0, 64)}" for an ${session.role}; send one of ${allowed}`);
      return;
    }
    const parsed = parseInput(schema, frame);
    if (!parsed.success) {
      this.#refuse(session, frame, 'invalid_request', `invalid "${frame.type}" frame: ${describeIssues(parsed.error)}`);
      return;
    }
    if (bytes > MAX_PAYLOAD_BYTES) {
      this.#refuse(session, frame, 'payload_too_large', `the frame is ${bytes} bytes; the limit is ${MAX_PAYLOAD_BYTES} bytes (1 MB)`);
      return;
    }
    const { dispatcher } = this.#deps;
    const valid = parsed.data as { type: string; eventId: string };
    let problem: Rejection | null = null;
    switch (valid.type) {
      case 'event':
        await this.#event(session, parsed.data as AppEventFrame, bytes);
        return;
      case 'ack':
        problem = await dispatcher.ack(session, valid.eventId);
        break;
      case 'reply':
        problem = dispatcher.answer(session, valid.eventId, { reply: JSON.stringify((parsed.data as { payload: unknown }).payload) });
        break;
      case 'error': {
        const error = (parsed.data as { error: { message: string; code?: string | undefined } }).error;
        const message = error.code === undefined ? error.message : `${error.code}: ${error.message}`;
        problem = dispatcher.answer(session, valid.eventId, { error: { code: 'agent_error', message } });
        break;
      }
    }
    if (problem) session.send(encodeFrame({ type: 'error', eventId: valid.eventId, error: problem }));
  }

  async #event(session: RelaySession, frame: AppEventFrame, bytes: number): Promise<void> {
    const { routing, dispatcher } = this.#deps;
    const check = async (): Promise<{ timeoutMs: number; payload?: unknown } | Rejection> => {
      const agent = await routing.agent(session.org, frame.agent);
      if (!agent) return { code: 'agent_not_found', message: `there is no agent "${frame.agent}" in organization "${session.org}"` };
      const allowed = await routing.allowlist(session.org, session.ownerId);
      if (allowed.length > 0 && !allowed.includes(frame.agent)) {
        return { code: 'agent_not_allowed', message: `agent "${frame.agent}" is not on the allowlist of app "${session.ownerId}" (relay apps allow ${session.ownerId} ${frame.agent})` };
      }
      if (agent.status !== 'active') return { code: 'agent_inactive', message: `agent "${frame.agent}" is inactive` };
      // The app's before-dispatch functions first: the agent's schema checks what the agent would get.
      const fn = await this.#deps.functions.beforeDispatch(session.org, session.ownerId, { agent: frame.agent, thread: frame.thread, name: frame.name ?? null, payload: frame.payload });
      if ('rejection' in fn) return fn.rejection;
      if (agent.schema !== null) {
        const violation = (await this.#deps.schemas.validatorFor(session.org, agent.schema.appId, agent.schema.name))?.violation(fn.payload);
        if (violation) return { ...(violation.details as Pick<Rejection, 'errors' | 'schema' | 'version'>), code: 'schema_violation', message: violation.message };
      }
      return fn.payload === frame.payload ? { timeoutMs: agent.timeoutMs } : { timeoutMs: agent.timeoutMs, payload: fn.payload };
    };
    const ref = frame.ref ?? null;
    try {
      const { eventId, rejection } = await dispatcher.accept(session, frame, check);
      this.#deps.usage.agentEvent(session.org, session.ownerId, rejection ? 'rejected' : 'accepted', null, bytes);
      session.send(encodeFrame(rejection ? { type: 'rejected', ref, eventId, error: rejection } : { type: 'accepted', ref, eventId, status: 'pending' }));
    } catch {
      const error: ErrorFrame = { type: 'error', error: { code: 'internal', message: 'the event could not be stored; it was not accepted, send it again' } };
      if (frame.ref !== undefined) error.ref = frame.ref;
      session.send(encodeFrame(error));
    }
  }

  /** An event frame that cannot be taken is `rejected` (not recorded); any other frame gets an `error`. */
  #refuse(session: RelaySession, frame: Record<string, unknown>, code: 'invalid_request' | 'payload_too_large', message: string): void {
    const ref = typeof frame.ref === 'string' ? frame.ref.slice(0, 200) : null;
    if (session.role === 'app' && frame.type === 'event') {
      this.#deps.usage.agentEvent(session.org, session.ownerId, 'rejected', null, 0);
      session.send(encodeFrame({ type: 'rejected', ref, eventId: null, error: { code, message } }));
      return;
    }
    const error: ErrorFrame = { type: 'error', error: { code, message } };
    if (ref !== null) error.ref = ref;
    if (typeof frame.eventId === 'string') error.eventId = frame.eventId.slice(0, 64);
    session.send(encodeFrame(error));
  }
}
