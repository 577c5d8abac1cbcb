import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { RelayError } from '../../../src/shared/errors.js';
import { describeIssues, parseInput } from '../../../src/shared/schemas.js';
import { jsonTooDeep, tooDeepMessage } from '../../../src/shared/json-depth.js';

/** Reads a JSON body of at most `limit` bytes. An empty body reads as `{}`. */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return parseJson(req, await readBody(req, limit));
}

/** The raw body, at most `limit` bytes (a signed request's MD5 is of these bytes). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(limit);
  return readRaw(req, limit);
}

export function parseJson(req: IncomingMessage, raw: Buffer): unknown {
  if (raw.length === 0) return {};
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new RelayError('invalid_request', `the body must be JSON: send Content-Type: application/json (got ${type ? `"${type}"` : 'none'})`);
  }
  if (jsonTooDeep(raw)) throw new RelayError('invalid_request', `invalid JSON body: ${tooDeepMessage()}`);
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch (err) {
    throw new RelayError('invalid_request', `invalid JSON body: ${(err as Error).message}`);
  }
}

/** Events rather than async iteration: this is on every request's path, and it is measurably cheaper. */
function readRaw(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Gone while its request was being authenticated: 'end' and 'error' have been and gone.
    if (req.destroyed) {
      reject(new ClientGone(new Error('aborted')));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.once('error', (err) => reject(new ClientGone(err)));
  });
}

/** The client went away before its body was complete: nobody is left to answer, and nothing is wrong with relayd. */
export class ClientGone extends Error {
  constructor(cause: Error) {
    super(`the client closed the connection before its request was complete (${cause.message})`, { cause });
    this.name = 'ClientGone';
  }
}

/**
 * Checks a body, a query or a path parameter. The message names the JSON field or query
 * parameter as the caller wrote it (`data is required (a string)`): see describeIssues.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, where = 'body'): z.output<S> {
  const result = parseInput(schema, value);
  if (result.success) return result.data;
  const message =
    where === 'body' ? describeIssues(result.error, 'the body') : where === 'query' ? `query: ${describeIssues(result.error, 'the query')}` : `invalid ${where}: ${describeIssues(result.error)}`;
  throw new RelayError('invalid_request', message);
}

function tooLarge(limit: number): RelayError {
  return new RelayError('payload_too_large', `the body is over ${limit} bytes`);
}
