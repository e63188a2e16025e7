import assert from 'node:assert/strict';
import { followRedirect, RedirectRefusedError, secondRedirect, vaultAddressOf } from '../../src/vault/transport.js';

const allow = (...targets: string[]) => (target: string): boolean => targets.includes(target);

function refused(fn: () => unknown, reason: RedirectRefusedError['reason'], to?: string): void {
  assert.throws(fn, (err: unknown) => err instanceof RedirectRefusedError && err.reason === reason && (to === undefined || err.to === to));
}

describe('vault/transport: redirects', () => {
  it('follows a Location to an allowed Vault address, keeping its path and query', () => {
    assert.equal(
      followRedirect('http://standby:8200/v1/secret/data/x?version=2', 'http://active:8200/v1/secret/data/x?version=2', allow('http://active:8200')),
      'http://active:8200/v1/secret/data/x?version=2',
    );
    // Relative references resolve against the request, as Go's resp.Location() does.
    assert.equal(followRedirect('https://a:8200/v1/auth/k/login', '/v1/auth/k/login', allow('https://a:8200')), 'https://a:8200/v1/auth/k/login');
    assert.equal(vaultAddressOf(new URL('https://Proxy/vault/v1/x')), 'https://proxy/vault');
  });

  it('refuses a downgrade, an address the policy does not allow, a Location that is not Vault\'s API, and none', () => {
    refused(() => followRedirect('https://a:8200/v1/x', 'http://b:8200/v1/x', () => true), 'downgrade', 'http://b:8200');
    refused(() => followRedirect('http://a:8200/v1/x', 'http://evil:8200/v1/x', allow('http://a:8200')), 'not-allowed', 'http://evil:8200');
    refused(() => followRedirect('http://a:8200/v1/x', 'http://b:8200/login', () => true), 'not-vault');
    refused(() => followRedirect('http://a:8200/v1/x', 'ftp://b/v1/x', () => true), 'not-vault');
    refused(() => followRedirect('http://a:8200/v1/x', undefined, () => true), 'no-location');
    refused(() => followRedirect('http://a:8200/v1/x', 'http://[::1', () => true), 'no-location');
  });

  it('names both addresses when a second redirect is refused', () => {
    const err = secondRedirect('http://b:8200/v1/x', 'http://c:8200/v1/x');
    assert.equal(err.from, 'http://b:8200');
    assert.equal(err.to, 'http://c:8200');
    assert.equal(secondRedirect('http://b:8200/v1/x', undefined).to, undefined);
  });
});
