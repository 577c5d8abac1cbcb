/**
 * Webhook event types (PRODUCT.md, Webhooks): Pusher's, raised by the channel side, and
 * Relay's own, raised by the agent relay. A webhook with no types gets them all.
 */
export const WEBHOOK_EVENT_TYPES = [
  'channel_occupied',
  'channel_vacated',
  'member_added',
  'member_removed',
  'client_event',
  'subscription_count',
  'cache_miss',
  'event_delivered',
  'event_failed',
  'event_rejected',
  'connection_opened',
  'connection_closed',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export function isWebhookEventType(value: string): value is WebhookEventType {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);
}

/** One event of a webhook body: Pusher's `{"name", ...fields}`. */
export interface WebhookEvent {
  name: WebhookEventType;
  [field: string]: unknown;
}

/** Why a webhook URL is refused, or null: http and https only, with a host, no credentials in it. */
export function webhookUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${text}" is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `webhook URLs must be http or https (got ${url.protocol.slice(0, -1)})`;
  if (url.hostname === '') return 'the URL has no host';
  if (url.username !== '' || url.password !== '') return 'put no credentials in the URL; check the X-Pusher-Signature header instead';
  if (text.length > 2000) return 'the URL is over 2000 characters';
  return null;
}
