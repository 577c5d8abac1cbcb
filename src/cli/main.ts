import { CommanderError } from 'commander';
import { strayVariableWarnings } from '../shared/environment.js';
import { ERRORS, RelayError } from '../shared/errors.js';
import { colorEnabled } from './context.js';
import { buildProgram } from './program.js';
import { sanitize } from './sanitize.js';

/** Parse, run, and the ONE place where an error becomes an exit code. */
async function main(): Promise<number> {
  for (const warning of strayVariableWarnings(process.env)) process.stderr.write(`warning: ${sanitize(warning)}\n`);
  try {
    await buildProgram().parseAsync(process.argv);
    return 0;
  } catch (err) {
    return report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has printed its message already; help and --version are not errors.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    return ERRORS.invalid_request.exit;
  }
  // Messages can echo what relayd or the command line was given (a name, an id): printed
  // sanitized, as output.ts prints everything else.
  const color = colorEnabled(process.env, process.stderr.isTTY === true);
  const red = (s: string): string => (color ? `\u001b[31m${s}\u001b[39m` : s);
  if (err instanceof RelayError) {
    process.stderr.write(`${red('error:')} ${sanitize(err.message)}\n`);
    if (err.hint) process.stderr.write(`hint: ${sanitize(err.hint)}\n`);
    return ERRORS[err.code].exit;
  }
  // Ctrl-C at a prompt.
  if (err instanceof Error && err.name === 'ExitPromptError') return 130;
  // The system refused (a config dir that cannot be written, a full disk): its message says what and where.
  if (err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string') {
    process.stderr.write(`${red('error:')} ${sanitize(err.message)}\n`);
    return 1;
  }
  process.stderr.write(`${red('error:')} ${sanitize(err instanceof Error ? err.message : String(err))}\n`);
  if (process.env.RELAY_DEBUG === '1' && err instanceof Error) process.stderr.write(`${(err.stack ?? '').split('\n').map(sanitize).join('\n')}\n`);
  else process.stderr.write('hint: this is a bug; run again with RELAY_DEBUG=1 for details and report it\n');
  return 1;
}

// `relay ... | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

process.exitCode = await main();
