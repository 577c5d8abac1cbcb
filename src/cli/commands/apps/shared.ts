import type { App } from '../../../shared/api.js';
import { RelayError } from '../../../shared/errors.js';
import { CHANNEL_KEY_RULE, CHANNEL_SECRET_RULE, channelKeyProblem, channelSecretProblem } from '../../../shared/ids.js';
import type { Context } from '../../context.js';
import { column, details, fmt, styles, table, time } from '../../output.js';
import { readStdin } from '../checks.js';

/** Views of an app shared by the apps verbs. */
export async function appTable(ctx: Context, apps: App[]): Promise<void> {
  const s = await styles(ctx);
  await table(
    ctx,
    [column.id('ID'), column.text('NAME'), column.fixed('STATUS'), column.fixed('CONNECTIONS'), column.fixed('LAST CONNECTED'), column.fixed('CREATED')],
    apps.map((a) => [
      a.id,
      a.name,
      s.status(a.status),
      a.connected ? s.green(String(a.connections)) : String(a.connections),
      time(ctx, a.lastConnectedAt, 'ago'),
      time(ctx, a.createdAt, 'date'),
    ]),
  );
}

export async function appDetails(ctx: Context, app: App): Promise<void> {
  const s = await styles(ctx);
  details(ctx, [
    ['App', fmt`${s.bold(app.id)} (${app.name})`],
    ['Organization', app.org],
    ['Status', s.status(app.status)],
    ['Connected', app.connected ? s.green(`yes, ${app.connections} connection${app.connections === 1 ? '' : 's'}`) : 'no'],
    ['Last connected', app.lastConnectedAt === null ? 'never' : `${time(ctx, app.lastConnectedAt, 'date')} (${time(ctx, app.lastConnectedAt, 'ago')})`],
    ['Description', app.description ?? '-'],
    ['Rate limit', app.rateLimitProfile],
    ['Channel subscribers', String(app.channelConnections)],
    ['Client events', app.clientEvents ? 'on' : 'off'],
    ['Subscription count', app.subscriptionCount ? 'on' : 'off'],
    ['Channel limits', channelLimits(app)],
    ['Agents', app.allowedAgents.length === 0 ? 'every agent of the organization' : app.allowedAgents.join(', ')],
    ['Created', time(ctx, app.createdAt, 'date')],
    ...(app.previousTokenValidUntil ? ([['Previous token', `valid until ${time(ctx, app.previousTokenValidUntil, 'date')}`]] as [string, string][]) : []),
  ]);
}

function channelLimits(app: App): string {
  const l = app.channelLimits;
  return [
    `${l.maxConnections ?? 'unlimited'} connections`,
    `${l.maxEventBytes} B a message`,
    `${l.maxPresenceMembers} presence members (user_info ${l.maxPresenceUserInfoBytes} B)`,
    `${l.clientEventsPerSecond} client events/s`,
    `${l.maxSubscriptionsPerConnection} subscriptions a connection`,
  ].join(', ');
}

/** `--key` and `--secret` of `apps register` and `apps update`, as commander gives them: `--secret` alone is `true`. */
export interface CredentialFlags {
  key: string | undefined;
  secret: string | true | undefined;
}

/**
 * An existing channel key and secret to keep (moving from Pusher or soketi). The secret never
 * comes from argv, where shell history and `ps` would keep it: `--secret -` reads it from
 * stdin, `--secret` alone asks for it on a terminal, and `--key` without `--secret` asks on a
 * terminal too, where an empty answer leaves the secret to relayd: a new one for `register`,
 * the current one for `update` (`absent`). Without a terminal nothing is asked.
 */
export async function channelCredentials(ctx: Context, flags: CredentialFlags, absent: 'generate' | 'keep'): Promise<{ channelKey?: string; channelSecret?: string }> {
  const { key } = flags;
  if (key !== undefined) {
    const problem = channelKeyProblem(key);
    if (problem) throw new RelayError('invalid_request', `--key ${problem} (${CHANNEL_KEY_RULE})`);
  }
  const secret = await secretInput(ctx, flags, absent);
  if (secret !== undefined) {
    const problem = channelSecretProblem(secret);
    if (problem) throw new RelayError('invalid_request', `the secret given with --secret ${problem} (${CHANNEL_SECRET_RULE})`);
  }
  return { ...(key === undefined ? {} : { channelKey: key }), ...(secret === undefined ? {} : { channelSecret: secret }) };
}

const PIPE_HINT = "pipe it in with --secret - (printf '%s' \"$PUSHER_APP_SECRET\" | relay apps ... --secret -), or give --secret alone on a terminal to be asked";

async function secretInput(ctx: Context, flags: CredentialFlags, absent: 'generate' | 'keep'): Promise<string | undefined> {
  const { secret } = flags;
  if (typeof secret === 'string' && secret !== '-') {
    // The value is not repeated: it is a secret, and it is already in the shell's history.
    throw new RelayError('invalid_request', '--secret does not take the secret itself: on the command line it would stay in your shell history and show in `ps`', { hint: PIPE_HINT });
  }
  const ask = async (question: string): Promise<string> => (await (await ctx.prompter()).password(question)).trim();
  if (secret === '-') {
    if (!ctx.io.isStdinTTY) {
      const piped = await readStdin(ctx.io.stdin);
      if (piped === '') throw new RelayError('invalid_request', '--secret - found nothing on stdin', { hint: PIPE_HINT });
      return piped;
    }
    // stdin is a terminal: typed there, the secret would show, so it is asked for hidden instead.
    if (!ctx.io.canPrompt) throw new RelayError('invalid_request', '--secret - reads the secret from stdin, and stdin is a terminal here', { hint: PIPE_HINT });
    return nonEmpty(await ask('Channel secret (hidden)'));
  }
  if (secret === true) {
    if (!ctx.io.canPrompt) throw new RelayError('invalid_request', '--secret without a value asks for the secret, and there is no terminal to ask on', { hint: PIPE_HINT });
    return nonEmpty(await ask('Channel secret (hidden)'));
  }
  if (flags.key === undefined || !ctx.io.canPrompt) return undefined;
  const answer = await ask(`Channel secret for key ${flags.key} (hidden; Enter to ${absent === 'generate' ? 'have relayd make one' : 'keep the current one'})`);
  return answer === '' ? undefined : answer;
}

function nonEmpty(secret: string): string {
  if (secret === '') throw new RelayError('invalid_request', 'no channel secret given');
  return secret;
}
