import { lookup as dnsLookup } from 'node:dns';
import { Agent as HttpAgent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { addressRefusal, hostRefusal } from './address-policy.js';

/** Said with every refusal, so that whoever reads it knows who can change it and how. */
const ONLY_PUBLIC = 'relayd sends webhooks only to public addresses unless it is started with --webhook-allow-private';

/** A webhook target the address policy refuses; nothing was connected. */
export class AddressNotAllowed extends Error {}

/**
 * The lookup the sockets connect with: every address a name resolves to is checked, so a
 * name that resolves (or is rebound) to a private address is refused before connecting,
 * whatever it resolved to at registration.
 */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    for (const { address } of addresses) {
      const what = addressRefusal(address);
      if (what !== null) return callback(new AddressNotAllowed(`address not allowed: ${hostname} resolves to ${address}, ${what}; ${ONLY_PUBLIC}`), '');
    }
    const first = addresses[0];
    if (options.all) callback(null, addresses);
    else if (first) callback(null, first.address, first.family);
    else callback(Object.assign(new Error(`${hostname} resolves to no address`), { code: 'ENOTFOUND' }), '');
  });
};

/**
 * POSTs webhook bodies with node's http and https, which follow no redirects. Unless
 * private targets are allowed, a literal IP (which node connects to without a lookup) is
 * checked before the request and a name in the lookup, at every attempt.
 */
export class WebhookHttp {
  readonly #allowPrivate: boolean;
  // Own pools, so that every pooled socket was opened through the checked lookup.
  readonly #http = new HttpAgent({ keepAlive: true });
  readonly #https = new HttpsAgent({ keepAlive: true });

  constructor(options: { allowPrivate: boolean }) {
    this.#allowPrivate = options.allowPrivate;
  }

  /** Why a webhook URL may not be registered (its host a private address or name), or null; always null when private targets are allowed. */
  refusal(url: string): string | null {
    if (this.#allowPrivate) return null;
    const { hostname } = new URL(url);
    const what = hostRefusal(hostname);
    return what === null ? null : `webhook URL not allowed: ${hostname} is ${what}; ${ONLY_PUBLIC}`;
  }

  /** Resolves with the answer's status once its body has been read and dropped (or cut by `signal`). */
  post(target: string, headers: OutgoingHttpHeaders, body: string, signal: AbortSignal): Promise<number> {
    const url = new URL(target);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const literal = isIP(host) === 0 ? null : addressRefusal(host);
    if (!this.#allowPrivate && literal !== null) return Promise.reject(new AddressNotAllowed(`address not allowed: ${host} is ${literal}; ${ONLY_PUBLIC}`));
    const https = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      let status: number | null = null;
      const req = (https ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          headers: { ...headers, 'content-length': Buffer.byteLength(body) },
          agent: https ? this.#https : this.#http,
          signal,
          ...(this.#allowPrivate ? {} : { lookup: publicOnlyLookup }),
        },
        (res) => {
          status = res.statusCode ?? 0;
          const answered = status;
          // The status decides the attempt; a body cut short afterwards does not change it.
          res.on('error', () => undefined);
          res.once('close', () => resolve(answered));
          res.resume();
        },
      );
      req.once('error', (err) => (status === null ? reject(err) : resolve(status)));
      req.end(body);
    });
  }

  /** Closes the pooled keep-alive sockets. */
  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
