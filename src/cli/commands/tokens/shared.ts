import type { Token } from '../../../shared/api.js';
import { RelayError } from '../../../shared/errors.js';
import { looksLikeSecret } from '../../../shared/ids.js';
import type { Context } from '../../context.js';
import { column, details, fmt, styles, table, time, type Styles, type Text } from '../../output.js';

const WEEK_MS = 7 * 86_400_000;

/** A token id where one belongs; a secret there is refused so that it stays out of shell history. */
export function checkTokenId(value: string): string {
  if (looksLikeSecret(value)) {
    throw new RelayError('invalid_request', 'that is a token secret, not a token id', {
      hint: 'pass the token id (tok_...) from `relay tokens list --app ID`; revoke this secret if it was shared',
    });
  }
  if (!/^tok_[0-9A-Za-z]{1,64}$/.test(value)) throw new RelayError('invalid_request', `invalid token id "${value}": token ids look like tok_...`);
  return value;
}

function scopesText(token: Token, s: Styles, tty: boolean): Text {
  if (token.scopes.length === 0) return tty ? s.yellow('all scopes') : 'all scopes';
  return token.scopes.join(',');
}

/**
 * Flags what needs attention on a TTY: expiring within 7 days or never. In a table how soon
 * (`in 29d`), in `tokens show` the date as well.
 */
function expiryText(ctx: Context, token: Token, s: Styles, form: 'ago' | 'date'): Text {
  if (!ctx.io.isStdoutTTY) return token.expiresAt ?? 'never';
  if (token.expiresAt === null) return s.yellow('never');
  const left = Date.parse(token.expiresAt) - Date.now();
  const text = form === 'ago' ? time(ctx, token.expiresAt, 'ago') : `${time(ctx, token.expiresAt, 'date')} (${time(ctx, token.expiresAt, 'ago')})`;
  return left < WEEK_MS ? s.yellow(text) : text;
}

export async function tokenTable(ctx: Context, tokens: Token[]): Promise<void> {
  const s = await styles(ctx);
  const tty = ctx.io.isStdoutTTY;
  await table(
    ctx,
    [column.id('ID'), column.text('NAME'), column.text('SCOPES'), column.text('RATE LIMIT'), column.fixed('EXPIRES'), column.fixed('LAST USED'), column.fixed('STATUS')],
    tokens.map((t) => [
      t.id,
      t.name,
      scopesText(t, s, tty),
      `${t.rateLimit.profile} (${t.rateLimit.perMinute}/min, burst ${t.rateLimit.burst})`,
      expiryText(ctx, t, s, 'ago'),
      time(ctx, t.lastUsedAt, 'ago'),
      s.status(t.status),
    ]),
  );
}

export async function tokenDetails(ctx: Context, token: Token): Promise<void> {
  const s = await styles(ctx);
  details(ctx, [
    ['Token', fmt`${s.bold(token.id)} (${token.name})`],
    ['App', `${token.appId} (${token.org})`],
    ['Status', s.status(token.status)],
    ['Scopes', scopesText(token, s, true)],
    ['Rate limit', `${token.rateLimit.profile}: ${token.rateLimit.perMinute}/min, burst ${token.rateLimit.burst}${token.rateLimit.inherited ? " (the app's default)" : ''}`],
    ['Expires', expiryText(ctx, token, s, 'date')],
    ['Last used', token.lastUsedAt === null ? 'never' : `${time(ctx, token.lastUsedAt, 'date')} (${time(ctx, token.lastUsedAt, 'ago')})`],
    ['Created', time(ctx, token.createdAt, 'date')],
    ...(token.revokedAt ? ([['Revoked', time(ctx, token.revokedAt, 'date')]] as [string, Text][]) : []),
    ['Description', token.description ?? '-'],
  ]);
}
