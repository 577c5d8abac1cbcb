import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { EventSchema, SchemaRemoved, SchemaViolationError } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import type { SchemaRecord, SchemaVersionRecord, Store } from '../store/store.js';
import { auditRecord, type Actor } from './audit.js';
import type { Clock } from './clock.js';
import { CACHE_TTL_MS } from './control.js';
import { compositeKey as key } from './keys.js';

/** The largest schema document accepted, as JSON text: a schema is a contract, not a data set. */
export const MAX_SCHEMA_BYTES = 64 * 1024;
/** How many of a violation's errors are reported (allErrors finds every one; a user reads the first few). */
export const MAX_REPORTED_ERRORS = 50;

const DRAFT_2020 = 'https://json-schema.org/draft/2020-12/schema';

// ajv-formats is CommonJS: its default export arrives as the module object under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

/**
 * One Ajv per dialect, made once: draft-07 (and 06) by default, 2020-12 when the document's
 * `$schema` names it. allErrors, so that a user sees every error at once. strictSchema, so
 * that a misspelt keyword (`requried`) is refused at `add` rather than silently ignored;
 * strictTypes and strictRequired stay off (they refuse valid schemas written as people write
 * them). Remote `$ref` is never fetched: no loadSchema, and any `$ref` outside the document
 * is refused before Ajv sees it.
 */
function makeAjv(dialect: 'draft-07' | '2020-12'): Ajv {
  const options: Options = { allErrors: true, strict: true, strictTypes: false, strictRequired: false, strictTuples: false, allowUnionTypes: true, logger: false, validateFormats: true };
  const ajv = dialect === '2020-12' ? new Ajv2020(options) : new Ajv(options);
  addFormats(ajv);
  return ajv;
}

/** A compiled version, and what its errors are reported against. */
export interface SchemaValidator {
  name: string;
  appId: string;
  version: number;
  /** The violation of `data`, or null when it matches. Synchronous: the schema is compiled already. */
  violation(data: unknown, where?: { index?: number }): RelayError | null;
  /** Throws the violation of `data` (422 schema_violation). */
  check(data: unknown, where?: { index?: number }): void;
}

export interface SchemasDeps {
  store: Store;
  clock: Clock;
  /** Told after a schema changes, so that every node drops its copy (a control message, awaited). */
  schemasChanged(org: string, appId: string, name: string): Promise<void>;
  /** Told for each agent a forced removal unbound, so that every node drops its copy of the agent. */
  agentChanged(org: string, agentId: string): Promise<void>;
  /** Told when a forced removal unbound channel rules of the app, so that every node reads them again. */
  rulesChanged(org: string, appId: string): Promise<void>;
  /**
   * What validates against a schema, as `agent:ID` (and, once channel rules bind schemas,
   * `rule:ID`): a removal is refused while this is not empty, unless forced. The integrator
   * extends it; each source returns its own names.
   */
  inUseBy(org: string, appId: string, name: string): Promise<string[]>;
}

/**
 * An app's event schemas (JSON Schema, validated with Ajv): versions, the check of data
 * against a schema's latest version, and the caches that keep that check cheap. A schema's
 * latest version is cached per node for CACHE_TTL_MS, dropped on every node by
 * `schemasChanged`; compiled validators are kept per version, and compiled again only when a
 * version's document is not the one compiled (a schema removed and added again reuses numbers).
 */
export class Schemas {
  readonly #deps: SchemasDeps;
  readonly #ajv = { 'draft-07': makeAjv('draft-07'), '2020-12': makeAjv('2020-12') };
  /** org/app/name → its latest version compiled (null: no such schema), until a time. */
  readonly #latest = new Map<string, { validator: SchemaValidator | null; until: number }>();
  /** org/app/name/version → the document compiled and its validator. */
  readonly #compiled = new Map<string, { document: string; validator: SchemaValidator }>();
  /** Bumped by every change: a load that straddles one is not kept. */
  #generation = 0;

  constructor(deps: SchemasDeps) {
    this.#deps = deps;
  }

  async add(actor: Actor, org: string, appId: string, input: { name: string; schema: unknown }): Promise<EventSchema> {
    await this.#requireApp(org, appId);
    const document = this.#prepare(input.schema);
    const record = await this.#deps.store.insertSchemaVersion(
      { org, appId, name: input.name, document, createdAt: this.#deps.clock.now(), createdBy: actor },
      'add',
      auditRecord(this.#deps.clock, actor, 'schema.add', { org, type: 'schema', id: `${appId}/${input.name}` }),
    );
    // `add` either makes version 1 or throws conflict.
    if (!record) throw new RelayError('internal', `schema "${input.name}" was not added`);
    await this.#deps.schemasChanged(org, appId, input.name);
    return this.#toSchema({ latest: record, versions: 1, createdAt: record.createdAt }, null, true);
  }

  /** A new version; the earlier ones stay readable. */
  async update(actor: Actor, org: string, appId: string, name: string, schema: unknown): Promise<EventSchema> {
    await this.#requireApp(org, appId);
    const document = this.#prepare(schema);
    const record = await this.#deps.store.insertSchemaVersion(
      { org, appId, name, document, createdAt: this.#deps.clock.now(), createdBy: actor },
      'update',
      auditRecord(this.#deps.clock, actor, 'schema.update', { org, type: 'schema', id: `${appId}/${name}` }),
    );
    if (!record) throw notFound(org, appId, name);
    await this.#deps.schemasChanged(org, appId, name);
    return this.#toSchema(await this.#require(org, appId, name), null, true);
  }

  async list(org: string, appId: string): Promise<EventSchema[]> {
    await this.#requireApp(org, appId);
    const records = await this.#deps.store.listSchemas(org, appId);
    return Promise.all(records.map((r) => this.#toSchema(r, null, false)));
  }

  /** The latest version, or `version`. */
  async show(org: string, appId: string, name: string, version?: number): Promise<EventSchema> {
    await this.#requireApp(org, appId);
    const schema = await this.#require(org, appId, name);
    if (version === undefined) return this.#toSchema(schema, null, true);
    const record = await this.#deps.store.getSchemaVersion(org, appId, name, version);
    if (!record) {
      throw new RelayError('not_found', `schema "${name}" of app "${appId}" has no version ${version} (it has ${schema.versions === 1 ? 'version 1' : `versions 1 to ${schema.versions}`})`);
    }
    return this.#toSchema(schema, record, true);
  }

  /**
   * Refused (conflict) while anything validates against it, unless `force`: then what did is
   * unbound (agents validate nothing more) in the same write.
   */
  async remove(actor: Actor, org: string, appId: string, name: string, options: { force: boolean }): Promise<SchemaRemoved> {
    await this.#requireApp(org, appId);
    const schema = await this.#require(org, appId, name);
    const users = await this.#deps.inUseBy(org, appId, name);
    if (users.length > 0 && !options.force) {
      const orgFlag = org === 'default' ? '' : ` --org ${org}`;
      throw new RelayError('conflict', `schema "${name}" of app "${appId}" is in use by ${users.join(', ')}: remove it with --force to unbind them too`, {
        details: { usedBy: users },
        hint: `relay schemas remove ${name} --app ${appId} --force${orgFlag}`,
      });
    }
    const shown = await this.#toSchema(schema, null, true);
    const result = await this.#deps.store.deleteSchema(org, appId, name, auditRecord(this.#deps.clock, actor, 'schema.remove', { org, type: 'schema', id: `${appId}/${name}` }, { force: options.force }));
    if (!result) throw notFound(org, appId, name);
    await this.#deps.schemasChanged(org, appId, name);
    for (const agent of result.unboundAgents) await this.#deps.agentChanged(org, agent);
    if (result.unboundRules.length > 0) await this.#deps.rulesChanged(org, appId);
    return { schema: shown, removed: true, unbound: [...users] };
  }

  /** Whether the schema exists (a binding to it is refused otherwise). */
  async exists(org: string, appId: string, name: string): Promise<boolean> {
    return (await this.validatorFor(org, appId, name)) !== null;
  }

  /**
   * The latest version of a schema, compiled; null when there is no such schema. From the
   * node's cache after the first call: a publish pays one map lookup, then the validation.
   */
  async validatorFor(org: string, appId: string, name: string): Promise<SchemaValidator | null> {
    const k = key(org, appId, name);
    const cached = this.#latest.get(k);
    const now = this.#deps.clock.now();
    if (cached && cached.until > now) return cached.validator;
    const generation = this.#generation;
    const record = await this.#deps.store.getSchema(org, appId, name);
    const validator = record ? this.#compile(record.latest) : null;
    if (generation === this.#generation) this.#latest.set(k, { validator, until: now + CACHE_TTL_MS });
    return validator;
  }

  /**
   * Throws schema_violation (422) when `data` does not match the schema's latest version;
   * `where.index` names a batch item. A schema that does not exist checks nothing: removing
   * one unbinds what used it in the same write.
   */
  async check(org: string, appId: string, name: string, data: unknown, where?: { index?: number }): Promise<void> {
    (await this.validatorFor(org, appId, name))?.check(data, where);
  }

  /** A schema changed on some node: the next check reads it again. */
  schemaChanged(org: string, appId: string, name: string): void {
    this.#generation++;
    this.#latest.delete(key(org, appId, name));
    // Its compiled versions go too (a removed schema's would stay otherwise); a version still current compiles again once.
    const versions = key(org, appId, name, '');
    for (const compiledKey of [...this.#compiled.keys()]) if (compiledKey.startsWith(versions)) this.#compiled.delete(compiledKey);
  }

  /** Forgets everything (this node may have missed invalidations while the broker was away). */
  dropAll(): void {
    this.#generation++;
    this.#latest.clear();
    this.#compiled.clear();
  }

  /** The document as stored: size-limited, local references only, and compiling (Ajv's message otherwise). */
  #prepare(schema: unknown): string {
    const document = JSON.stringify(schema);
    const bytes = Buffer.byteLength(document);
    if (bytes > MAX_SCHEMA_BYTES) throw new RelayError('payload_too_large', `the schema is ${bytes} bytes; the limit is ${MAX_SCHEMA_BYTES} bytes (64 KB)`);
    const remote = findRemoteRef(schema);
    if (remote !== null) {
      throw new RelayError('invalid_request', `invalid JSON Schema: $ref "${remote.slice(0, 200)}" points outside the document; relayd never fetches schemas, so only local references ("#/$defs/...") are allowed`);
    }
    this.#build(JSON.parse(document) as object | boolean);
    return document;
  }

  /** Compiles a document with its dialect's Ajv, and lets Ajv forget it (the function keeps what it needs). */
  #build(schema: object | boolean): ValidateFunction {
    const dialect = typeof schema === 'object' && (schema as { $schema?: unknown }).$schema === DRAFT_2020 ? '2020-12' : 'draft-07';
    const ajv = this.#ajv[dialect];
    try {
      return ajv.compile(schema);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new RelayError('invalid_request', `invalid JSON Schema: ${message}`, { hint: 'check it against the JSON Schema specification (draft-07, or 2020-12 with "$schema")' });
    } finally {
      // Ajv keeps only object schemas (by identity, and by $id); true and false are not kept.
      if (typeof schema === 'object') ajv.removeSchema(schema);
    }
  }

  #compile(record: SchemaVersionRecord): SchemaValidator {
    const k = key(record.org, record.appId, record.name, String(record.version));
    const cached = this.#compiled.get(k);
    if (cached && cached.document === record.document) return cached.validator;
    const fn = this.#build(JSON.parse(record.document) as object | boolean);
    const validator = toValidator(record, fn);
    this.#compiled.set(k, { document: record.document, validator });
    return validator;
  }

  async #require(org: string, appId: string, name: string): Promise<SchemaRecord> {
    const schema = await this.#deps.store.getSchema(org, appId, name);
    if (!schema) throw notFound(org, appId, name);
    return schema;
  }

  async #requireApp(org: string, appId: string): Promise<void> {
    if (await this.#deps.store.getApp(org, appId)) return;
    if (!(await this.#deps.store.getOrg(org))) throw new RelayError('not_found', `organization "${org}" not found`);
    throw new RelayError('not_found', `app "${appId}" not found in organization "${org}"`);
  }

  async #toSchema(schema: SchemaRecord, shown: SchemaVersionRecord | null, withDocument: boolean): Promise<EventSchema> {
    const version = shown ?? schema.latest;
    return {
      name: version.name,
      appId: version.appId,
      org: version.org,
      version: version.version,
      versions: schema.versions,
      createdAt: new Date(schema.createdAt).toISOString(),
      updatedAt: new Date(schema.latest.createdAt).toISOString(),
      createdBy: version.createdBy,
      usedBy: await this.#deps.inUseBy(version.org, version.appId, version.name),
      document: withDocument ? (JSON.parse(version.document) as unknown) : null,
    };
  }
}

function toValidator(record: SchemaVersionRecord, fn: ValidateFunction): SchemaValidator {
  const violation = (data: unknown, where?: { index?: number }): RelayError | null => {
    if (fn(data)) return null;
    return violationError(record, fn.errors ?? [], where);
  };
  return {
    name: record.name,
    appId: record.appId,
    version: record.version,
    violation,
    check: (data, where) => {
      const err = violation(data, where);
      if (err) throw err;
    },
  };
}

/** Ajv's errors as JSON pointers into the data ("" for the whole) and messages; the message names the first and the count. */
function violationError(record: SchemaVersionRecord, ajvErrors: ErrorObject[], where?: { index?: number }): RelayError {
  const errors: SchemaViolationError[] = ajvErrors.slice(0, MAX_REPORTED_ERRORS).map((e) => ({ pointer: e.instancePath, message: e.message ?? e.keyword }));
  const first = errors[0] ?? { pointer: '', message: 'does not match' };
  const count = ajvErrors.length;
  const item = where?.index === undefined ? '' : `batch item ${where.index}: `;
  const at = first.pointer === '' ? 'the data' : first.pointer;
  const message = `${item}${count === 1 ? '1 error' : `${count} errors`} against schema "${record.name}" (version ${record.version}): ${at} ${first.message}${count > 1 ? ` (and ${count - 1} more)` : ''}`;
  const details: Record<string, unknown> = { schema: `${record.appId}/${record.name}`, version: record.version, errors };
  if (where?.index !== undefined) details.index = where.index;
  return new RelayError('schema_violation', message, { details });
}

/** The first `$ref` that is not a reference inside the document (`#...`), or null. */
function findRemoteRef(value: unknown): string | null {
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = findRemoteRef(item);
      if (found !== null) return found;
    }
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    if ((k === '$ref' || k === '$dynamicRef' || k === '$recursiveRef') && typeof v === 'string' && !v.startsWith('#')) return v;
    const found = findRemoteRef(v);
    if (found !== null) return found;
  }
  return null;
}

function notFound(org: string, appId: string, name: string): RelayError {
  const orgFlag = org === 'default' ? '' : ` --org ${org}`;
  return new RelayError('not_found', `app "${appId}" has no schema "${name}"`, { hint: `list them with \`relay schemas list --app ${appId}${orgFlag}\`` });
}
