/**
 * `audience` lists and the `--audience` default (hashicorp/vault-csi-provider#231, #366) end to end: the token used
 * is the first listed audience's that the driver delivered.
 */
import assert from 'node:assert/strict';
import { startHarness, POD, type Harness } from '../helpers/provider-harness.js';
import type { MountRequest } from '../../src/generated/v1alpha1/MountRequest.js';

const OBJECTS = [{ objectName: 'password', secretPath: 'secret/data/app', secretKey: 'password' }];

describe('e2e: audience lists and --audience', function () {
  this.timeout(30_000);
  let h: Harness;

  /** A request whose tokens map holds one token per audience given. */
  function withTokens(audiences: readonly string[], params: Record<string, string> = {}): MountRequest {
    const base = h.request({ objects: OBJECTS, params, jwt: null });
    const attributes = JSON.parse(base.attributes ?? '{}') as Record<string, string>;
    const tokens: Record<string, { token: string; expirationTimestamp: string }> = {};
    for (const a of audiences) tokens[a] = { token: h.jwtFor(POD, a), expirationTimestamp: new Date(Date.now() + 600_000).toISOString() };
    attributes['csi.storage.k8s.io/serviceAccount.tokens'] = JSON.stringify(tokens);
    return { ...base, attributes: JSON.stringify(attributes) };
  }

  before(async () => {
    h = await startHarness();
    h.vault.putKv('secret', 'app', { password: 'aud-pw' });
    // A role that accepts only the "vault-prod" audience: a mount works only when that token is chosen.
    h.vault.addKubernetesRole('kubernetes', 'prod-aud', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault-prod', policies: ['web'] });
    await h.startProvider({
      defaults: { vaultAddress: h.vault.address, vaultMount: 'kubernetes', vaultNamespace: undefined, tls: {}, audience: 'vault-prod, vault' },
    });
  });
  after(async () => h.close());

  it('uses --audience when the SecretProviderClass names none: the first of its list with a token', async () => {
    const both = await h.client.mount(withTokens(['vault', 'vault-prod'], { roleName: 'prod-aud' }));
    assert.equal(Buffer.from(both.files[0]!.contents).toString(), 'aud-pw');
    // Only "vault" delivered: the second of the list is used, and the prod-aud role refuses its audience.
    const err = await h.client.mountError(withTokens(['vault'], { roleName: 'prod-aud' }));
    assert.match(err.details, /^AUTH_FAILED: /);
    const ok = await h.client.mount(withTokens(['vault']));
    assert.equal(ok.files.length, 1);
  });

  it('lets the SecretProviderClass override the default with its own list, in its own order', async () => {
    const res = await h.client.mount(withTokens(['vault', 'vault-prod'], { audience: 'vault, vault-prod' }));
    assert.equal(res.files.length, 1);
    const err = await h.client.mountError(withTokens(['vault', 'vault-prod'], { audience: 'vault,vault-prod', roleName: 'prod-aud' }));
    assert.match(err.details, /^AUTH_FAILED: /);
  });

  it('names the first listed audience when the driver delivered none of them, and refuses empty entries', async () => {
    const err = await h.client.mountError(withTokens(['other'], { audience: 'a,b' }));
    assert.match(err.details, /^TOKEN_UNAVAILABLE: .*audience "a"/);
    const empty = await h.client.mountError(withTokens(['vault'], { audience: 'a,,b' }));
    assert.match(empty.details, /^INVALID_CONFIG: audience must be an audience or a comma-separated list of audiences, without empty entries$/);
  });
});
