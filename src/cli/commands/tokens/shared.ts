import type { Token } from '../../../shared/api.js';
import { RelayError } from '../../../shared/errors.js';
import { looksLikeSecret } from '../../../shared/ids.js';
import type { Context } from '../../context.js';
import { ago, details, fmt, styles, table, when, type Styles, type Text } from '../../output.js';

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

/** Flags what needs attention on a TTY: expiring within 7 days or never, all scopes, not active. */
function expiryText(token: Token, s: Styles, tty: boolean, now: number): Text {
  if (!tty) return token.expiresAt ?? 'never';
  if (token.expiresAt === null) return s.yellow('never');
  const left = Date.parse(token.expiresAt) - now;
  const text = `${when(token.expiresAt)} (${ago(token.expiresAt, now)})`;
  return left < WEEK_MS ? s.yellow(text) : text;
}

function statusText(token: Token, s: Styles): Text {
  return token.status === 'active' ? s.green('active') : token.status === 'expired' ? s.yellow('expired') : s.red('revoked');
}

export async function tokenTable(ctx: Context, tokens: Token[]): Promise<void> {
  const s = await styles(ctx);
  const tty = ctx.io.isStdoutTTY;
  const now = Date.now();
  await table(
    ctx,
    ['ID', 'NAME', 'SCOPES', 'RATE LIMIT', 'EXPIRES', 'LAST USED', 'STATUS'],
    tokens.map((t) => [
      t.id,
      t.name,
      scopesText(t, s, tty),
      `${t.rateLimit.profile} (${t.rateLimit.perMinute}/min, burst ${t.rateLimit.burst})`,
      expiryText(t, s, tty, now),
      tty ? ago(t.lastUsedAt, now) : (t.lastUsedAt ?? 'never'),
      statusText(t, s),
    ]),
  );
}

export async function tokenDetails(ctx: Context, token: Token): Promise<void> {
  const s = await styles(ctx);
  const now = Date.now();
  details(ctx, [
    ['Token', fmt`${s.bold(token.id)} (${token.name})`],
    ['App', `${token.appId} (${token.org})`],
    ['Status', statusText(token, s)],
    ['Scopes', scopesText(token, s, true)],
    ['Rate limit', `${token.rateLimit.profile}: ${token.rateLimit.perMinute}/min, burst ${token.rateLimit.burst}${token.rateLimit.inherited ? " (the app's default)" : ''}`],
    ['Expires', expiryText(token, s, true, now)],
    ['Last used', token.lastUsedAt === null ? 'never' : `${when(token.lastUsedAt)} (${ago(token.lastUsedAt, now)})`],
    ['Created', when(token.createdAt)],
    ...(token.revokedAt ? ([['Revoked', when(token.revokedAt)]] as [string, Text][]) : []),
    ['Description', token.description ?? '-'],
  ]);
}
