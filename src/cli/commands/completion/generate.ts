import type { Command, Option } from 'commander';

/**
 * Completion scripts generated from the commander tree, so that they can never drift from
 * it: every command path, its subcommands, its flags and the fixed choices of its arguments.
 */
interface Node {
  /** `""` for the root, `/apps/register` for a verb. */
  path: string;
  words: { word: string; description: string }[];
  flags: { long: string; short: string | null; description: string }[];
}

function walk(cmd: Command, path: string, out: Node[]): void {
  const subcommands = cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);
  const words = subcommands.map((c) => ({ word: c.name(), description: c.description() }));
  for (const arg of cmd.registeredArguments) {
    for (const choice of arg.argChoices ?? []) words.push({ word: choice, description: arg.description });
  }
  const flags = (cmd.options as Option[])
    .filter((o) => !o.hidden && o.long)
    .map((o) => ({ long: o.long as string, short: o.short ?? null, description: o.description }));
  flags.push({ long: '--help', short: '-h', description: 'show help' });
  if (path === '') flags.push({ long: '--version', short: '-V', description: 'show the version' });
  out.push({ path, words, flags });
  for (const sub of subcommands) walk(sub, `${path}/${sub.name()}`, out);
}

function nodes(program: Command): Node[] {
  const out: Node[] = [];
  walk(program, '', out);
  return out;
}

const HEADER = (shell: string): string => `# ${shell} completion for relay. Generated from the command tree by \`relay completion ${shell}\`; do not edit.`;

export function bashScript(program: Command): string {
  const all = nodes(program);
  const paths = all.filter((n) => n.path !== '').map((n) => n.path);
  const cases = all.map((n) => `    "${n.path}") words="${[...n.words.map((w) => w.word), ...n.flags.map((f) => f.long)].join(' ')}" ;;`);
  return `${HEADER('bash')}
_relay_completions() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" word i words=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$path/$word" in
      ${paths.join('|')}) path="$path/$word" ;;
    esac
  done
  case "$path" in
${cases.join('\n')}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _relay_completions relay
`;
}

export function zshScript(program: Command): string {
  const all = nodes(program);
  const paths = all.filter((n) => n.path !== '').map((n) => n.path);
  const quote = (s: string): string => `'${s.replace(/'/g, "'\\''").replace(/:/g, '\\:')}'`;
  const cases = all.map((n) => {
    const items = [...n.words.map((w) => quote(`${w.word}:${w.description}`)), ...n.flags.map((f) => quote(`${f.long}:${f.description}`))];
    return `    (${n.path === '' ? '""' : n.path}) items=(${items.join(' ')}) ;;`;
  });
  return `#compdef relay
${HEADER('zsh')}
_relay() {
  local path_="" w
  local -a items
  for w in \${words[2,CURRENT-1]}; do
    case "$path_/$w" in
      (${paths.join('|')}) path_="$path_/$w" ;;
    esac
  done
  case "$path_" in
${cases.join('\n')}
  esac
  _describe -t commands 'relay' items
}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _relay "$@"
else
  compdef _relay relay
fi
`;
}

export function fishScript(program: Command): string {
  const all = nodes(program);
  const paths = all.filter((n) => n.path !== '').map((n) => n.path);
  const quote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const lines: string[] = [];
  for (const n of all) {
    const condition = `'test (__relay_path) = ${quote(n.path).replace(/^'|'$/g, '"')}'`;
    for (const w of n.words) lines.push(`complete -c relay -n ${condition} -a ${quote(w.word)} -d ${quote(w.description)}`);
    for (const f of n.flags) {
      const short = f.short ? ` -s ${f.short.replace(/^-/, '')}` : '';
      lines.push(`complete -c relay -n ${condition} -l ${f.long.replace(/^--/, '')}${short} -d ${quote(f.description)}`);
    }
  }
  return `${HEADER('fish')}
function __relay_path
  set -l path ""
  for t in (commandline -opc)[2..-1]
    switch "$path/$t"
      case ${paths.join(' ')}
        set path "$path/$t"
    end
  end
  echo $path
end
complete -c relay -f
${lines.join('\n')}
`;
}
