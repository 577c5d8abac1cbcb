# bash completion for relay. Generated from the command tree by `relay completion bash`; do not edit.
_relay_completions() {
  local cur="${COMP_WORDS[COMP_CWORD]}" path="" word i words=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${COMP_WORDS[i]}"
    case "$path/$word" in
      /apps|/apps/register|/apps/list|/apps/show|/apps/update|/apps/deactivate|/apps/activate|/apps/rotate|/apps/credentials|/apps/allow|/apps/disallow|/agents|/agents/register|/agents/list|/agents/show|/agents/rotate|/agents/deactivate|/agents/activate|/tokens|/tokens/create|/tokens/list|/tokens/show|/tokens/revoke|/tokens/rotate|/channels|/channels/list|/webhooks|/webhooks/add|/webhooks/list|/webhooks/remove|/webhooks/deliveries|/events|/events/list|/events/show|/events/tail|/connections|/connections/list|/connections/close|/orgs|/orgs/list|/orgs/create|/status|/audit|/scopes|/rate-limits|/login|/logout|/completion) path="$path/$word" ;;
    esac
  done
  case "$path" in
    "") words="apps agents tokens channels webhooks events connections orgs status audit scopes rate-limits login logout completion --version --help --version" ;;
    "/apps") words="register list show update deactivate activate rotate credentials allow disallow --help" ;;
    "/apps/register") words="--json --jq --url --token --profile --org --quiet --id --name --description --help" ;;
    "/apps/list") words="--json --jq --url --token --profile --org --wide --help" ;;
    "/apps/show") words="--json --jq --url --token --profile --org --wide --help" ;;
    "/apps/update") words="--json --jq --url --token --profile --org --name --description --rate-limit --client-events --subscription-count --limit --help" ;;
    "/apps/deactivate") words="--json --jq --url --token --profile --org --yes --help" ;;
    "/apps/activate") words="--json --jq --url --token --profile --org --help" ;;
    "/apps/rotate") words="--json --jq --url --token --profile --org --quiet --grace --channel-secret --help" ;;
    "/apps/credentials") words="--json --jq --url --token --profile --org --help" ;;
    "/apps/allow") words="--json --jq --url --token --profile --org --help" ;;
    "/apps/disallow") words="--json --jq --url --token --profile --org --help" ;;
    "/agents") words="register list show rotate deactivate activate --help" ;;
    "/agents/register") words="--json --jq --url --token --profile --org --quiet --id --name --timeout --help" ;;
    "/agents/list") words="--json --jq --url --token --profile --org --wide --help" ;;
    "/agents/show") words="--json --jq --url --token --profile --org --help" ;;
    "/agents/rotate") words="--json --jq --url --token --profile --org --quiet --grace --help" ;;
    "/agents/deactivate") words="--json --jq --url --token --profile --org --yes --help" ;;
    "/agents/activate") words="--json --jq --url --token --profile --org --help" ;;
    "/tokens") words="create list show revoke rotate --help" ;;
    "/tokens/create") words="--json --jq --url --token --profile --org --quiet --app --name --description --scope --rate-limit --expires --help" ;;
    "/tokens/list") words="--json --jq --url --token --profile --org --wide --app --help" ;;
    "/tokens/show") words="--json --jq --url --token --profile --help" ;;
    "/tokens/revoke") words="--json --jq --url --token --profile --yes --help" ;;
    "/tokens/rotate") words="--json --jq --url --token --profile --quiet --help" ;;
    "/channels") words="list --help" ;;
    "/channels/list") words="--json --jq --url --token --profile --org --wide --app --prefix --help" ;;
    "/webhooks") words="add list remove deliveries --help" ;;
    "/webhooks/add") words="--json --jq --relay-url --token --profile --org --app --url --event --help" ;;
    "/webhooks/list") words="--json --jq --url --token --profile --org --wide --app --help" ;;
    "/webhooks/remove") words="--json --jq --url --token --profile --yes --help" ;;
    "/webhooks/deliveries") words="--json --jq --url --token --profile --wide --limit --help" ;;
    "/events") words="list show tail --help" ;;
    "/events/list") words="--json --jq --url --token --profile --org --wide --app --agent --thread --status --since --limit --help" ;;
    "/events/show") words="--json --jq --url --token --profile --help" ;;
    "/events/tail") words="--json --jq --url --token --profile --org --app --agent --status --help" ;;
    "/connections") words="list close --help" ;;
    "/connections/list") words="--json --jq --url --token --profile --org --wide --app --help" ;;
    "/connections/close") words="--json --jq --url --token --profile --yes --help" ;;
    "/orgs") words="list create --help" ;;
    "/orgs/list") words="--json --jq --url --token --profile --wide --help" ;;
    "/orgs/create") words="--json --jq --url --token --profile --id --name --help" ;;
    "/status") words="--json --jq --url --token --profile --wide --watch --interval --help" ;;
    "/audit") words="--json --jq --url --token --profile --wide --since --limit --help" ;;
    "/scopes") words="--json --jq --wide --help" ;;
    "/rate-limits") words="--json --jq --wide --help" ;;
    "/login") words="--url --token --with-token --profile --json --help" ;;
    "/logout") words="--profile --json --help" ;;
    "/completion") words="bash zsh fish --help" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _relay_completions relay
