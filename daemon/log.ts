import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/**
 * Structured logs on stderr: one JSON object a line when stderr is not a TTY, a readable
 * line when it is. Nothing that reaches a log may hold a secret; the redact list is a net
 * for the header that carries them.
 */
export function createLogger(level: LogLevel): Logger {
  const options = { level, base: undefined, redact: ['req.headers.authorization', 'authorization', 'token', 'secret'] };
  if (process.stderr.isTTY) {
    return pino(options, pretty({ destination: 2, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino(options, pino.destination({ dest: 2, sync: true }));
}
