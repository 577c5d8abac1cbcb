import { RelayError } from './errors.js';

export const SCOPES = [
  'events:publish',
  'events:batch',
  'channels:read',
  'channels:manage',
  'presence:read',
  'webhooks:manage',
  'encryption:manage',
  'schemas:read',
  'schemas:manage',
  'functions:manage',
  'connections:read',
  'connections:manage',
  'analytics:read',
  'app:read',
  'app:manage',
] as const;

export type Scope = (typeof SCOPES)[number];

export const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  'events:publish': 'Trigger single events',
  'events:batch': 'Batch trigger events',
  'channels:read': 'List and inspect channels and their rules',
  'channels:manage': 'Add, change and remove channel rules',
  'presence:read': 'Read presence channel data',
  'webhooks:manage': 'Manage webhook endpoints',
  'encryption:manage': "Manage the app's encryption keys (create, list, rotate, retire): end-to-end encrypted channels and history at rest",
  'schemas:read': "List and read an app's event schemas and their versions",
  'schemas:manage': 'Add, update (new versions) and remove event schemas',
  'functions:manage': 'Manage edge functions',
  'connections:read': 'List active connections',
  'connections:manage': 'Disconnect connections',
  'analytics:read': 'Read usage analytics',
  'app:read': 'Read app configuration',
  'app:manage': 'Modify app settings',
};

export const SCOPE_CATEGORIES = [...new Set(SCOPES.map((scope) => scope.split(':')[0] as string))];

/** Scopes and category wildcards (`events:*`) a token may be created with. */
export function isGrantableScope(value: string): boolean {
  if ((SCOPES as readonly string[]).includes(value)) return true;
  return value.endsWith(':*') && SCOPE_CATEGORIES.includes(value.slice(0, -2));
}

/** Throws invalid_request naming every unknown scope and listing the valid ones. */
export function validateScopes(values: readonly string[]): string[] {
  const unknown = values.filter((value) => !isGrantableScope(value));
  if (unknown.length > 0) {
    const valid = [...SCOPES, ...SCOPE_CATEGORIES.map((c) => `${c}:*`)].join(', ');
    throw new RelayError('invalid_request', `unknown scope${unknown.length > 1 ? 's' : ''} ${unknown.map((s) => `"${s}"`).join(', ')}; valid scopes: ${valid}`, {
      details: { unknown, valid: [...SCOPES] },
    });
  }
  return [...new Set(values)];
}

/** True when a token granted `granted` (empty: full access) may use `needed`. */
export function grants(granted: readonly string[], needed: Scope): boolean {
  if (granted.length === 0) return true;
  const category = needed.split(':')[0];
  return granted.includes(needed) || granted.includes(`${category}:*`);
}
