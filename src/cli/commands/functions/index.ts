import type { Command } from 'commander';
import { act, leaf, str, withOrg, withWide } from '../common.js';

const TRIGGERS = 'before-publish, after-publish or before-dispatch';

export function functionsCommand(program: Command): void {
  const functions = program.command('functions').description("an app's edge functions: sandboxed JavaScript that filters, transforms and routes its events");

  withOrg(leaf(functions, 'deploy', 'deploy a new version of a function (the first makes it); it runs from the next event'))
    .option('--app <id>', 'the app it belongs to')
    .option('--name <name>', 'its name: 1-64 lowercase letters, digits, hyphens, dots and underscores')
    .option('--file <path>', 'the ES module whose default export is the handler (- reads stdin)')
    .option('--trigger <trigger>', `when it runs: ${TRIGGERS}`)
    .option('--channels <pattern>', "channel triggers: the channels it runs for, a name or a prefix ending in * ('orders-*'; default: every channel)")
    .option('--event <name>', 'only events of this name (default: every event)')
    .option('--agent <id>', 'before-dispatch: only events for this agent (default: every agent)')
    .option('--timeout <duration>', 'how long a call may run, 1ms to 1s (default 50ms)')
    .option('--memory <size>', 'memory a call may use, 1MB to 256MB (default 32MB)')
    .option('--on-error <what>', 'when a call throws, times out or returns something wrong: reject the event (default) or pass it on unchanged')
    .option('-q, --quiet', 'print only the version number')
    .action(
      act(() => import('./deploy.js'), (_, f) => ({
        org: f.org as string,
        app: str(f.app),
        name: str(f.name),
        file: str(f.file),
        trigger: str(f.trigger),
        channels: str(f.channels),
        event: str(f.event),
        agent: str(f.agent),
        timeout: str(f.timeout),
        memory: str(f.memory),
        onError: str(f.onError),
        quiet: f.quiet === true,
      })),
    );

  withWide(withOrg(leaf(functions, 'list', "an app's functions in the order they run, with their calls and failures")))
    .option('--app <id>', 'the app')
    .action(act(() => import('./list.js'), (_, f) => ({ org: f.org as string, app: str(f.app) })));

  withOrg(leaf(functions, 'show', 'a function: trigger, filters, limits, versions, counts, then its source (the version that runs, or --version N)'))
    .argument('<name>', 'the function name')
    .option('--app <id>', 'the app')
    .option('--version <n>', 'another version')
    .action(act(() => import('./show.js'), ([name], f) => ({ org: f.org as string, app: str(f.app), name: name as string, version: str(f.version) })));

  withOrg(leaf(functions, 'rollback', 'run an earlier version again, from the next event; the later ones are kept'))
    .argument('<name>', 'the function name')
    .option('--app <id>', 'the app')
    .option('--to <n>', 'the version to run')
    .action(act(() => import('./rollback.js'), ([name], f) => ({ org: f.org as string, app: str(f.app), name: name as string, to: str(f.to) })));

  withOrg(leaf(functions, 'remove', 'remove a function with every version and its log'))
    .argument('<name>', 'the function name')
    .option('--app <id>', 'the app')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act(() => import('./remove.js'), ([name], f) => ({ org: f.org as string, app: str(f.app), name: name as string, yes: f.yes === true })));

  withOrg(leaf(functions, 'logs', "a function's log: what it printed, its failures and timeouts, oldest first (one JSON object a line with --follow --json)"))
    .argument('<name>', 'the function name')
    .option('--app <id>', 'the app')
    .option('--limit <n>', 'the newest this many lines (1-1000)', '50')
    .option('-f, --follow', 'then print new lines as they come, until Ctrl-C')
    .option('--no-reconnect', 'with --follow: when relayd goes away, exit (6) instead of waiting for it to come back')
    .action(
      act(() => import('./logs.js'), ([name], f) => ({
        org: f.org as string,
        app: str(f.app),
        name: name as string,
        limit: f.limit as string,
        follow: f.follow === true,
        reconnect: f.reconnect !== false,
      })),
    );

  withOrg(leaf(functions, 'test', 'run a function once on an event and print what came of it; nothing is published (exit 1 when the call fails)'))
    .argument('<name>', 'the function name')
    .option('--app <id>', 'the app')
    .option('--event <json>', 'the event as its trigger gives it, a JSON object, or @FILE (@- reads stdin)')
    .option('--version <n>', 'another version than the one that runs')
    .action(act(() => import('./test.js'), ([name], f) => ({ org: f.org as string, app: str(f.app), name: name as string, event: str(f.event), version: str(f.version) })));
}
