import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { agentsCommand } from './commands/agents/index.js';
import { analyticsCommand } from './commands/analytics/index.js';
import { appsCommand } from './commands/apps/index.js';
import { auditCommand } from './commands/audit/index.js';
import { channelsCommand } from './commands/channels/index.js';
import { completionCommand } from './commands/completion/index.js';
import { withExamples } from './commands/common.js';
import { connectionsCommand } from './commands/connections/index.js';
import { eventsCommand } from './commands/events/index.js';
import { functionsCommand } from './commands/functions/index.js';
import { keysCommand } from './commands/keys/index.js';
import { EXAMPLES } from './commands/examples.js';
import { loginCommands } from './commands/login/index.js';
import { orgsCommand } from './commands/orgs/index.js';
import { rateLimitsCommand } from './commands/rate-limits/index.js';
import { schemasCommand } from './commands/schemas/index.js';
import { scopesCommand } from './commands/scopes/index.js';
import { statusCommand } from './commands/status/index.js';
import { tokensCommand } from './commands/tokens/index.js';
import { webhooksCommand } from './commands/webhooks/index.js';

/** dist/src/cli/program.js → the package root's package.json. */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The whole command tree. Declaring it loads only commander; each verb loads when it runs. */
export function buildProgram(): Command {
  const program = new Command('relay')
    .description('Administer relayd: apps, agents, tokens, channels, webhooks, schemas, edge functions, encryption keys, connections, events and usage analytics.')
    .version(version(), '-V, --version')
    .exitOverride()
    // Program options only before a verb: `relay schemas show NAME --version 2` is the verb's own --version.
    .enablePositionalOptions()
    .showSuggestionAfterError()
    .configureHelp({ sortSubcommands: false });
  appsCommand(program);
  agentsCommand(program);
  tokensCommand(program);
  channelsCommand(program);
  webhooksCommand(program);
  keysCommand(program);
  schemasCommand(program);
  functionsCommand(program);
  eventsCommand(program);
  connectionsCommand(program);
  orgsCommand(program);
  statusCommand(program);
  analyticsCommand(program);
  auditCommand(program);
  scopesCommand(program);
  rateLimitsCommand(program);
  loginCommands(program);
  completionCommand(program);
  return withExamples(program, EXAMPLES);
}
