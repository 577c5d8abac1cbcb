import { RelayError } from '../../src/shared/errors.js';

/** The refusals both drivers raise for encryption keys (issue 18), worded once. */

/** The app has an active key already (the partial unique index encryption_keys_one_active). */
export const activeKeyExists = (appId: string): RelayError =>
  new RelayError('conflict', `app "${appId}" has an active encryption key already`, {
    hint: `\`relay keys rotate --app ${appId}\` makes a new active key (the old one stays for reading)`,
  });

export const cannotRetireActive = (id: string, appId: string): RelayError =>
  new RelayError('conflict', `key ${id} is app "${appId}"'s active key: rotate first, then retire it`, {
    hint: `\`relay keys rotate --app ${appId}\` makes a new active key; the old one becomes decrypt-only and can then be retired`,
  });
