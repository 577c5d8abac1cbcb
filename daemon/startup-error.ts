/**
 * A reason relayd will not start that the operator can fix: what is wrong, which file, and
 * what to do, in the message. main.ts logs it as one line, without a stack, and exits 1.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}
