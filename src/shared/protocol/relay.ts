import { z } from 'zod';
import { slugProblem } from '../ids.js';

/**
 * Frames of the relay protocol (`GET /v1/connect`). Every frame is one JSON text object
 * with a `type`. The schemas below are the edge check of what apps and agents send; the
 * server's frames are plain types.
 */
export type Role = 'app' | 'agent';

/** A payload (event or reply) larger than this is refused with a clear error; the socket stays up. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Frames over this size close the socket with 1009 (message too big): nothing useful can be read from them. */
export const MAX_FRAME_BYTES = 4 * MAX_PAYLOAD_BYTES;

export const MAX_THREAD_LENGTH = 200;
export const MAX_REF_LENGTH = 200;

/** Close codes relayd uses on relay-protocol sockets. */
export const RELAY_CLOSE = {
  goingAway: 1001,
  tooBig: 1009,
  tokenExpired: 4001,
  inactive: 4003,
} as const;

/** Codes of `rejected` and `failed` frames (and of the event's `error` in history). */
export type EventErrorCode =
  | 'invalid_request'
  | 'payload_too_large'
  | 'agent_not_found'
  | 'agent_not_allowed'
  | 'agent_inactive'
  | 'agent_error'
  | 'timeout'
  | 'too_many_attempts'
  | 'payload_erased'
  | 'schema_violation'
  | 'function_failed'
  | 'function_rejected';

export interface EventError {
  code: EventErrorCode;
  message: string;
  /** schema_violation: each error's JSON pointer in the payload and its message. */
  errors?: { pointer: string; message: string }[];
  /** schema_violation: the schema (`APP/NAME`) and the version the payload was checked against. */
  schema?: string;
  /** schema_violation: the schema's version; function_failed and function_rejected: the function's. */
  version?: number;
  /** function_failed and function_rejected: the before-dispatch function (its name) that refused the event. */
  function?: string;
}

// ---- relay -> peers
export interface WelcomeFrame {
  type: 'welcome';
  connectionId: string;
  role: Role;
  id: string;
}
export interface PongFrame {
  type: 'pong';
}
/** A frame that could not be acted on; `ref` or `eventId` say which one when the frame had them. */
export interface ErrorFrame {
  type: 'error';
  error: { code: string; message: string };
  ref?: string;
  eventId?: string;
}
export interface AcceptedFrame {
  type: 'accepted';
  ref: string | null;
  eventId: string;
  status: 'pending';
}
export interface RejectedFrame {
  type: 'rejected';
  ref: string | null;
  /** null when the frame was too malformed to be recorded. */
  eventId: string | null;
  error: EventError;
}
export interface AgentEventFrame {
  type: 'event';
  eventId: string;
  appId: string;
  thread: string;
  name: string | null;
  payload: unknown;
  attempt: number;
}
export interface ReplyFrame {
  type: 'reply';
  eventId: string;
  ref: string | null;
  agent: string;
  thread: string;
  payload: unknown;
  latencyMs: number;
}
export interface FailedFrame {
  type: 'failed';
  eventId: string;
  ref: string | null;
  agent: string;
  thread: string;
  error: EventError;
  latencyMs: number;
}

export type ServerFrame = WelcomeFrame | PongFrame | ErrorFrame | AcceptedFrame | RejectedFrame | AgentEventFrame | ReplyFrame | FailedFrame;

// ---- peers -> relay
const slug = (what: string) =>
  z.string().superRefine((value, ctx) => {
    const problem = slugProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `invalid ${what} "${value.slice(0, 64)}": ${problem}` });
  });
const eventId = z.string().regex(/^evt_[0-9A-Z]{26}$/, 'must be an event id (evt_...)');
/** Any JSON value; `undefined` (a missing key) is refused by the refine. */
const json = z.unknown().refine((value) => value !== undefined, 'is required');

export const AppEventFrame = z.strictObject({
  type: z.literal('event'),
  ref: z.string().min(1).max(MAX_REF_LENGTH).optional(),
  agent: slug('agent id'),
  thread: z.string().min(1, 'must not be empty').max(MAX_THREAD_LENGTH, `must be at most ${MAX_THREAD_LENGTH} characters`),
  name: z.string().min(1).max(200).optional(),
  payload: json,
});
export type AppEventFrame = z.infer<typeof AppEventFrame>;

export const AckFrame = z.strictObject({ type: z.literal('ack'), eventId });
export type AckFrame = z.infer<typeof AckFrame>;

export const AgentReplyFrame = z.strictObject({ type: z.literal('reply'), eventId, payload: json });
export type AgentReplyFrame = z.infer<typeof AgentReplyFrame>;

export const AgentErrorFrame = z.strictObject({
  type: z.literal('error'),
  eventId,
  error: z.strictObject({ message: z.string().max(2000), code: z.string().max(100).optional() }),
});
export type AgentErrorFrame = z.infer<typeof AgentErrorFrame>;

/** Which frame types each role may send (besides `ping`). */
export const CLIENT_FRAMES = {
  app: { event: AppEventFrame, ack: AckFrame },
  agent: { reply: AgentReplyFrame, error: AgentErrorFrame },
} as const;
