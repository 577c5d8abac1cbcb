import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { RelayError } from '../../src/shared/errors.js';
import { MAX_USER_ID } from '../../src/shared/protocol/pusher.js';
import { CONTROL_CHANNEL, type Broker } from '../broker/broker.js';

/**
 * Every cache of something an operator can change (app tokens, API tokens, the channel app
 * directory, agents and allowlists, webhooks, channel rules, event schemas, encryption keys) is dropped on every node by a control message
 * when it changes; a copy is also never trusted for longer than this, so that a message a node
 * missed (a broker reconnect, a node that subscribed late) costs at most this much staleness.
 */
export const CACHE_TTL_MS = 30_000;

/** How long a question waits for the nodes' answers by default (soketi's horizontal adapter waits 5 s). */
export const DEFAULT_ASK_TIMEOUT_MS = 2_000;

/** Each node's own channel, where the answers to its questions come. */
export const NODE_CHANNEL_PREFIX = '$relay:node:';
export const nodeChannel = (nodeId: string): string => `${NODE_CHANNEL_PREFIX}${nodeId}`;

const name = z.string().min(1).max(256);
const role = z.enum(['app', 'agent', 'channel']);

const connection = z.object({
  id: name,
  role,
  org: name,
  ownerId: name,
  openedAt: z.string(),
  remoteAddress: z.string().nullable(),
  socketId: z.string().nullable(),
  node: name,
});

/**
 * The messages between nodes, each handled in one place. A change's own request awaits
 * `send`, so that it answers only once every node can see the change.
 */
const appChanged = z.object({ type: z.literal('appChanged'), org: name, appId: name });
/** An API token revoked, or rotated (its old secret revoked). */
const tokenRevoked = z.object({ type: z.literal('tokenRevoked'), org: name, appId: name, tokenId: name });
const agentChanged = z.object({ type: z.literal('agentChanged'), org: name, agentId: name });
const allowlistChanged = z.object({ type: z.literal('allowlistChanged'), org: name, appId: name });
/** An app's webhooks were added or removed (or went with the app). */
const webhooksChanged = z.object({ type: z.literal('webhooksChanged'), org: name, appId: name });
/** An app's channel rules were added, changed or removed: every node drops its copy of them. */
const channelRulesChanged = z.object({ type: z.literal('channelRulesChanged'), org: name, appId: name });
/** An app's encryption keys were created, rotated or retired: every node drops what it holds of them. */
const keysChanged = z.object({ type: z.literal('keysChanged'), org: name, appId: name });
/** An app's event schema was added, updated or removed: every node drops its compiled copy. */
const schemasChanged = z.object({ type: z.literal('schemasChanged'), org: name, appId: name, name: name });
/** An app's edge functions were deployed, rolled back or removed: every node drops its copy and their isolates. */
const functionsChanged = z.object({ type: z.literal('functionsChanged'), org: name, appId: name });
/** Closes every socket of one app or agent, except those made with `keepCredentials`. */
const closeConnections = z.object({
  type: z.literal('closeConnections'),
  role,
  org: name,
  ownerId: name,
  keepCredentials: z.array(z.string()).nullable(),
  code: z.number().int(),
  reason: z.string().max(123),
});

/** A rotation's grace period runs until `at`: the leader arms its end. */
const graceStarted = z.object({ type: z.literal('graceStarted'), role: z.enum(['app', 'agent']), org: name, id: name, at: z.number().int() });

/**
 * The agent relay between nodes. An event accepted on one node goes to the node that owns its
 * agent's queue (the holder of the agent's lease: a node where the agent is connected); its
 * outcome comes back to the node of the app connection that sent it.
 */
const text = z.string().max(2_000_000);
/** What both directions carry of the event. */
const agentEvent = z.object({
  id: name,
  org: name,
  appId: name,
  agent: name,
  thread: text,
  name: text.nullable(),
  createdAt: z.number().int(),
  sender: name.nullable(),
});
const agentWork = agentEvent.extend({
  type: z.literal('agentWork'),
  ref: text.nullable(),
  payload: text,
  timeoutMs: z.number().int(),
  senderNode: name,
});
const agentOutcome = agentEvent.extend({
  type: z.literal('agentOutcome'),
  attempt: z.number().int(),
  status: z.enum(['pending', 'delivered', 'failed', 'rejected']),
  latencyMs: z.number().int().nullable(),
  frame: text,
});
/** The node that owned an agent's queue gave it up (its last connection of the agent closed): another node with one takes it. */
const agentReleased = z.object({ type: z.literal('agentReleased'), org: name, agent: name });
/** An app or agent is being deleted: every node drops what it holds in memory of its events (the deleting node settles them in the store). */
const agentRelayForget = z.object({ type: z.literal('agentRelayForget'), org: name, appId: name.nullable(), agent: name.nullable(), purge: z.boolean() });

/** A change of an event made on the sender, for the followers (`relay events tail`) of its organization here. */
const eventChange = z.object({
  type: z.literal('eventChange'),
  change: z.object({
    seq: z.number().int(),
    at: z.string(),
    type: z.string(),
    org: name,
    event: z.object({
      id: name,
      kind: z.enum(['agent', 'channel']),
      appId: name,
      agent: name.nullable(),
      thread: text.nullable(),
      name: text.nullable(),
      status: z.enum(['pending', 'delivered', 'failed', 'rejected']),
      latencyMs: z.number().nullable(),
      createdAt: z.string(),
      channels: z.array(text).nullable(),
    }),
  }),
});

const terminateUser = z.object({ type: z.literal('terminateUser'), org: name, appId: name, userId: z.string().min(1).max(MAX_USER_ID), code: z.number().int() });

const ControlMessage = z.discriminatedUnion('type', [appChanged, tokenRevoked, agentChanged, allowlistChanged, webhooksChanged, channelRulesChanged, schemasChanged, keysChanged, functionsChanged, closeConnections, terminateUser, graceStarted, agentWork, agentOutcome, agentReleased, agentRelayForget, eventChange]);
export type ControlMessage = z.infer<typeof ControlMessage>;
export type MessageType = ControlMessage['type'];

/** Questions every node answers (itself included), with the schema of one node's answer. */
const QUESTIONS = {
  /** This node's sockets that match the filter. */
  listConnections: {
    question: z.object({ type: z.literal('listConnections'), role: role.optional(), org: name.optional(), ownerId: name.optional() }),
    answer: z.array(connection),
  },
  /** This node's sockets counted per owner (of one organization, or of all). */
  countConnections: {
    question: z.object({ type: z.literal('countConnections'), org: name.optional(), ownerId: name.optional() }),
    answer: z.object({ total: z.number().int(), owners: z.array(z.object({ role, org: name, ownerId: name, count: z.number().int() })) }),
  },
  /** Sends the organization's changes to `node` from now on (for a while, renewed): each node answers once it does. */
  followChanges: {
    question: z.object({ type: z.literal('followChanges'), org: name, node: name }),
    answer: z.boolean(),
  },
  /** Closes the socket if this node holds it (and it is `owner`'s, when given): its description, or null. */
  closeConnection: {
    question: z.object({ type: z.literal('closeConnection'), id: name, owner: z.object({ org: name, ownerId: name }).nullable() }),
    answer: connection.nullable(),
  },
  /**
   * A channel occupied (a member added) again on the asking node: drops the channel_vacated
   * (member_removed) this node holds back for it, if it does; whether it did. The holder
   * decides, so that a held webhook is either sent or dropped with its pair, never both.
   */
  dropHeldWebhook: {
    question: z.object({
      type: z.literal('dropHeldWebhook'),
      org: name,
      appId: name,
      name: z.enum(['channel_occupied', 'member_added']),
      channel: name,
      userId: z.string().min(1).max(MAX_USER_ID).nullable(),
    }),
    answer: z.boolean(),
  },
} as const;

type Questions = typeof QUESTIONS;
export type QuestionType = keyof Questions;
export type QuestionOf<K extends QuestionType> = z.infer<Questions[K]['question']>;
export type AnswerOf<K extends QuestionType> = z.infer<Questions[K]['answer']>;
export type ControlQuestion = { [K in QuestionType]: QuestionOf<K> }[QuestionType];

const ControlQuestion = z.discriminatedUnion('type', [
  QUESTIONS.listConnections.question,
  QUESTIONS.countConnections.question,
  QUESTIONS.closeConnection.question,
  QUESTIONS.followChanges.question,
  QUESTIONS.dropHeldWebhook.question,
]);

type MessageOf<K extends MessageType> = Extract<ControlMessage, { type: K }>;

/** What `on` takes for each type: a message's handler returns nothing; a question's returns this node's answer. */
export type ControlHandlers = { [K in MessageType]: (message: MessageOf<K>) => void | Promise<void> } & {
  [K in QuestionType]: (question: QuestionOf<K>) => AnswerOf<K> | Promise<AnswerOf<K>>;
};

/** What travels on the broker: who sent it, and a message, a question or an answer. */
const Envelope = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('message'), from: name, message: z.unknown() }),
  z.object({ kind: z.literal('question'), from: name, id: name, replyTo: z.string().startsWith(NODE_CHANNEL_PREFIX), question: z.unknown() }),
  z.object({ kind: z.literal('answer'), from: name, id: name, answer: z.unknown() }),
]);
type Envelope = z.infer<typeof Envelope>;

export interface AskOptions<A> {
  timeoutMs?: number;
  /** How many answers to wait for; by default, how many nodes are alive. */
  expected?: number;
  /** Resolves as soon as the answers so far satisfy this (one node holding a socket is enough). */
  enough?: (answers: A[]) => boolean;
}

export interface ControlBusDeps {
  broker: Broker;
  nodeId: string;
  /** How many nodes are alive, this one included: how many answers a question waits for. */
  aliveNodes: () => Promise<number>;
  onError(err: unknown, what: string): void;
}

interface Pending {
  type: QuestionType;
  expected: number;
  answers: unknown[];
  from: Set<string>;
  enough: ((answers: unknown[]) => boolean) | undefined;
  timer: NodeJS.Timeout;
  resolve(answers: unknown[]): void;
}

/**
 * Typed control messages between nodes over the broker (centrifuge's control channel, soketi's
 * horizontal adapter). `send` handles the message on this node directly and publishes it for
 * the others, which skip their own; `ask` puts a question to every node and gathers the
 * answers on this node's own channel. A malformed message is logged and dropped, never
 * thrown; a broker that cannot be reached is `unavailable` to the caller.
 */
export class ControlBus {
  readonly nodeId: string;
  readonly replyChannel: string;
  readonly #deps: ControlBusDeps;
  readonly #handlers = new Map<string, (payload: never) => unknown>();
  readonly #pending = new Map<string, Pending>();

  constructor(deps: ControlBusDeps) {
    this.#deps = deps;
    this.nodeId = deps.nodeId;
    this.replyChannel = nodeChannel(deps.nodeId);
  }

  /** Subscribes to the control channel and this node's own, before anything is sent or asked. */
  async start(): Promise<void> {
    await this.#deps.broker.subscribe(CONTROL_CHANNEL);
    await this.#deps.broker.subscribe(this.replyChannel);
  }

  /** Questions still waiting get the answers they have. */
  close(): void {
    for (const [id, pending] of this.#pending) this.#finish(id, pending);
  }

  /** One handler per type: a second registration is a wiring mistake, caught at start. */
  on<K extends keyof ControlHandlers>(type: K, handler: ControlHandlers[K]): void {
    if (this.#handlers.has(type)) throw new Error(`a handler for control messages "${type}" is registered already`);
    this.#handlers.set(type, handler as (payload: never) => unknown);
  }

  /** Whether a broker channel is this bus's (the broker's one event handler dispatches on it). */
  owns(channel: string): boolean {
    return channel === CONTROL_CHANNEL || channel === this.replyChannel;
  }

  /** Handles `message` here, then tells every other node; resolves once it is published. */
  async send(message: ControlMessage): Promise<void> {
    await this.#handleMessage(message);
    await this.#publish(CONTROL_CHANNEL, { kind: 'message', from: this.nodeId, message }, {
      message: `could not tell the other relayd nodes (${message.type})`,
      hint: `the change itself is saved; the other nodes see it within ${CACHE_TTL_MS / 1000}s`,
    });
  }

  /**
   * Tells `node` (null: every other node) without handling the message here. Published at
   * once, in call order: two messages told one after the other arrive in that order.
   */
  async tell(node: string | null, message: ControlMessage): Promise<void> {
    if (node === this.nodeId) return;
    await this.#publish(node === null ? CONTROL_CHANNEL : nodeChannel(node), { kind: 'message', from: this.nodeId, message }, {
      message: `could not reach the other relayd nodes (${message.type})`,
      hint: 'try again when the broker is back',
    });
  }

  /**
   * Every node's answer to `question`, this node's first, once `expected` nodes have answered
   * (or `enough` is satisfied), or with the answers that came when the timeout passes.
   */
  async ask<K extends QuestionType>(question: QuestionOf<K> & { type: K }, options: AskOptions<AnswerOf<K>> = {}): Promise<AnswerOf<K>[]> {
    const expected = options.expected ?? (await this.#deps.aliveNodes());
    const own = (await this.#answer(question)) as AnswerOf<K>;
    const enough = options.enough;
    if (expected <= 1 || enough?.([own])) return [own];
    const id = randomUUID();
    const answers = new Promise<AnswerOf<K>[]>((resolve) => {
      const timer = setTimeout(() => {
        const pending = this.#pending.get(id);
        if (pending) this.#finish(id, pending);
      }, options.timeoutMs ?? DEFAULT_ASK_TIMEOUT_MS);
      timer.unref();
      this.#pending.set(id, {
        type: question.type,
        expected,
        answers: [own],
        from: new Set([this.nodeId]),
        // The answers collected for this question are all AnswerOf<K>, checked by its schema on arrival.
        enough: enough as ((answers: unknown[]) => boolean) | undefined,
        timer,
        resolve: resolve as (answers: unknown[]) => void,
      });
    });
    try {
      await this.#publish(CONTROL_CHANNEL, { kind: 'question', from: this.nodeId, id, replyTo: this.replyChannel, question }, {
        message: `could not ask the other relayd nodes (${question.type})`,
        hint: 'try again when the broker is back',
      });
    } catch (err) {
      const pending = this.#pending.get(id);
      if (pending) clearTimeout(pending.timer);
      this.#pending.delete(id);
      throw err;
    }
    return answers;
  }

  /** A publication on the control channel or this node's own, from the broker's event handler. */
  handlePublication(channel: string, data: string): void {
    let envelope: Envelope;
    try {
      envelope = Envelope.parse(JSON.parse(data));
    } catch (err) {
      this.#deps.onError(err, `ignored a malformed control message on ${channel}`);
      return;
    }
    // This node handled its own message or question when it sent it.
    if (envelope.from === this.nodeId && envelope.kind !== 'answer') return;
    switch (envelope.kind) {
      case 'message': {
        const parsed = ControlMessage.safeParse(envelope.message);
        if (!parsed.success) this.#deps.onError(parsed.error, `ignored a malformed control message from node ${envelope.from}`);
        else void this.#handleMessage(parsed.data);
        return;
      }
      case 'question': {
        const parsed = ControlQuestion.safeParse(envelope.question);
        if (!parsed.success) this.#deps.onError(parsed.error, `ignored a malformed control question from node ${envelope.from}`);
        else void this.#reply(envelope.replyTo, envelope.id, parsed.data);
        return;
      }
      case 'answer':
        this.#collect(envelope.from, envelope.id, envelope.answer);
        return;
      default: {
        const unknown: never = envelope;
        throw new Error(`unknown control envelope ${String(unknown)}`);
      }
    }
  }

  async #handleMessage(message: ControlMessage): Promise<void> {
    const handler = this.#handlers.get(message.type) as ((m: ControlMessage) => void | Promise<void>) | undefined;
    if (!handler) return;
    try {
      await handler(message);
    } catch (err) {
      this.#deps.onError(err, `could not handle the control message ${message.type}`);
    }
  }

  async #answer(question: ControlQuestion): Promise<unknown> {
    const handler = this.#handlers.get(question.type) as ((q: ControlQuestion) => unknown) | undefined;
    if (!handler) throw new Error(`no handler answers the control question ${question.type}`);
    return handler(question);
  }

  async #reply(replyTo: string, id: string, question: ControlQuestion): Promise<void> {
    try {
      const answer = await this.#answer(question);
      await this.#deps.broker.publish(replyTo, () => JSON.stringify({ kind: 'answer', from: this.nodeId, id, answer } satisfies Envelope));
    } catch (err) {
      this.#deps.onError(err, `could not answer the control question ${question.type}`);
    }
  }

  #collect(from: string, id: string, answer: unknown): void {
    const pending = this.#pending.get(id);
    // A late answer (after the timeout) has nobody waiting for it.
    if (!pending || pending.from.has(from)) return;
    const parsed = QUESTIONS[pending.type].answer.safeParse(answer);
    if (!parsed.success) {
      this.#deps.onError(parsed.error, `ignored a malformed answer to ${pending.type} from node ${from}`);
      return;
    }
    pending.from.add(from);
    pending.answers.push(parsed.data);
    if (pending.answers.length >= pending.expected || pending.enough?.(pending.answers)) this.#finish(id, pending);
  }

  #finish(id: string, pending: Pending): void {
    clearTimeout(pending.timer);
    this.#pending.delete(id);
    pending.resolve(pending.answers);
  }

  async #publish(channel: string, envelope: Envelope, refusal: { message: string; hint: string }): Promise<void> {
    try {
      await this.#deps.broker.publish(channel, () => JSON.stringify(envelope));
    } catch (err) {
      // The broker's own refusal names it (and why); anything else is said plainly.
      const why = err instanceof Error ? err.message : String(err);
      throw new RelayError('unavailable', `${refusal.message}: ${why}`, { cause: err, hint: refusal.hint });
    }
  }
}
