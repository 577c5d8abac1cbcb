import postgres, { PostgresError, type Sql, type TransactionSql } from 'postgres';
import type { Logger } from '../../log.js';
import { StartupError } from '../../startup-error.js';
import { RelayError } from '../../../src/shared/errors.js';

/** int8 (BIGINT, count(*)) read as a number: times are epoch ms, far below 2^53. */
export type PgTypes = { bigint: number };
export type Pg = Sql<PgTypes>;
export type Tx = TransactionSql<PgTypes>;

/** Connections in the pool: a group commit takes one, reads go beside it. */
export const POOL_SIZE = 10;

/** Seconds to wait for a connection (TCP, TLS, authentication) before start-up gives up. */
const CONNECT_TIMEOUT_S = 10;

/** A pool for the store. Nothing connects until the first query. */
export function connect(url: string, log?: Logger): Pg {
  return postgres(url, {
    max: POOL_SIZE,
    connect_timeout: CONNECT_TIMEOUT_S,
    // The default prints to stdout (CREATE ... IF NOT EXISTS says "already exists, skipping").
    onnotice: (notice) => log?.debug({ notice: notice.message }, 'PostgreSQL notice'),
    connection: { application_name: 'relayd' },
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (x: number) => String(x),
        parse: (x: string) => Number(x),
      },
    },
  });
}

/** The URL as an operator may see it in a log: no password, no query (which may hold one). */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return 'the PostgreSQL URL given (it does not parse as a URL)';
  }
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Node's happy eyeballs (localhost: ::1 and 127.0.0.1) fails with every address's error.
  if (err instanceof AggregateError) return errorCode(err.errors[0]);
  return undefined;
}

/** What relayd says, as one line, of a PostgreSQL it cannot start on; other errors pass as they are. */
export function refusal(url: string, err: unknown): unknown {
  const where = describeUrl(url);
  if (err instanceof StartupError) return err;
  if (err instanceof PostgresError) {
    switch (err.code) {
      case '3D000':
        return new StartupError(`PostgreSQL at ${where} has no such database (${err.message}); create it (createdb) or fix the URL`);
      case '28P01':
      case '28000':
        return new StartupError(`PostgreSQL at ${where} refused relayd's credentials (${err.message}); check the user and password in the URL`);
      case '42501':
        return new StartupError(`PostgreSQL at ${where} does not let its user create relayd's tables (${err.message}); grant it CREATE on the database`);
      case '57P03':
        return new StartupError(`PostgreSQL at ${where} is starting up or shutting down (${err.message}); try again when it is up`);
      default:
        return err;
    }
  }
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'ECONNREFUSED':
      return new StartupError(`cannot reach PostgreSQL at ${where}: connection refused; is it running?`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StartupError(`cannot reach PostgreSQL at ${where}: no such host`);
    case 'CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return new StartupError(`cannot reach PostgreSQL at ${where}: no answer within ${CONNECT_TIMEOUT_S} s; is the host right, and is a firewall in the way?`);
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'SSL_NOT_SUPPORTED':
    case 'AUTH_TYPE_NOT_IMPLEMENTED':
    case 'SASL_MECHANISM_NOT_SUPPORTED':
      return new StartupError(`cannot reach PostgreSQL at ${where}: ${message.split('\n')[0]}`);
    default:
      return err;
  }
}

/** Errors that say PostgreSQL cannot be reached now (not that a query was wrong): the connection's, and the server's "going away" ones. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

/**
 * The store with PostgreSQL's "cannot be reached" errors turned into RelayError('unavailable')
 * (503, and the client's retry advice) in every method, as a wrapper: the driver's methods stay
 * plain SQL. postgres reconnects by itself at the next query once the server answers again.
 */
export function withUnavailable<T extends object>(store: T, url: string): T {
  const where = describeUrl(url);
  const translate = (err: unknown): never => {
    const code = errorCode(err);
    if (code !== undefined && UNREACHABLE.has(code)) {
      throw new RelayError('unavailable', `the store (PostgreSQL at ${where}) is unreachable (${code}); try again shortly`);
    }
    throw err;
  };
  // A Proxy rather than 60-odd hand-written forwarders; each method is called on the store itself, so its private fields work.
  return new Proxy(store, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        return result instanceof Promise ? result.catch(translate) : result;
      };
    },
  });
}
