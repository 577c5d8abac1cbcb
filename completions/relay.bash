# bash completion for relay. Generated from the command tree by `relay completion bash`; do not edit.
_relay_completions() {
  local cur="${COMP_WORDS[COMP_CWORD]}" path="" word i words="" kinds="" kind org="" flag="" n=0 skip=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${COMP_WORDS[i]}"
    if ((skip)); then
      skip=0
      [[ $flag == --org ]] && org="$word"
      continue
    fi
    case "$path/$word" in
      /apps|/apps/register|/apps/list|/apps/show|/apps/update|/apps/deactivate|/apps/delete|/apps/activate|/apps/rotate|/apps/credentials|/apps/allow|/apps/disallow|/agents|/agents/register|/agents/list|/agents/show|/agents/update|/agents/rotate|/agents/deactivate|/agents/delete|/agents/activate|/tokens|/tokens/create|/tokens/list|/tokens/show|/tokens/revoke|/tokens/rotate|/channels|/channels/list|/channels/rules|/channels/rules/add|/channels/rules/list|/channels/rules/show|/channels/rules/update|/channels/rules/remove|/channels/rules/test|/webhooks|/webhooks/add|/webhooks/list|/webhooks/remove|/webhooks/deliveries|/keys|/keys/create|/keys/list|/keys/rotate|/keys/retire|/schemas|/schemas/add|/schemas/list|/schemas/show|/schemas/update|/schemas/remove|/functions|/functions/deploy|/functions/list|/functions/show|/functions/rollback|/functions/remove|/functions/logs|/functions/test|/events|/events/list|/events/show|/events/tail|/connections|/connections/list|/connections/close|/orgs|/orgs/list|/orgs/create|/status|/analytics|/audit|/scopes|/rate-limits|/login|/logout|/completion) path="$path/$word"; continue ;;
    esac
    case "$word" in
      --agent|--app|--before|--by|--channels|--client-events|--description|--event|--expires|--file|--grace|--history|--id|--interval|--jq|--key|--limit|--max-members|--memory|--metric|--name|--on-error|--org|--pattern|--prefix|--profile|--rate-limit|--relay-url|--retention|--schema|--schema-event|--scope|--secret|--since|--status|--subscription-count|--thread|--timeout|--to|--token|--trigger|--until|--url|--version) skip=1; flag="$word" ;;
      --org=*) org="${word#--org=}" ;;
      -*) ;;
      *) ((n++)) ;;
    esac
  done
  case "$path" in
    "") words="apps agents tokens channels webhooks keys schemas functions events connections orgs status analytics audit scopes rate-limits login logout completion --version --help --version" ;;
    "/apps") words="register list show update deactivate delete activate rotate credentials allow disallow --help" ;;
    "/apps/register") words="--json --jq --url --token --profile --org --quiet --id --name --description --key --secret --help" ;;
    "/apps/list") words="--json --jq --url --token --profile --org --wide --help" ;;
    "/apps/show") words="--json --jq --url --token --profile --org --wide --help" kinds="apps" ;;
    "/apps/update") words="--json --jq --url --token --profile --org --name --description --rate-limit --client-events --subscription-count --limit --key --secret --help" kinds="apps" ;;
    "/apps/deactivate") words="--json --jq --url --token --profile --org --yes --help" kinds="apps" ;;
    "/apps/delete") words="--json --jq --url --token --profile --org --purge --yes --help" kinds="apps" ;;
    "/apps/activate") words="--json --jq --url --token --profile --org --help" kinds="apps" ;;
    "/apps/rotate") words="--json --jq --url --token --profile --org --quiet --grace --channel-secret --help" kinds="apps" ;;
    "/apps/credentials") words="--json --jq --url --token --profile --org --env --help" kinds="apps" ;;
    "/apps/allow") words="--json --jq --url --token --profile --org --help" kinds="apps agents..." ;;
    "/apps/disallow") words="--json --jq --url --token --profile --org --help" kinds="apps agents..." ;;
    "/agents") words="register list show update rotate deactivate delete activate --help" ;;
    "/agents/register") words="--json --jq --url --token --profile --org --quiet --id --name --timeout --help" ;;
    "/agents/list") words="--json --jq --url --token --profile --org --wide --help" ;;
    "/agents/show") words="--json --jq --url --token --profile --org --help" kinds="agents" ;;
    "/agents/update") words="--json --jq --url --token --profile --org --name --timeout --schema --help" kinds="agents" ;;
    "/agents/rotate") words="--json --jq --url --token --profile --org --quiet --grace --help" kinds="agents" ;;
    "/agents/deactivate") words="--json --jq --url --token --profile --org --yes --help" kinds="agents" ;;
    "/agents/delete") words="--json --jq --url --token --profile --org --purge --yes --help" kinds="agents" ;;
    "/agents/activate") words="--json --jq --url --token --profile --org --help" kinds="agents" ;;
    "/tokens") words="create list show revoke rotate --help" ;;
    "/tokens/create") words="--json --jq --url --token --profile --org --quiet --app --name --description --scope --rate-limit --expires --help" ;;
    "/tokens/list") words="--json --jq --url --token --profile --org --wide --app --help" ;;
    "/tokens/show") words="--json --jq --url --token --profile --help" kinds="tokens" ;;
    "/tokens/revoke") words="--json --jq --url --token --profile --yes --help" kinds="tokens" ;;
    "/tokens/rotate") words="--json --jq --url --token --profile --quiet --help" kinds="tokens" ;;
    "/channels") words="list rules --help" ;;
    "/channels/list") words="--json --jq --url --token --profile --org --wide --app --prefix --help" ;;
    "/channels/rules") words="add list show update remove test --help" ;;
    "/channels/rules/add") words="--json --jq --url --token --profile --org --schema --schema-event --client-events --history --retention --max-members --app --pattern --help" ;;
    "/channels/rules/list") words="--json --jq --url --token --profile --org --wide --app --help" ;;
    "/channels/rules/show") words="--json --jq --url --token --profile --help" ;;
    "/channels/rules/update") words="--json --jq --url --token --profile --schema --schema-event --client-events --history --retention --max-members --pattern --help" ;;
    "/channels/rules/remove") words="--json --jq --url --token --profile --yes --help" ;;
    "/channels/rules/test") words="--json --jq --url --token --profile --org --wide --app --help" ;;
    "/webhooks") words="add list remove deliveries --help" ;;
    "/webhooks/add") words="--json --jq --relay-url --token --profile --org --app --url --event --help" ;;
    "/webhooks/list") words="--json --jq --url --token --profile --org --wide --app --help" ;;
    "/webhooks/remove") words="--json --jq --url --token --profile --yes --help" kinds="webhooks" ;;
    "/webhooks/deliveries") words="--json --jq --url --token --profile --wide --limit --help" kinds="webhooks" ;;
    "/keys") words="create list rotate retire --help" ;;
    "/keys/create") words="--json --jq --url --token --profile --org --quiet --app --import --help" ;;
    "/keys/list") words="--json --jq --url --token --profile --org --app --help" ;;
    "/keys/rotate") words="--json --jq --url --token --profile --org --quiet --app --help" ;;
    "/keys/retire") words="--json --jq --url --token --profile --yes --help" ;;
    "/schemas") words="add list show update remove --help" ;;
    "/schemas/add") words="--json --jq --url --token --profile --org --app --name --file --help" ;;
    "/schemas/list") words="--json --jq --url --token --profile --org --wide --app --help" ;;
    "/schemas/show") words="--json --jq --url --token --profile --org --app --version --help" ;;
    "/schemas/update") words="--json --jq --url --token --profile --org --app --file --help" ;;
    "/schemas/remove") words="--json --jq --url --token --profile --org --app --force --yes --help" ;;
    "/functions") words="deploy list show rollback remove logs test --help" ;;
    "/functions/deploy") words="--json --jq --url --token --profile --org --app --name --file --trigger --channels --event --agent --timeout --memory --on-error --quiet --help" ;;
    "/functions/list") words="--json --jq --url --token --profile --org --wide --app --help" ;;
    "/functions/show") words="--json --jq --url --token --profile --org --app --version --help" ;;
    "/functions/rollback") words="--json --jq --url --token --profile --org --app --to --help" ;;
    "/functions/remove") words="--json --jq --url --token --profile --org --app --yes --help" ;;
    "/functions/logs") words="--json --jq --url --token --profile --org --app --limit --follow --no-reconnect --help" ;;
    "/functions/test") words="--json --jq --url --token --profile --org --app --event --version --help" ;;
    "/events") words="list show tail --help" ;;
    "/events/list") words="--json --jq --url --token --profile --org --wide --app --agent --thread --status --since --limit --before --help" ;;
    "/events/show") words="--json --jq --url --token --profile --help" kinds="events" ;;
    "/events/tail") words="--json --jq --url --token --profile --org --app --agent --thread --status --no-reconnect --help" ;;
    "/connections") words="list close --help" ;;
    "/connections/list") words="--json --jq --url --token --profile --org --wide --app --help" ;;
    "/connections/close") words="--json --jq --url --token --profile --yes --help" kinds="connections" ;;
    "/orgs") words="list create --help" ;;
    "/orgs/list") words="--json --jq --url --token --profile --wide --help" ;;
    "/orgs/create") words="--json --jq --url --token --profile --id --name --help" ;;
    "/status") words="--json --jq --url --token --profile --wide --watch --interval --no-reconnect --help" ;;
    "/analytics") words="--json --jq --url --token --profile --org --wide --app --since --until --by --metric --help" ;;
    "/audit") words="--json --jq --url --token --profile --wide --since --limit --help" ;;
    "/scopes") words="--json --jq --wide --help" ;;
    "/rate-limits") words="--json --jq --wide --help" ;;
    "/login") words="--url --token --with-token --profile --json --help" ;;
    "/logout") words="--profile --json --help" ;;
    "/completion") words="bash zsh fish --help" ;;
  esac
  # An id argument: the ids relayd has (none, quietly, when it is not running).
  local -a ks=($kinds)
  kind="${ks[n]}"
  if [[ -z $kind && ${#ks[@]} -gt 0 && ${ks[${#ks[@]}-1]} == *... ]]; then kind="${ks[${#ks[@]}-1]}"; fi
  kind="${kind%...}"
  if ((!skip)) && [[ -n $kind && $kind != - && $cur != -* ]]; then
    COMPREPLY=($(compgen -W "$(relay __complete "$kind" ${org:+--org "$org"} 2>/dev/null)" -- "$cur"))
    return
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _relay_completions relay
