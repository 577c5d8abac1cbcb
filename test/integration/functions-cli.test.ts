import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FunctionEnvelope, FunctionList, FunctionTestResult } from '../../src/shared/api.js';
import { relay } from '../helpers/cli.js';
import { deadUrl, startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';

/**
 * `relay functions` as a user runs it. The first block needs no relayd (the flags are checked
 * before any request: exit 2, never 6 against a dead URL); the second drives a real relayd
 * and NEEDS THE SERVER ROUTES of issue 19 (daemon/http/routes.ts, daemon/core/functions.ts).
 */

function file(name: string, text: string): string {
  const path = join(tempDir('relay-fn-'), name);
  writeFileSync(path, text);
  return path;
}

/** A before-publish function that removes `card` and says what it saw. */
const REDACT = `export default function (event) {
  console.log('saw ' + event.event);
  if (event.data !== null && typeof event.data === 'object') delete event.data.card;
  return event;
}
`;
const REDACT_V2 = REDACT.replace("'saw '", "'v2 saw '");
const THROWS = `export default function () {\n  throw new Error('boom');\n}\n`;

describe('relay functions: flags checked before relayd is asked (no daemon)', () => {
  // Files are made in each test (temp dirs go after each): FN is a function, EMPTY an empty file.
  const deploy = ['functions', 'deploy', '--app', 'acme-pm', '--name', 'redact', '--file', 'FN'];

  it.each([
    [[...deploy], /missing --trigger/],
    [[...deploy, '--trigger', 'on-publish'], /invalid --trigger "on-publish": use before-publish, after-publish or before-dispatch/],
    [[...deploy, '--trigger', 'before-publish', '--agent', 'athena'], /--agent is for before-dispatch functions/],
    [[...deploy, '--trigger', 'before-dispatch', '--channels', 'orders-*'], /--channels is for before-publish and after-publish functions/],
    [[...deploy, '--trigger', 'before-publish', '--channels', 'a*b'], /invalid --channels "a\*b"/],
    [[...deploy, '--trigger', 'before-publish', '--timeout', '5s'], /--timeout must be from 1ms to 1s/],
    [[...deploy, '--trigger', 'before-publish', '--timeout', 'fast'], /invalid --timeout "fast"/],
    [[...deploy, '--trigger', 'before-publish', '--memory', '1GB'], /invalid --memory "1GB"/],
    [[...deploy, '--trigger', 'before-publish', '--on-error', 'ignore'], /invalid --on-error "ignore": use reject .* or pass/],
    [['functions', 'deploy', '--app', 'acme-pm', '--name', 'redact', '--file', '/nonexistent/fn.js', '--trigger', 'before-publish'], /cannot read --file \/nonexistent\/fn.js: no such file/],
    [['functions', 'deploy', '--app', 'acme-pm', '--name', 'redact', '--file', 'EMPTY', '--trigger', 'before-publish'], /is empty/],
    [['functions', 'deploy', '--app', 'acme-pm', '--name', 'Redact', '--file', 'FN', '--trigger', 'before-publish'], /invalid function name "Redact"/],
    [['functions', 'show', 'redact', '--app', 'acme-pm', '--version', '0'], /invalid --version "0"/],
    [['functions', 'rollback', 'redact', '--app', 'acme-pm'], /missing --to/],
    [['functions', 'remove', 'redact', '--app', 'acme-pm'], /pass --yes to remove it/],
    [['functions', 'logs', 'redact', '--app', 'acme-pm', '--limit', '0'], /invalid --limit "0"/],
    [['functions', 'test', 'redact', '--app', 'acme-pm', '--event', '{nope'], /--event is not JSON/],
    [['functions', 'test', 'redact', '--app', 'acme-pm', '--event', '[1]'], /--event must be a JSON object \(the event\), not an array/],
    [['functions', 'test', 'redact', '--app', 'acme-pm', '--event', '@/nonexistent/event.json'], /cannot read --event @\/nonexistent\/event.json: no such file/],
  ])('%j exits 2: %s', async (args, message) => {
    const files: Record<string, string> = { FN: file('fn.js', REDACT), EMPTY: file('empty.js', '\n') };
    const result = await relay([...args.map((a) => files[a] ?? a), '--url', await deadUrl()]);
    expect(result.stderr).toMatch(message);
    expect(result.exitCode, result.stderr).toBe(2);
    expect(result.stdout).toBe('');
  });
});

// ---- the human output, against a real relayd (functions.test.ts covers the behaviour) ----

async function setUp(): Promise<{ daemon: Daemon; publishToken: string }> {
  const daemon = await startDaemon();
  const app = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
  expect(app.exitCode, app.stderr).toBe(0);
  const token = await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'pub', '--scope', 'events:publish', '-q'], { daemon });
  expect(token.exitCode, token.stderr).toBe(0);
  return { daemon, publishToken: token.stdout.trim() };
}

describe('relay functions through relayd: what a person reads', () => {
  it('deploys, lists, shows, tests, rolls back and removes a function', async () => {
    const { daemon } = await setUp();
    const fn = file('redact.js', REDACT);

    const first = await relay(['functions', 'deploy', '--app', 'acme-pm', '--name', 'redact', '--file', fn, '--trigger', 'before-publish', '--channels', 'orders-*', '--timeout', '20ms'], { daemon });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stderr).toContain('Deployed redact version 1 (before-publish on orders-*)');
    expect(first.stdout).toMatch(/Limits: +20ms and 32 MB memory a call/);

    const second = await relay(['functions', 'deploy', '--app', 'acme-pm', '--name', 'redact', '--file', file('redact.js', REDACT_V2), '--trigger', 'before-publish', '--channels', 'orders-*', '-q'], { daemon });
    expect(second).toMatchObject({ exitCode: 0, stdout: '2\n' });

    const shown = await relay(['functions', 'show', 'redact', '--app', 'acme-pm'], { daemon });
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/Version: +2 of 2, the one that runs/);
    expect(shown.stdout).toContain("console.log('v2 saw ' + event.event);");
    const v1 = (await relay(['functions', 'show', 'redact', '--app', 'acme-pm', '--version', '1', '--json'], { daemon })).json<FunctionEnvelope>();
    expect(v1.function).toMatchObject({ version: 1, active: 2, latest: 2, versions: 2, source: REDACT, timeoutMs: 20 });

    const tested = await relay(['functions', 'test', 'redact', '--app', 'acme-pm', '--event', JSON.stringify({ channel: 'orders-1', event: 'order.created', data: { id: 1, card: '4242' } }), '--json'], { daemon });
    expect(tested.exitCode, tested.stderr).toBe(0);
    const result = tested.json<FunctionTestResult>();
    expect(result).toMatchObject({ outcome: 'changed', error: null, logs: [{ level: 'log', message: 'v2 saw order.created' }] });
    expect(JSON.stringify(result.result)).not.toContain('4242');

    const back = await relay(['functions', 'rollback', 'redact', '--app', 'acme-pm', '--to', '1'], { daemon });
    expect(back.exitCode, back.stderr).toBe(0);
    expect(back.stderr).toContain('Rolled back redact to version 1 (was 2)');
    const again = await relay(['functions', 'rollback', 'redact', '--app', 'acme-pm', '--to', '1'], { daemon });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain('redact runs version 1 already');

    // Piped: tab-separated, no header; the version that runs beside the latest.
    const listed = await relay(['functions', 'list', '--app', 'acme-pm'], { daemon });
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.stdout.split('\t').slice(0, 5)).toEqual(['redact', '1 (latest 2)', 'before-publish', 'orders-*', '1']);
    expect((await relay(['functions', 'list', '--app', 'acme-pm', '--json'], { daemon })).json<FunctionList>().functions).toMatchObject([{ name: 'redact', active: 1, latest: 2, source: null }]);

    const removed = await relay(['functions', 'remove', 'redact', '--app', 'acme-pm', '--yes'], { daemon });
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(removed.stderr).toContain('Removed function redact of acme-pm (2 versions)');
    expect((await relay(['functions', 'show', 'redact', '--app', 'acme-pm'], { daemon })).exitCode).toBe(3);
    await daemon.stop();
  });

  it('refuses a source that does not compile with its line and column (exit 2), and a failed test call exits 1', async () => {
    const { daemon } = await setUp();
    const broken = await relay(['functions', 'deploy', '--app', 'acme-pm', '--name', 'broken', '--file', file('broken.js', 'export default function (event) {\n  return event +;\n}\n'), '--trigger', 'before-publish'], { daemon });
    expect(broken.exitCode).toBe(2);
    expect(broken.stderr).toMatch(/line 2/);
    expect(broken.stderr).toMatch(/column \d+/);

    const deployed = await relay(['functions', 'deploy', '--app', 'acme-pm', '--name', 'throws', '--file', file('throws.js', THROWS), '--trigger', 'before-publish'], { daemon });
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    const failed = await relay(['functions', 'test', 'throws', '--app', 'acme-pm', '--event', '{"channel":"c","event":"e","data":{}}'], { daemon });
    expect(failed.exitCode).toBe(1);
    expect(failed.stdout).toMatch(/Outcome: +failed/);
    expect(failed.stderr).toMatch(/error: throws version 1 threw: .*boom/);
    const json = await relay(['functions', 'test', 'throws', '--app', 'acme-pm', '--event', '{"channel":"c","event":"e","data":{}}', '--json'], { daemon });
    expect(json.exitCode).toBe(1);
    expect(json.json<FunctionTestResult>()).toMatchObject({ outcome: 'failed', error: { kind: 'error' } });
    await daemon.stop();
  });
});
