/**
 * Frames of the relay protocol (`GET /v1/connect`). Every frame is one JSON text object
 * with a `type`. This issue speaks the handshake; the event frames come with the agent relay.
 */
export type Role = 'app' | 'agent';

export interface WelcomeFrame {
  type: 'welcome';
  connectionId: string;
  role: Role;
  id: string;
}

export interface PongFrame {
  type: 'pong';
}

export interface ErrorFrame {
  type: 'error';
  error: { code: string; message: string };
}

export type ServerFrame = WelcomeFrame | PongFrame | ErrorFrame;

/** Frames over this size close the socket with 1009 (message too big). */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** Close codes relayd uses on relay-protocol sockets. */
export const RELAY_CLOSE = {
  goingAway: 1001,
  tooBig: 1009,
  tokenExpired: 4001,
  inactive: 4003,
} as const;
