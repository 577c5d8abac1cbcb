import type { IncomingMessage } from 'node:http';
import { RelayError } from '../../../src/shared/errors.js';

/** The credential of `Authorization: Bearer ...`; unauthorized when missing or malformed. */
export function bearerToken(req: IncomingMessage): string {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) throw new RelayError('unauthorized', 'missing credential: send Authorization: Bearer <token>');
  return match[1] as string;
}
