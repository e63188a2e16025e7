import assert from 'node:assert/strict';
import { ServiceAccountJwtIssuer, startTestVault, type TestVault } from './index.js';
import { call, fakeClock, pick, str, type FakeClock } from './test-helpers.js';

describe('vault-server: kubernetes auth', () => {
  let vault: TestVault;
  let clock: FakeClock;
  let issuer: ServiceAccountJwtIssuer;

  before(async () => {
    clock = fakeClock();
    issuer = new ServiceAccountJwtIssuer({ now: clock.now });
    vault = await startTestVault({ now: clock.now });
    vault.putPolicy('app', 'path "secret/data/app/*" { capabilities = ["read"] }');
    vault.enableKubernetesAuth('kubernetes', { publicKeysPem: [issuer.publicKeyPem], issuer: issuer.issuer });
    vault.addKubernetesRole('kubernetes', 'app', {
      boundServiceAccountNames: ['app', 'worker-*'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['app'], ttlSeconds: 600,
    });
    vault.addKubernetesRole('kubernetes', 'any', { boundServiceAccountNames: ['*'], boundServiceAccountNamespaces: ['*'], policies: [] });
  });
  after(() => vault.close());

  const login = (body: unknown) => call(vault, 'auth/kubernetes/login', { body });

  it('logs in and returns a Vault auth block', async () => {
    const jwt = issuer.signServiceAccountJwt({ namespace: 'prod', serviceAccountName: 'app', serviceAccountUid: 'uid-1' });
    const res = await login({ role: 'app', jwt });
    assert.equal(res.status, 200);
    const body = res.json!;
    assert.deepEqual(Object.keys(body), ['request_id', 'lease_id', 'renewable', 'lease_duration', 'data', 'wrap_info', 'warnings', 'auth', 'mount_type']);
    const auth = body['auth'] as Record<string, unknown>;
    assert.match(str(auth['client_token']), /^hvs\.[A-Za-z0-9]{24}$/);
    assert.deepEqual(auth['policies'], ['app', 'default']);
    assert.deepEqual(auth['token_policies'], ['app', 'default']);
    assert.equal(auth['lease_duration'], 600);
    assert.equal(auth['renewable'], true);
    assert.equal(auth['token_type'], 'service');
    assert.equal(auth['orphan'], true);
    assert.deepEqual(auth['metadata'], {
      role: 'app', service_account_name: 'app', service_account_namespace: 'prod', service_account_secret_name: '', service_account_uid: 'uid-1',
    });
    // The same identity maps to the same entity on every login.
    const again = await login({ role: 'app', jwt });
    assert.equal(pick(again.json, 'auth', 'entity_id'), auth['entity_id']);
    assert.notEqual(pick(again.json, 'auth', 'client_token'), auth['client_token']);
  });

  it('accepts glob-bound service account names and wildcard roles', async () => {
    const jwt = issuer.signServiceAccountJwt({ namespace: 'prod', serviceAccountName: 'worker-7' });
    assert.equal((await login({ role: 'app', jwt })).status, 200);
    const other = issuer.signServiceAccountJwt({ namespace: 'dev', serviceAccountName: 'x', audience: 'whatever' });
    assert.equal((await login({ role: 'any', jwt: other })).status, 200);
  });

  const rejections: [string, () => unknown, number, string][] = [
    ['missing role', () => ({ jwt: 'x' }), 400, 'missing role'],
    ['missing jwt', () => ({ role: 'app' }), 400, 'missing jwt'],
    ['unknown role', () => ({ role: 'nope', jwt: 'x' }), 400, 'invalid role name "nope"'],
    ['bad signature', () => ({ role: 'app', jwt: issuer.signServiceAccountJwt({ namespace: 'prod', serviceAccountName: 'app', wrongKey: true }) }), 403, 'permission denied'],
    ['garbage token', () => ({ role: 'app', jwt: 'not-a-jwt' }), 403, 'permission denied'],
    ['wrong audience', () => ({ role: 'app', jwt: issuer.signServiceAccountJwt({ namespace: 'prod', serviceAccountName: 'app', audience: 'other' }) }), 403,
      'invalid audience (aud) claim: audience claim does not match any expected audience'],
    ['wrong issuer', () => ({ role: 'app', jwt: issuer.signServiceAccountJwt({ namespace: 'prod', serviceAccountName: 'app', issuer: 'https://evil' }) }), 403,
      'invalid issuer (iss) claim'],
    ['wrong service account name', () => ({ role: 'app', jwt: issuer.signServiceAccountJwt({ namespace: 'prod', serviceAccountName: 'intruder' }) }), 403,
      'service account name not authorized'],
    ['wrong namespace', () => ({ role: 'app', jwt: issuer.signServiceAccountJwt({ namespace: 'dev', serviceAccountName: 'app' }) }), 403,
      'namespace not authorized'],
    ['expired token', () => ({ role: 'app', jwt: issuer.signServiceAccountJwt({ namespace: 'prod', serviceAccountName: 'app', expiresAtMs: clock.now() - 120_000, issuedAtMs: clock.now() - 720_000 }) }), 403,
      'invalid expiration time (exp) claim: token is expired'],
    ['not yet valid', () => ({ role: 'app', jwt: issuer.signServiceAccountJwt({ namespace: 'prod', serviceAccountName: 'app', notBeforeMs: clock.now() + 300_000 }) }), 403,
      'invalid not before (nbf) claim: token not yet valid'],
  ];
  for (const [name, body, status, message] of rejections) {
    it(`rejects: ${name}`, async () => {
      const res = await login(body());
      assert.equal(res.status, status);
      assert.deepEqual(res.json, { errors: [message] });
    });
  }

  it('tolerates 60 s of clock skew on exp, then rejects as the injected clock moves', async () => {
    const jwt = issuer.signServiceAccountJwt({ namespace: 'prod', serviceAccountName: 'app', ttlSeconds: 60 });
    clock.advance(100_000);
    assert.equal((await login({ role: 'app', jwt })).status, 200);
    clock.advance(30_000);
    assert.equal((await login({ role: 'app', jwt })).status, 403);
  });

  it('requires POST/PUT for login', async () => {
    const res = await call(vault, 'auth/kubernetes/login');
    assert.equal(res.status, 405);
    // A login path answers before the core wraps errors: the bare message, as real Vault sends it.
    assert.deepEqual(res.json, { errors: ['unsupported operation'] });
  });

  it('logs logins without tokens or JWTs', async () => {
    vault.clearRequests();
    const jwt = issuer.signServiceAccountJwt({ namespace: 'prod', serviceAccountName: 'app' });
    const res = await login({ role: 'app', jwt });
    const token = str(pick(res.json, 'auth', 'client_token'));
    await call(vault, 'auth/token/lookup-self', { token });
    const logText = JSON.stringify(vault.requests);
    assert.ok(!logText.includes(jwt));
    assert.ok(!logText.includes(token));
    assert.equal(vault.countRequests({ kind: 'login' }), 1);
    assert.deepEqual(vault.requests[0], { ...vault.requests[0], method: 'POST', path: '/v1/auth/kubernetes/login', kind: 'login', status: 200, hadToken: false, namespace: '' });
    assert.equal(vault.requests[1]?.hadToken, true);
  });
});

describe('vault-server: jwt auth', () => {
  let vault: TestVault;
  let issuer: ServiceAccountJwtIssuer;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    issuer = new ServiceAccountJwtIssuer({ keyType: 'ec', issuer: 'https://oidc.example' });
    vault = await startTestVault();
    vault.enableJwtAuth('jwt', { publicKeysPem: [issuer.publicKeyPem], boundIssuer: 'https://oidc.example' });
    vault.addJwtRole('jwt', 'ci', {
      boundAudiences: ['vault'], userClaim: 'sub', boundSubject: 'repo:acme/app', boundClaims: { ref: ['main', 'release'] },
      claimMappings: { ref: 'git_ref' }, policies: ['ci'], ttlSeconds: 300,
    });
    vault.addJwtRole('jwt', 'noaud', { boundAudiences: [], userClaim: 'email', policies: [] });
  });
  after(() => vault.close());

  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: 'https://oidc.example', sub: 'repo:acme/app', aud: 'vault', ref: 'main', email: 'dev@example.com',
    iat: now(), exp: now() + 300, ...extra,
  });
  const login = (role: string, jwt: string) => call(vault, 'auth/jwt/login', { body: { role, jwt } });

  it('logs in with bound audience, subject and claims', async () => {
    const res = await login('ci', issuer.signClaims(claims()));
    assert.equal(res.status, 200);
    assert.deepEqual(pick(res.json, 'auth', 'metadata'), { git_ref: 'main', role: 'ci' });
    assert.deepEqual(pick(res.json, 'auth', 'policies'), ['ci', 'default']);
    assert.equal(pick(res.json, 'auth', 'lease_duration'), 300);
    assert.equal(pick(res.json, 'mount_type'), '', 'real Vault says no mount type in a login answer');
  });

  const cases: [string, string, () => string, string][] = [
    ['bad signature', 'ci', () => issuer.signClaims(claims(), { wrongKey: true }),
      'error validating token: error verifying token signature: no known key successfully validated the token signature'],
    ['wrong audience', 'ci', () => issuer.signClaims(claims({ aud: ['other'] })),
      'error validating token: invalid audience (aud) claim: audience claim does not match any expected audience'],
    ['wrong subject', 'ci', () => issuer.signClaims(claims({ sub: 'repo:acme/other' })), 'error validating token: invalid subject (sub) claim'],
    ['wrong issuer', 'ci', () => issuer.signClaims(claims({ iss: 'https://evil' })), 'error validating token: invalid issuer (iss) claim'],
    ['expired', 'ci', () => issuer.signClaims(claims({ iat: now() - 1000, exp: now() - 500 })),
      'error validating token: invalid expiration time (exp) claim: token is expired'],
    ['no time claims', 'ci', () => issuer.signClaims(claims({ iat: undefined, exp: undefined })),
      'error validating token: no issued at (iat), not before (nbf), or expiration time (exp) claims in token'],
    ['bound claim mismatch', 'ci', () => issuer.signClaims(claims({ ref: 'feature' })),
      'error validating claims: claim "ref" does not match any associated bound claim values'],
    ['aud present but none bound', 'noaud', () => issuer.signClaims(claims()), 'audience claim found in JWT but no audiences bound to the role'],
    ['missing user claim', 'noaud', () => issuer.signClaims(claims({ aud: undefined, email: undefined })), 'claim "email" not found in token'],
    ['unknown role', 'nope', () => issuer.signClaims(claims()), 'role "nope" could not be found'],
  ];
  for (const [name, role, jwt, message] of cases) {
    it(`rejects: ${name}`, async () => {
      const res = await login(role, jwt());
      assert.equal(res.status, 400);
      assert.deepEqual(res.json, { errors: [message] });
    });
  }
});
