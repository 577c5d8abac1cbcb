import { expect } from 'vitest';
import { relay } from './cli.js';
import type { Daemon } from './daemon.js';
import type { OpenSocket } from './ws.js';

/** A relay-protocol frame as a test reads it. */
export type Frame = Record<string, unknown>;

/** An event as `relay events show --json` prints it. */
export type ShownEvent = Frame & { attempt: number; status: string; timeline: { type: string }[] };

/** The socket's next frame, which must be of `type`. */
export async function expectFrame(socket: OpenSocket, type: string, timeoutMs?: number): Promise<Frame> {
  const frame = await socket.nextFrame(timeoutMs);
  expect(frame.type, JSON.stringify(frame)).toBe(type);
  return frame;
}

/** Sends an event frame from an app's socket; its id once relayd has accepted it. */
export async function sendEvent(app: OpenSocket, frame: Frame): Promise<string> {
  app.send({ type: 'event', ...frame });
  const accepted = await expectFrame(app, 'accepted');
  expect(accepted.ref ?? null).toBe(frame.ref ?? null);
  return accepted.eventId as string;
}

/** The event as `relay events show` tells it, against `daemon`. */
export async function showEvent(daemon: Daemon, id: string): Promise<ShownEvent> {
  const shown = await relay(['events', 'show', id, '--json'], { daemon });
  expect(shown.exitCode, shown.stderr).toBe(0);
  return shown.json<{ event: ShownEvent }>().event;
}
