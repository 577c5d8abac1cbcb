/**
 * THE error table. Every failure in Relay is a RelayError with one of these codes;
 * only the edges (daemon/http/respond.ts, daemon/ws/*, src/cli/main.ts) read the table
 * to turn a code into an HTTP status, a process exit code or a WebSocket close code.
 */
export const ERRORS = {
  invalid_request: { http: 400, exit: 2, ws: null },
  unauthorized: { http: 401, exit: 4, ws: 4009 },
  forbidden: { http: 403, exit: 4, ws: 4009 },
  insufficient_scope: { http: 403, exit: 4, ws: 4009 },
  not_found: { http: 404, exit: 3, ws: 4001 },
  conflict: { http: 409, exit: 5, ws: 4003 },
  /** An app that was deleted (its id stays taken while its history is kept). */
  app_deleted: { http: 410, exit: 3, ws: 4001 },
  payload_too_large: { http: 413, exit: 2, ws: null },
  /** Data that does not match its JSON Schema: details carry `errors: [{pointer, message}]`, `schema` and `version`. */
  schema_violation: { http: 422, exit: 2, ws: null },
  /**
   * An edge function threw, ran past its limits or returned something wrong, where it rejects
   * on error (or failed `relay functions test`): details carry `function`, `version` and `kind`.
   * Exit 1: the function's code failed, not the command's input.
   */
  function_failed: { http: 422, exit: 1, ws: null },
  rate_limited: { http: 429, exit: 1, ws: 4301 },
  over_quota: { http: 403, exit: 1, ws: 4004 },
  unavailable: { http: 503, exit: 1, ws: 4200 },
  daemon_unreachable: { http: null, exit: 6, ws: null },
  internal: { http: 500, exit: 1, ws: 4200 },
} as const satisfies Record<string, { http: number | null; exit: number; ws: number | null }>;

export type ErrorCode = keyof typeof ERRORS;

export type ErrorDetails = Record<string, unknown>;

export class RelayError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;
  /** A one-line suggestion of the fix, shown by the CLI under the message. */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { details?: ErrorDetails; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RelayError';
    this.code = code;
    this.details = options.details;
    this.hint = options.hint;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

/** The JSON body of every HTTP error: `{"error": {"code", "message", ...details}}`. */
export interface ErrorBody {
  error: { code: string; message: string; [key: string]: unknown };
}

export function errorBody(err: RelayError): ErrorBody {
  const body: ErrorBody = { error: { ...(err.details ?? {}), code: err.code, message: err.message } };
  if (err.hint !== undefined) body.error.hint = err.hint;
  return body;
}
