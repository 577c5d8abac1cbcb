import { RelayError } from '../../../shared/errors.js';

/** Webhook ids on the command line: `wh_` and 16 characters. */
export function checkWebhookId(value: string): string {
  if (!/^wh_[0-9A-Za-z]{16}$/.test(value)) {
    throw new RelayError('invalid_request', `invalid webhook id "${value}": webhook ids look like wh_ and 16 letters or digits`, {
      hint: 'list them with `relay webhooks list --app ID`',
    });
  }
  return value;
}
