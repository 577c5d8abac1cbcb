import { Argument, Command, Option } from 'commander';
import type { Context, GlobalOptions } from '../context.js';

/**
 * Building blocks of the command tree. Declaring a command loads only commander; the verb's
 * module is imported when the verb runs, so `relay --version` stays cheap.
 */
export interface VerbModule<O> {
  run(opts: O, ctx: Context): Promise<void>;
}

/** The flags every leaf command takes; `offline` commands never talk to relayd, so they take no --url or --token. */
/**
 * `ownUrl`: the verb has a `--url` of its own (`webhooks add --url URL`, as PRODUCT.md has
 * it), so relayd's URL is `--relay-url` there.
 */
export function leaf(parent: Command, name: string, description: string, options: { offline?: boolean; ownUrl?: boolean } = {}): Command {
  const cmd = parent
    .command(name)
    .description(description)
    .option('--json', 'print JSON on stdout')
    .option('--jq <expr>', 'filter the JSON with a jq expression (implies --json)');
  if (options.offline) return cmd;
  return cmd
    .option(options.ownUrl ? RELAY_URL_FLAG : '--url <url>', 'relayd URL (env RELAY_URL; default: the saved profile, else http://RELAY_HOST:RELAY_PORT as relayd reads them, else http://127.0.0.1:7420)')
    .option('--token <token>', 'admin token (env RELAY_ADMIN_TOKEN; default: the saved profile or the local admin-token file)')
    .option('--profile <name>', 'saved profile to use (env RELAY_PROFILE; default "default")');
}

/** A repeatable flag whose values may also be comma-separated (`--scope a --scope b,c`). */
export const collect = (value: string, previous: string[]): string[] => [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];

const RELAY_URL_FLAG = '--relay-url <url>';

/** The kinds of id that shell completion can offer (`relay __complete KIND` lists them). */
export const ID_KINDS = ['apps', 'agents', 'tokens', 'webhooks', 'connections', 'events'] as const;
export type IdKind = (typeof ID_KINDS)[number];

/** A positional argument that is the id of a `kind`: the completion scripts offer relayd's ids there. */
export class IdArgument extends Argument {
  readonly kind: IdKind;

  constructor(kind: IdKind, name: string, description: string) {
    super(name, description);
    this.kind = kind;
  }
}

export function idArgument(kind: IdKind, name: string, description: string): IdArgument {
  return new IdArgument(kind, name, description);
}

export function withOrg(cmd: Command): Command {
  return cmd.addOption(new Option('--org <org>', 'organization').default('default'));
}

/** Verbs that print a table: `--wide` shows every cell whole instead of fitting the terminal. */
export function withWide(cmd: Command): Command {
  return cmd.option('--wide', 'show every column whole instead of fitting the terminal');
}

export function withQuiet(cmd: Command): Command {
  return cmd.option('-q, --quiet', 'print only the secret, for TOKEN=$(...)');
}

/**
 * The action of a verb: `toOptions` turns commander's positional arguments and flags into
 * the verb's typed Options; the module is loaded only now.
 */
export function act<O>(
  load: () => Promise<VerbModule<O>>,
  toOptions: (args: string[], flags: Record<string, unknown>) => O,
): (...raw: unknown[]) => Promise<void> {
  return async (...raw: unknown[]) => {
    const cmd = raw[raw.length - 1] as Command;
    const flags = cmd.opts<Record<string, unknown>>();
    const globals: GlobalOptions = {
      json: flags.json === true || typeof flags.jq === 'string',
      jq: flags.jq as string | undefined,
      url: (cmd.options.some((o) => o.long === '--relay-url') ? flags.relayUrl : flags.url) as string | undefined,
      token: flags.token as string | undefined,
      profile: flags.profile as string | undefined,
      wide: flags.wide === true,
    };
    const [module, { createContext, systemIO }] = await Promise.all([load(), import('../context.js')]);
    await module.run(toOptions(cmd.processedArgs as string[], flags), createContext(globals, systemIO()));
  };
}

/**
 * Adds the "Examples:" section (gh's) to the --help of every command `examples` names by
 * path (`apps register`); a path that is not a command throws, so the table cannot drift.
 */
export function withExamples(program: Command, examples: Record<string, string[]>): Command {
  for (const [path, lines] of Object.entries(examples)) {
    let cmd: Command | undefined = program;
    for (const name of path.split(' ')) cmd = cmd?.commands.find((c) => c.name() === name);
    if (!cmd) throw new Error(`examples for "${path}", which is not a command`);
    cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`);
  }
  return program;
}

export const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
