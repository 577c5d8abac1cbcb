import type { ChannelRule } from '../../../../shared/api.js';
import { formatDuration, parseDuration } from '../../../../shared/duration.js';
import { RelayError } from '../../../../shared/errors.js';
import { CHANNEL_RULE_RETENTION_MS, type UpdateChannelRuleBody } from '../../../../shared/schemas.js';
import type { Context } from '../../../context.js';
import { details, time } from '../../../output.js';

/** Channel rule ids on the command line: `chr_` and 26 characters. */
export function checkRuleId(value: string): string {
  if (!/^chr_[0-9A-Z]{26}$/.test(value)) {
    throw new RelayError('invalid_request', `invalid channel rule id "${value}": rule ids look like chr_ and 26 capital letters or digits`, {
      hint: 'list them with `relay channels rules list --app ID`',
    });
  }
  return value;
}

/** The settings flags as given; `default` (or `none` for the schema) resets a setting to inherit. */
export interface SettingFlags {
  schema: string | undefined;
  schemaEvent: string | undefined;
  clientEvents: string | undefined;
  history: string | undefined;
  retention: string | undefined;
  maxMembers: string | undefined;
}

export type Settings = Omit<UpdateChannelRuleBody, 'pattern'>;

const RESET = new Set(['default', 'none']);

function onOff(value: string | undefined, flag: string): boolean | null | undefined {
  if (value === undefined) return undefined;
  if (RESET.has(value)) return null;
  if (value === 'on' || value === 'off') return value === 'on';
  throw new RelayError('invalid_request', `invalid ${flag} "${value}": use on, off or default (the app's setting)`);
}

/** The flags as the API's body fields: absent stays, null inherits. */
export function parseSettings(f: SettingFlags): Settings {
  const out: Settings = {};
  if (f.schema !== undefined) out.schema = RESET.has(f.schema) ? null : f.schema;
  if (f.schemaEvent !== undefined) out.schemaEvent = RESET.has(f.schemaEvent) ? null : f.schemaEvent;
  const clientEvents = onOff(f.clientEvents, '--client-events');
  if (clientEvents !== undefined) out.clientEvents = clientEvents;
  const history = onOff(f.history, '--history');
  if (history !== undefined) out.history = history;
  if (f.retention !== undefined) out.retentionMs = RESET.has(f.retention) ? null : parseDuration(f.retention, '--retention', CHANNEL_RULE_RETENTION_MS);
  if (f.maxMembers !== undefined) {
    if (RESET.has(f.maxMembers)) out.maxMembers = null;
    else if (/^\d+$/.test(f.maxMembers)) out.maxMembers = Number(f.maxMembers);
    else throw new RelayError('invalid_request', `invalid --max-members "${f.maxMembers}": use a whole number, or default (the app's limit)`);
  }
  return out;
}

/** An on/off setting of a rule, or what it inherits when unset. */
export const onOffText = (value: boolean | null, inherited: string): string => (value === null ? inherited : value ? 'on' : 'off');

/** One rule's settings as `details` lines; an unset one says what it inherits. */
export function ruleLines(ctx: Context, rule: ChannelRule): [string, string][] {
  return [
    ['Rule', rule.id],
    ['App', rule.appId],
    ['Pattern', rule.pattern],
    ['Schema', rule.schema === null ? '-' : rule.schemaEvent === null ? `${rule.schema} (every event)` : `${rule.schema} (event ${rule.schemaEvent})`],
    ['Client events', onOffText(rule.clientEvents, "the app's setting")],
    ['History', onOffText(rule.history, 'on (default)')],
    ['Retention', rule.retentionMs === null ? "relayd's --history-retention" : formatDuration(rule.retentionMs)],
    ['Max members', rule.maxMembers === null ? "the app's limit" : String(rule.maxMembers)],
    ['Created', time(ctx, rule.createdAt, 'date')],
    ['Updated', time(ctx, rule.updatedAt, 'date')],
  ];
}

export function ruleDetails(ctx: Context, rule: ChannelRule): void {
  details(ctx, ruleLines(ctx, rule));
}
