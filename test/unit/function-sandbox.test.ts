import { beforeAll, describe, expect, it } from 'vitest';
import { FunctionSandbox, jsonDepth, MAX_INPUT_DEPTH, MAX_ISOLATES, MAX_LOG_LINES, type CallContext, type CallOutcome, type SandboxLimits } from '../../daemon/core/function-sandbox.js';

// Real QuickJS, no mocks. One sandbox for the file, as relayd has one per process.

const limits: SandboxLimits = { timeoutMs: 50, memoryBytes: 32 * 1024 * 1024 };
const before: CallContext = { app: 'app1', trigger: 'before-publish', maxPublishes: 0 };
const after: CallContext = { app: 'app1', trigger: 'after-publish', maxPublishes: 2 };
const event = { app: 'app1', channel: 'orders-1', event: 'created', data: { id: 'o1', card: '4242', total: 12 }, socketId: null };

let sandbox: FunctionSandbox;
let n = 0;
/** A key no other test uses: each source gets its own isolate. */
const key = (name: string): string => `org/app1/${name}@${++n}`;

function failure(outcome: CallOutcome): { kind: string; message: string } {
  if (outcome.ok) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  return { kind: outcome.kind, message: outcome.message };
}

beforeAll(async () => {
  sandbox = await FunctionSandbox.load();
});

describe('calls', () => {
  it('returns the changed event', () => {
    const src = 'export default function (event, ctx) {\n  const { card, ...data } = event.data;\n  return { ...event, data: { ...data, app: ctx.app, trigger: ctx.trigger } };\n}';
    const out = sandbox.call(key('redact'), src, limits, event, before);
    expect(out).toMatchObject({ ok: true, value: { ...event, data: { id: 'o1', total: 12, app: 'app1', trigger: 'before-publish' } }, logs: [], publishes: [] });
    expect(out.durationMs).toBeGreaterThan(0);
  });

  it('waits for an async handler and for a returned promise', () => {
    expect(sandbox.call(key('async'), 'export default async (e) => { await null; return { n: e.data.total + 1 } }', limits, event, before)).toMatchObject({ ok: true, value: { n: 13 } });
    expect(sandbox.call(key('promise'), 'export default (e) => Promise.resolve(e.event)', limits, event, before)).toMatchObject({ ok: true, value: 'created' });
  });

  it('returns null and undefined as they are', () => {
    expect(sandbox.call(key('null'), 'export default () => null', limits, event, before)).toMatchObject({ ok: true, value: null });
    const out = sandbox.call(key('undefined'), 'export default function () {}', limits, event, before);
    expect(out.ok).toBe(true);
    expect(out.ok && out.value).toBeUndefined();
  });

  it('refuses a result JSON cannot carry', () => {
    expect(failure(sandbox.call(key('fn'), 'export default () => () => 1', limits, event, before))).toEqual({ kind: 'invalid-return', message: 'the handler returned a function, which JSON cannot carry' });
    expect(failure(sandbox.call(key('cycle'), 'export default () => { const a = {}; a.a = a; return a }', limits, event, before))).toMatchObject({ kind: 'invalid-return', message: expect.stringContaining('circular') });
    expect(failure(sandbox.call(key('bigint'), 'export default async () => ({ n: 1n })', limits, event, before))).toMatchObject({ kind: 'invalid-return', message: expect.stringContaining('BigInt') });
  });

  it('gives a throw its message and its line and column', () => {
    const src = 'export default function (event) {\n  const x = event.data;\n  throw new Error("no card " + x.id);\n}';
    expect(failure(sandbox.call(key('throw'), src, limits, event, before))).toEqual({ kind: 'error', message: expect.stringMatching(/^Error: no card o1 \(function\.js:3:\d+\)$/) });
    expect(failure(sandbox.call(key('typeerror'), 'export default (e) => e.nothing.here', limits, event, before))).toMatchObject({ kind: 'error', message: expect.stringMatching(/^TypeError: .* \(function\.js:1:\d+\)$/) });
    expect(failure(sandbox.call(key('string'), 'export default () => { throw "plain" }', limits, event, before))).toEqual({ kind: 'error', message: 'plain' });
    expect(failure(sandbox.call(key('reject'), 'export default async () => { await null; throw new RangeError("late") }', limits, event, before))).toMatchObject({ kind: 'error', message: expect.stringMatching(/^RangeError: late/) });
  });

  it('fails a promise that can never settle', () => {
    expect(failure(sandbox.call(key('pending'), 'export default () => new Promise(() => {})', limits, event, before))).toMatchObject({ kind: 'error', message: expect.stringContaining('never settled') });
  });

  it('has no require, process, fetch, timers or std modules', () => {
    const src = 'export default () => [typeof require, typeof process, typeof fetch, typeof setTimeout, typeof setInterval, typeof std, typeof os, typeof WebAssembly]';
    expect(sandbox.call(key('globals'), src, limits, event, before)).toMatchObject({ ok: true, value: Array(8).fill('undefined') });
    expect(failure(sandbox.call(key('dynamic-import'), 'export default () => import("fs")', limits, event, before))).toMatchObject({ kind: 'error', message: expect.stringContaining('functions cannot import modules') });
  });
});

describe('limits', () => {
  it('stops while(true) at its time limit; other keys go on, and the key is rebuilt', () => {
    const src = 'let calls = 0;\nexport default (e) => { calls++; if (e.loop) while (true) {} return calls }';
    const k = key('loop');
    expect(sandbox.call(k, src, limits, {}, before)).toMatchObject({ ok: true, value: 1 });
    const out = sandbox.call(k, src, limits, { loop: true }, before);
    expect(failure(out)).toEqual({ kind: 'timeout', message: 'the function ran past its 50 ms time limit' });
    expect(out.durationMs).toBeGreaterThanOrEqual(50);
    expect(out.durationMs).toBeLessThan(1000);
    expect(sandbox.call(key('other'), 'export default () => "fine"', limits, {}, before)).toMatchObject({ ok: true, value: 'fine' });
    // Rebuilt after the timeout: its module state starts again.
    expect(sandbox.call(k, src, limits, {}, before)).toMatchObject({ ok: true, value: 1 });
  });

  it('counts an async handler\'s jobs against the time limit', () => {
    const src = 'export default async () => { for (;;) await null }';
    expect(failure(sandbox.call(key('async-loop'), src, limits, {}, before)).kind).toBe('timeout');
  });

  it('fails a 1 GB allocation at the memory limit, and serves other keys after', () => {
    for (const body of ['new Uint8Array(2 ** 30)', 'new Array(1e9).fill(1)']) {
      const out = sandbox.call(key('alloc'), `export default () => { const a = ${body}; return a.length }`, limits, {}, before);
      expect(failure(out)).toEqual({ kind: 'memory', message: 'the function ran out of memory (its limit is 32 MB)' });
      // Native built-ins do not poll the interrupt handler: fill() runs until the memory runs out.
      expect(out.durationMs).toBeLessThan(3000);
    }
    expect(sandbox.call(key('after-alloc'), 'export default () => "fine"', limits, {}, before)).toMatchObject({ ok: true, value: 'fine' });
  });

  it('ends deep recursion with an error, not a crash', () => {
    const out = sandbox.call(key('recursion'), 'function down(n) { return down(n + 1) + 1 }\nexport default () => down(0)', limits, {}, before);
    expect(failure(out)).toMatchObject({ kind: 'error', message: expect.stringContaining('stack overflow') });
    expect(sandbox.call(key('after-recursion'), 'export default () => "fine"', limits, {}, before)).toMatchObject({ ok: true, value: 'fine' });
  });

  it('refuses an input nested deeper than it takes', () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_INPUT_DEPTH + 1; i++) deep = [deep];
    expect(failure(sandbox.call(key('deep-input'), 'export default (e) => e', limits, deep, before))).toEqual({ kind: 'error', message: `the input is nested more than ${MAX_INPUT_DEPTH} levels deep` });
    expect(jsonDepth('{"a":[1,{"b":"[[[["}],"c":"\\"{"}')).toBe(3);
  });
});

describe('console', () => {
  it('captures each level, formats arguments like Node, and cuts long lines', () => {
    const src = 'export default () => {\n  console.log("a", 1, { b: [2] }, null, undefined, true);\n  console.info("i"); console.warn("w"); console.error(new TypeError("bad")); console.debug("d");\n  console.log("x".repeat(3000));\n}';
    const out = sandbox.call(key('console'), src, limits, {}, before);
    expect(out.logs).toEqual([
      { level: 'log', message: 'a 1 {"b":[2]} null undefined true' },
      { level: 'info', message: 'i' },
      { level: 'warn', message: 'w' },
      { level: 'error', message: 'TypeError: bad' },
      { level: 'log', message: 'd' },
      { level: 'log', message: 'x'.repeat(2000) },
    ]);
  });

  it(`keeps at most ${MAX_LOG_LINES} lines a call, then says how many were dropped; lines before a failure come back too`, () => {
    const out = sandbox.call(key('chatty'), 'export default () => { for (let i = 0; i < 250; i++) console.log(i); throw new Error("after") }', limits, {}, before);
    expect(failure(out).kind).toBe('error');
    expect(out.logs).toHaveLength(MAX_LOG_LINES + 1);
    expect(out.logs[0]).toEqual({ level: 'log', message: '0' });
    expect(out.logs.at(-1)?.message).toMatch(/^\(150 more console lines dropped/);
  });
});

describe('ctx.publish', () => {
  it('records publishes up to maxPublishes, then throws; those made before the throw come back', () => {
    const src = 'export default (e, ctx) => { ctx.publish("audit", "copied", e.data); ctx.publish("audit", "again", undefined); ctx.publish("audit", "third", 3) }';
    const out = sandbox.call(key('fanout'), src, limits, event, after);
    expect(failure(out)).toMatchObject({ kind: 'error', message: expect.stringContaining('ctx.publish: at most 2 publishes per call') });
    expect(out.publishes).toEqual([
      { channel: 'audit', event: 'copied', data: event.data },
      { channel: 'audit', event: 'again', data: null },
    ]);
  });

  it('is refused when maxPublishes is 0, naming the trigger', () => {
    const out = sandbox.call(key('no-publish'), 'export default (e, ctx) => { ctx.publish("a", "b", 1) }', limits, event, before);
    expect(failure(out).message).toMatch(/^Error: ctx\.publish is for after-publish functions; this one runs before-publish/);
    expect(out.publishes).toEqual([]);
  });

  it('throws a TypeError in the VM for an empty channel or a non-string event', () => {
    const src = 'export default (e, ctx) => { const seen = []; for (const [c, ev] of [["", "x"], ["c", 5]]) { try { ctx.publish(c, ev, 1) } catch (err) { seen.push(err instanceof TypeError) } } return seen }';
    expect(sandbox.call(key('bad-publish'), src, limits, event, after)).toMatchObject({ ok: true, value: [true, true], publishes: [] });
  });
});

describe('check', () => {
  it('accepts a module whose default export is a function', () => {
    expect(sandbox.check('const rate = 2;\nexport default async function (event) { return event }', limits)).toBeNull();
    expect(sandbox.check('export default (e) => e', limits)).toBeNull();
  });

  it.each([
    ['const x = 1;\nlet y = ;\nexport default () => x', 2, 9],
    ['export default function (e) {\n  return e\n}\n}', 4, 1],
    ['export default function (e {\n}', 1, 28],
  ])('gives a syntax error its line and column: %j', (source, line, column) => {
    expect(sandbox.check(source, limits)).toEqual({ message: expect.stringMatching(/^SyntaxError: /), line, column });
  });

  it('says when the default export is missing or not a function', () => {
    expect(sandbox.check('export const handler = () => 1', limits)).toEqual({ message: expect.stringMatching(/^the module has no default export/), line: null, column: null });
    expect(sandbox.check('export default 42', limits)).toEqual({ message: "the module's default export is not a function (it is a number)", line: null, column: null });
    expect(sandbox.check('export default { handler() {} }', limits)?.message).toBe("the module's default export is not a function (it is an object)");
  });

  it('refuses an import, pointing at it', () => {
    expect(sandbox.check('// redaction\nimport fs from "fs";\nexport default () => fs', limits)).toEqual({ message: 'Error: functions cannot import modules (import of "fs")', line: 2, column: 16 });
  });

  it('runs the top level under the limits and gives a top-level throw its line', () => {
    expect(sandbox.check('export default () => 1;\nthrow new Error("at load")', limits)).toMatchObject({ message: 'Error: at load', line: 2 });
    expect(sandbox.check('while (true) {}\nexport default () => 1', limits)?.message).toMatch(/^its top-level code ran past the time limit/);
    expect(sandbox.check('await null;\nexport default () => 1', limits)).toBeNull();
  });
});

describe('isolates', () => {
  const counter = 'let n = 0;\nexport default () => ++n';

  it('keeps module state between calls of one key, never between two keys', () => {
    const a = key('state');
    const b = key('state');
    expect(sandbox.call(a, counter, limits, {}, before)).toMatchObject({ value: 1 });
    expect(sandbox.call(a, counter, limits, {}, before)).toMatchObject({ value: 2 });
    expect(sandbox.call(b, counter, limits, {}, before)).toMatchObject({ value: 1 });
    expect(sandbox.call(a, 'globalThis.shared = 1; export default () => 0', limits, {}, before)).toMatchObject({ value: 0 });
    expect(sandbox.call(b, 'export default () => typeof globalThis.shared', limits, {}, before)).toMatchObject({ value: 'undefined' });
  });

  it('rebuilds a key after drop(), and when its source changes', () => {
    const k = key('drop');
    sandbox.call(k, counter, limits, {}, before);
    expect(sandbox.call(k, counter, limits, {}, before)).toMatchObject({ value: 2 });
    sandbox.drop(k.slice(0, k.indexOf('@')));
    expect(sandbox.call(k, counter, limits, {}, before)).toMatchObject({ value: 1 });
    expect(sandbox.call(k, `${counter} * 10`, limits, {}, before)).toMatchObject({ value: 10 });
  });

  it(`keeps at most ${MAX_ISOLATES} isolates`, () => {
    for (let i = 0; i < MAX_ISOLATES + 5; i++) sandbox.call(`org/lru/f${i}@1`, 'export default () => 1', limits, {}, before);
    expect(sandbox.size).toBeLessThanOrEqual(MAX_ISOLATES);
    sandbox.drop('org/lru/');
  });
});

describe('a failure of the WebAssembly module itself', () => {
  it('costs one call: the sandbox goes on with a fresh module', async () => {
    const resets = sandbox.resets;
    const k = key('state-before-reset');
    sandbox.call(k, 'let n = 0;\nexport default () => ++n', limits, {}, before);
    // JSON.stringify of a deep value recurses on the host's stack without QuickJS's check.
    const out = sandbox.call(key('deep-json'), 'export default () => { let a = []; for (let i = 0; i < 50000; i++) a = [a]; return a }', limits, {}, before);
    expect(failure(out)).toMatchObject({ kind: 'error', message: expect.stringContaining('the sandbox, which was restarted') });
    expect(sandbox.resets).toBe(resets + 1);
    // The spare module took over at once; isolates start again.
    expect(sandbox.call(k, 'let n = 0;\nexport default () => ++n', limits, {}, before)).toMatchObject({ ok: true, value: 1 });
    await sandbox.whenReady();
    expect(sandbox.check(`export default (${'('.repeat(5000)}`, limits)).toMatchObject({ message: expect.stringContaining('could not be compiled') });
    await sandbox.whenReady();
    expect(sandbox.call(key('after-reset'), 'export default () => "fine"', limits, {}, before)).toMatchObject({ ok: true, value: 'fine' });
  });
});
