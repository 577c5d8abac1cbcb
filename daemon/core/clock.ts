/** Time comes from here so that expiry and grace periods can be driven by tests. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** setTimeout caps delays at 2^31-1 ms (~24.8 days); longer waits re-arm until due. */
const MAX_DELAY = 2_147_483_647;

export function runAt(clock: Clock, at: number, fn: () => void): { cancel(): void } {
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const delay = at - clock.now();
    if (delay <= 0) {
      fn();
      return;
    }
    timer = setTimeout(arm, Math.min(delay, MAX_DELAY));
    timer.unref();
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}
