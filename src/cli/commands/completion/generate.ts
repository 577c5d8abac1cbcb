import type { Command, Option } from 'commander';
import { IdArgument } from '../common.js';

/**
 * Completion scripts generated from the commander tree, so that they can never drift from
 * it: every command path, its subcommands, its flags and the fixed choices of its arguments,
 * and, where an argument is an id (IdArgument), the ids relayd has (`relay __complete KIND`,
 * which prints nothing when relayd is not there).
 */
interface Node {
  /** `""` for the root, `/apps/register` for a verb. */
  path: string;
  words: { word: string; description: string }[];
  flags: { long: string; short: string | null; description: string }[];
  /** The kind of id of each positional argument (`-`: not an id); a variadic last one ends with `...`. */
  args: string[];
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
  const args = cmd.registeredArguments.map((a) => `${a instanceof IdArgument ? a.kind : '-'}${a.variadic ? '...' : ''}`);
  out.push({ path, words, flags, args: args.some((a) => !a.startsWith('-')) ? args : [] });
  for (const sub of subcommands) walk(sub, `${path}/${sub.name()}`, out);
}

function nodes(program: Command): Node[] {
  const out: Node[] = [];
  walk(program, '', out);
  return out;
}

/**
 * The flags that take a value, in every command: the scripts skip the word after them when
 * they count positional arguments. One name must mean the same everywhere for that.
 */
function valueFlags(program: Command): string[] {
  const takes = new Map<string, boolean>();
  const visit = (cmd: Command): void => {
    for (const o of cmd.options as Option[]) {
      // The program's own options come only before a verb (positional options), where no
      // argument is counted: `relay -V` is no clash with `relay schemas show NAME --version 2`.
      if (cmd === program) continue;
      const value = o.required || o.optional;
      for (const name of [o.long, o.short]) {
        if (!name) continue;
        if (takes.has(name) && takes.get(name) !== value) throw new Error(`${name} takes a value in one command and not in another: completion cannot count arguments`);
        takes.set(name, value);
      }
    }
    cmd.commands.forEach(visit);
  };
  visit(program);
  return [...takes].filter(([, value]) => value).map(([name]) => name).sort();
}

const HEADER = (shell: string): string => `# ${shell} completion for relay. Generated from the command tree by \`relay completion ${shell}\`; do not edit.`;

export function bashScript(program: Command): string {
  const all = nodes(program);
  const paths = all.filter((n) => n.path !== '').map((n) => n.path);
  const cases = all.map((n) => {
    const kinds = n.args.length > 0 ? ` kinds="${n.args.join(' ')}"` : '';
    return `    "${n.path}") words="${[...n.words.map((w) => w.word), ...n.flags.map((f) => f.long)].join(' ')}"${kinds} ;;`;
  });
  return `${HEADER('bash')}
_relay_completions() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" word i words="" kinds="" kind org="" flag="" n=0 skip=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    if ((skip)); then
      skip=0
      [[ $flag == --org ]] && org="$word"
      continue
    fi
    case "$path/$word" in
      ${paths.join('|')}) path="$path/$word"; continue ;;
    esac
    case "$word" in
      ${valueFlags(program).join('|')}) skip=1; flag="$word" ;;
      --org=*) org="\${word#--org=}" ;;
      -*) ;;
      *) ((n++)) ;;
    esac
  done
  case "$path" in
${cases.join('\n')}
  esac
  # An id argument: the ids relayd has (none, quietly, when it is not running).
  local -a ks=($kinds)
  kind="\${ks[n]}"
  if [[ -z $kind && \${#ks[@]} -gt 0 && \${ks[\${#ks[@]}-1]} == *... ]]; then kind="\${ks[\${#ks[@]}-1]}"; fi
  kind="\${kind%...}"
  if ((!skip)) && [[ -n $kind && $kind != - && $cur != -* ]]; then
    COMPREPLY=($(compgen -W "$(relay __complete "$kind" \${org:+--org "$org"} 2>/dev/null)" -- "$cur"))
    return
  fi
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
    const kinds = n.args.length > 0 ? `; kinds="${n.args.join(' ')}"` : '';
    return `    (${n.path === '' ? '""' : n.path}) items=(${items.join(' ')})${kinds} ;;`;
  });
  return `#compdef relay
${HEADER('zsh')}
_relay() {
  local path_="" w kinds="" kind org="" flag="" skip=0
  local -i n=0
  local -a items ks ids orgargs
  for w in \${words[2,CURRENT-1]}; do
    if (( skip )); then
      skip=0
      [[ $flag == --org ]] && org="$w"
      continue
    fi
    case "$path_/$w" in
      (${paths.join('|')}) path_="$path_/$w"; continue ;;
    esac
    case "$w" in
      (${valueFlags(program).join('|')}) skip=1; flag="$w" ;;
      (--org=*) org="\${w#--org=}" ;;
      (-*) ;;
      (*) n+=1 ;;
    esac
  done
  case "$path_" in
${cases.join('\n')}
  esac
  # An id argument: the ids relayd has (none, quietly, when it is not running).
  ks=(\${=kinds})
  kind="\${ks[n+1]}"
  if [[ -z $kind && \${#ks} -gt 0 && \${ks[-1]} == *... ]]; then kind="\${ks[-1]}"; fi
  kind="\${kind%...}"
  if (( ! skip )) && [[ -n $kind && $kind != - && \${words[CURRENT]} != -* ]]; then
    [[ -n $org ]] && orgargs=(--org "$org")
    ids=(\${(f)"$(relay __complete "$kind" "\${orgargs[@]}" 2>/dev/null)"})
    compadd -a ids
    return
  fi
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
  const byKinds = new Map<string, string[]>();
  for (const n of all) if (n.args.length > 0) byKinds.set(n.args.join(' '), [...(byKinds.get(n.args.join(' ')) ?? []), n.path]);
  const kindCases = [...byKinds].map(([kinds, ps]) => `    case ${ps.join(' ')}\n      set kinds ${kinds}`);
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
# The kind of id the word being completed is (and the --org given), or a failure if it is none.
function __relay_id_kind
  set -l path ""
  set -l n 0
  set -l skip 0
  set -l flag ""
  set -l org ""
  for t in (commandline -opc)[2..-1]
    if test $skip = 1
      set skip 0
      test "$flag" = --org; and set org $t
      continue
    end
    switch "$path/$t"
      case ${paths.join(' ')}
        set path "$path/$t"
        continue
    end
    if contains -- $t ${valueFlags(program).join(' ')}
      set skip 1
      set flag $t
    else if string match -q -- '--org=*' $t
      set org (string replace -- '--org=' '' $t)
    else if not string match -q -- '-*' $t
      set n (math $n + 1)
    end
  end
  test $skip = 1; and return 1
  set -l kinds
  switch $path
${kindCases.join('\n')}
  end
  set -l kind ""
  test $n -lt (count $kinds); and set kind $kinds[(math $n + 1)]
  if test -z "$kind"; and test (count $kinds) -gt 0; and string match -q -- '*...' $kinds[-1]
    set kind $kinds[-1]
  end
  set kind (string replace -- '...' '' "$kind")
  test -n "$kind"; and test "$kind" != -; or return 1
  echo $kind
  test -n "$org"; and echo $org
  return 0
end
# The ids relayd has (none, quietly, when it is not running).
function __relay_ids
  set -l spec (__relay_id_kind); or return
  if set -q spec[2]
    relay __complete $spec[1] --org $spec[2] 2>/dev/null
  else
    relay __complete $spec[1] 2>/dev/null
  end
end
complete -c relay -f
complete -c relay -n '__relay_id_kind >/dev/null' -a '(__relay_ids)'
${lines.join('\n')}
`;
}
