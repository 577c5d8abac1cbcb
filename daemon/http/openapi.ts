import { z } from 'zod';
import { ERRORS, type ErrorCode } from '../../src/shared/errors.js';
import type { HttpMethod, Route } from './routes.js';

/** Where relayd serves the document. */
export const OPENAPI_PATH = '/api/v1/openapi.json';

/** A JSON value as the document holds it. */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The HTTP statuses every operation may answer with an error, as shared responses. */
const ERROR_STATUSES = [400, 401, 403, 404, 413, 429] as const;
type ErrorStatus = (typeof ERROR_STATUSES)[number];

const METHOD_ORDER: readonly HttpMethod[] = ['GET', 'POST', 'PATCH', 'DELETE'];

const JSON_SCHEMA_OPTIONS = { io: 'input', unrepresentable: 'any' } as const;

/**
 * The public API as an OpenAPI 3.1 document, made from the route table and the zod schemas
 * relayd validates with: the `/api/v1` routes (each with its API token scope), the routes that
 * need no credential (`/healthz`, the document's own) and Pusher's signed REST API; never the
 * admin API. Keys come in a fixed order (paths sorted, methods GET POST PATCH DELETE), so that
 * the committed docs/openapi.json diffs cleanly.
 */
export function openApiDocument(routes: readonly Route[], options: { version: string }): JsonObject {
  const components = new Components();
  const paths = new Map<string, Map<HttpMethod, JsonObject>>();
  const operationIds = new Set<string>();
  for (const route of routes) {
    if (route.auth === 'admin') continue;
    if (!route.summary) throw new Error(`${route.method} ${route.path} has no summary; every route of the public API's document needs one`);
    const operation = describe(route, components);
    const id = operation['operationId'] as string;
    if (operationIds.has(id)) throw new Error(`two routes make the operationId "${id}"`);
    operationIds.add(id);
    const path = openApiPath(route.path);
    const methods = paths.get(path) ?? new Map<HttpMethod, JsonObject>();
    methods.set(route.method, operation);
    paths.set(path, methods);
  }
  const sortedPaths: JsonObject = {};
  for (const path of [...paths.keys()].sort()) {
    const methods = paths.get(path) as Map<HttpMethod, JsonObject>;
    const item: JsonObject = {};
    for (const method of METHOD_ORDER) {
      const operation = methods.get(method);
      if (operation) item[method.toLowerCase()] = operation;
    }
    sortedPaths[path] = item;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Relay public API',
      version: options.version,
      description:
        "relayd's public HTTP API: `/api/v1/apps/{app}/...` with an API token of that app holding the operation's scope (`x-relay-scope`), " +
        "and Pusher's signed REST API at `/apps/{app}/...` for the existing server SDKs. Generated from relayd's route table and the schemas it validates with; " +
        'string fields whose rules are checked in code (ids, names, URLs) are plain strings here, and relayd answers 400 naming the rule.',
    },
    servers: [{ url: '/' }],
    paths: sortedPaths,
    components: components.toJson(),
  };
}

/** One operation: its id, summary, security, parameters, body and answers. */
function describe(route: Route, components: Components): JsonObject {
  const operation: JsonObject = { operationId: operationId(route), summary: route.summary as string };
  if (route.auth === 'none') {
    operation['security'] = [];
  } else if (route.auth === 'pusher') {
    operation['security'] = [{ pusherSignature: [] }];
  } else if (route.auth !== 'admin') {
    operation['security'] = [{ apiToken: [route.auth.scope] }];
    operation['x-relay-scope'] = route.auth.scope;
  }
  const parameters = [...pathParameters(route), ...queryParameters(route, components)];
  if (parameters.length > 0) operation['parameters'] = parameters;
  if (route.body) {
    operation['requestBody'] = {
      // An empty body reads as `{}`: a body is required only where `{}` is refused.
      required: !route.body.safeParse({}).success,
      content: { 'application/json': { schema: components.schema(route.body) } },
    };
  }
  operation['responses'] = responses(route);
  return operation;
}

/** `/api/v1/apps/:app/channels/:channel` → `/api/v1/apps/{app}/channels/{channel}`. */
function openApiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

/**
 * From the method and path: `GET /api/v1/apps/:app/channels/:channel` → `getAppsByAppChannelsByChannel`;
 * Pusher's routes, beside the public API's of the same shape, start with `pusher`.
 */
function operationId(route: Route): string {
  const words = route.path
    .replace(/^\/api\/v1(?=\/)/, '')
    .split('/')
    .filter((segment) => segment !== '')
    .flatMap((segment) => (segment.startsWith(':') ? ['by', segment.slice(1)] : segment.split(/[^A-Za-z0-9]+/)))
    .filter((word) => word !== '');
  const head = route.auth === 'pusher' ? ['pusher', route.method.toLowerCase()] : [route.method.toLowerCase()];
  return [...head, ...words].map((word, i) => (i === 0 ? word : word.charAt(0).toUpperCase() + word.slice(1))).join('');
}

function pathParameters(route: Route): JsonObject[] {
  return [...route.path.matchAll(/:(\w+)/g)].map(([, name]) => {
    const parameter: JsonObject = { name: name as string, in: 'path', required: true };
    if (name === 'app') parameter['description'] = route.auth === 'pusher' ? "The app's id, as signed" : "The app's id: the API token must be one of this app's";
    parameter['schema'] = { type: 'string' };
    return parameter;
  });
}

/** One parameter per field of the route's query object, with the field's own schema. */
function queryParameters(route: Route, components: Components): JsonObject[] {
  if (!route.query) return [];
  if (!(route.query instanceof z.ZodObject)) throw new Error(`${route.method} ${route.path}: a query schema must be a zod object, one parameter a field`);
  const object = components.schema(route.query);
  const properties = (object['properties'] ?? {}) as JsonObject;
  const required = new Set((object['required'] ?? []) as string[]);
  return Object.entries(properties).map(([name, schema]) => {
    const parameter: JsonObject = { name, in: 'query', required: required.has(name) };
    const { description, ...rest } = schema as JsonObject;
    if (description !== undefined) parameter['description'] = description;
    parameter['schema'] = rest;
    return parameter;
  });
}

function responses(route: Route): JsonObject {
  const answers: JsonObject = {};
  if (route.ndjson) {
    answers['200'] = {
      description: 'A stream of JSON values, one a line (NDJSON), for as long as the client stays',
      content: { 'application/x-ndjson': { schema: { type: 'object' } } },
    };
  } else {
    const status = route.status ?? 200;
    answers[String(status)] = { description: status === 201 ? 'Created' : 'OK', content: { 'application/json': { schema: { type: 'object' } } } };
  }
  // A body where none is taken, or a query or path parameter out of its rules.
  const errors: ErrorStatus[] = [400];
  if (route.auth !== 'none') errors.push(401, 403, 404);
  if (route.body) errors.push(413);
  if (route.auth !== 'none') errors.push(429);
  for (const status of errors) answers[String(status)] = { $ref: `#/components/responses/${errorResponseName(status)}` };
  answers['default'] = { $ref: '#/components/responses/Error' };
  return answers;
}

/** The codes of the error table that answer with `status`, first one first. */
function codesOf(status: number): ErrorCode[] {
  return (Object.keys(ERRORS) as ErrorCode[]).filter((code) => ERRORS[code].http === status);
}

/** 403 → `Forbidden`: the first code of the status, in PascalCase. */
function errorResponseName(status: ErrorStatus): string {
  return (codesOf(status)[0] as string)
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

/**
 * The document's shared parts. zod's JSON Schemas come with their `$defs` (schemas with an id,
 * such as `JsonValue`): those move here, to `components.schemas`, and their `$ref`s with them.
 */
class Components {
  private readonly schemas = new Map<string, Json>();

  /** A zod schema as JSON Schema (what the client sends: a transform's input). */
  schema(schema: z.ZodType): JsonObject {
    const { $schema: _, $defs, ...rest } = z.toJSONSchema(schema, JSON_SCHEMA_OPTIONS) as JsonObject;
    for (const [name, def] of Object.entries(($defs ?? {}) as JsonObject)) {
      if (name.startsWith('__schema')) throw new Error(`a schema refers to an unnamed schema (${name}): register it with an id (see JsonValue in src/shared/schemas.ts)`);
      const moved = moveRefs(def);
      const known = this.schemas.get(name);
      if (known !== undefined && JSON.stringify(known) !== JSON.stringify(moved)) throw new Error(`two schemas are named ${name}`);
      this.schemas.set(name, moved);
    }
    return moveRefs(rest) as JsonObject;
  }

  toJson(): JsonObject {
    if (this.schemas.has('Error')) throw new Error('a schema is named Error, the name of the error shape');
    const schemas: JsonObject = {};
    for (const name of [...this.schemas.keys(), 'Error'].sort()) schemas[name] = name === 'Error' ? errorSchema() : (this.schemas.get(name) as Json);
    const responses: JsonObject = {};
    for (const status of ERROR_STATUSES) {
      const codes = codesOf(status);
      const response: JsonObject = { description: `${status}: ${codes.map((code) => `\`${code}\``).join(', ')}`, content: errorContent() };
      if (status === 429) response['headers'] = { 'Retry-After': { description: 'Seconds until a request may succeed', schema: { type: 'integer' } } };
      responses[errorResponseName(status)] = response;
    }
    responses['Error'] = { description: "Any other error: the code says which (the error table's HTTP status)", content: errorContent() };
    return {
      schemas,
      responses,
      securitySchemes: {
        apiToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'rly_ and 36 base62 characters',
          description:
            'An API token of the app in the path: `rly_` and 36 base62 characters, the last 6 being the base62 CRC32 of the 30 before them (`rly_[0-9A-Za-z]{36}`). ' +
            "Each operation needs one scope (`x-relay-scope`); a token without scopes has every scope of its app. Every refused credential is the same `401 unauthorized`.",
        },
        pusherSignature: {
          type: 'apiKey',
          in: 'query',
          name: 'auth_signature',
          description:
            "Pusher's signed query, as its server SDKs sign it with the app's channel key and secret (`relay apps credentials`): `auth_key`, `auth_timestamp` (decimal seconds), " +
            '`auth_version=1.0`, `body_md5` (with a body) and `auth_signature`, the HMAC-SHA256 hex of `METHOD\\nPATH\\nQUERY` (the other parameters, sorted) with the secret.',
        },
      },
    };
  }
}

/** `#/$defs/Name` → `#/components/schemas/Name`, wherever it is. */
function moveRefs(value: Json): Json {
  if (Array.isArray(value)) return value.map(moveRefs);
  if (value === null || typeof value !== 'object') return value;
  const moved: JsonObject = {};
  for (const [key, inner] of Object.entries(value)) {
    moved[key] = key === '$ref' && typeof inner === 'string' ? inner.replace(/^#\/\$defs\//, '#/components/schemas/') : moveRefs(inner);
  }
  return moved;
}

function errorContent(): JsonObject {
  return { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
}

/** `{"error": {"code", "message", ...details}}`: src/shared/errors.ts's errorBody. */
function errorSchema(): JsonObject {
  const codes = (Object.keys(ERRORS) as ErrorCode[]).filter((code) => ERRORS[code].http !== null);
  return {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', enum: codes },
          message: { type: 'string' },
          hint: { type: 'string', description: 'A one-line suggestion of the fix' },
        },
        description: "The code's details ride beside code and message (as `retryAfter` with 429)",
      },
    },
  };
}

/** The document as committed under docs/: two-space indents and a final newline. */
export function serializeOpenApi(document: JsonObject): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
