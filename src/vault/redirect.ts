/**
 * Redirects from Vault, followed as Vault's Go client follows them (vault/api client.go, RawRequestWithContext): a
 * 301, 302 or 307 answer is followed once, to its Location, with the same method, headers and body; never from
 * https to http; a second redirect is not followed. A performance standby or a standby without request forwarding
 * answers this way, pointing at the active node (issue 10 item 4).
 *
 * What the Go client does not do, and we must: the request carries the pod's JWT (a login) or a Vault token, so the
 * Location is followed only to an address the trust policy lets this mount use (config/connection.ts redirectAllowed).
 * A refusal names both addresses and is never sent anywhere.
 */
import { normaliseVaultAddress } from '../config/connection.js';

export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 307]);

/** Whether a redirect may be followed to `target`, a normalised Vault address (origin and any path before /v1/). */
export type RedirectPolicy = (target: string) => boolean;

/** No redirect is followed: the default of a transport built without a policy. */
export const NO_REDIRECTS: RedirectPolicy = () => false;

/** A redirect that was not followed. Carries only addresses, never a query string (it may hold request input). */
export class RedirectRefusedError extends Error {
  override readonly name = 'RedirectRefusedError';
  constructor(
    readonly from: string,
    readonly to: string | undefined,
    readonly reason: 'downgrade' | 'not-allowed' | 'second-redirect' | 'no-location' | 'not-vault',
  ) {
    super(`Vault at ${from} redirected to ${to ?? 'nowhere'} (${reason})`);
  }
}

/** The Vault address of an absolute request URI: its origin and the path before `/v1/`. */
export function vaultAddressOf(uri: URL): string | undefined {
  const at = uri.pathname.indexOf('/v1/');
  if (at === -1) return undefined;
  try {
    return normaliseVaultAddress(`${uri.protocol}//${uri.host}${uri.pathname.slice(0, at)}`, 'Location');
  } catch {
    return undefined;
  }
}

/** Relative references resolve against the request, as Go's resp.Location() does. */
export function followRedirect(requestUri: string, location: string | undefined, policy: RedirectPolicy): string {
  const from = new URL(requestUri);
  const fromAddress = vaultAddressOf(from) ?? from.origin;
  if (location === undefined || location === '') throw new RedirectRefusedError(fromAddress, undefined, 'no-location');
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    throw new RedirectRefusedError(fromAddress, undefined, 'no-location');
  }
  const toAddress = vaultAddressOf(to);
  if (from.protocol === 'https:' && to.protocol !== 'https:') throw new RedirectRefusedError(fromAddress, toAddress ?? to.origin, 'downgrade');
  if (toAddress === undefined) throw new RedirectRefusedError(fromAddress, to.origin, 'not-vault');
  if (!policy(toAddress)) throw new RedirectRefusedError(fromAddress, toAddress, 'not-allowed');
  return to.href;
}

/** The error for a redirect answer to a request that was itself redirected. */
export function secondRedirect(requestUri: string, location: string | undefined): RedirectRefusedError {
  const from = new URL(requestUri);
  let to: string | undefined;
  if (location !== undefined) {
    try {
      const url = new URL(location, from);
      to = vaultAddressOf(url) ?? url.origin;
    } catch {
      to = undefined;
    }
  }
  return new RedirectRefusedError(vaultAddressOf(from) ?? from.origin, to, 'second-redirect');
}

const REASONS: Record<RedirectRefusedError['reason'], string> = {
  downgrade: 'from https to http, a downgrade that is never followed',
  'not-allowed': 'an address this provider may not send tokens to (see --allowed-vault-addresses)',
  'second-redirect': 'after one redirect already (only one is followed)',
  'no-location': 'without a usable Location header',
  'not-vault': 'which is not a Vault API address (no /v1/ path)',
};

/** The sentence an error message gives for a refusal. */
export function refusalReason(err: RedirectRefusedError): string {
  return REASONS[err.reason];
}
