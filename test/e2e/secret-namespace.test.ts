/**
 * secretNamespace end to end (Vault Enterprise namespaces, on the fake: Vault OSS has none): one login in the
 * mount's namespace, each object read in `<vaultNamespace>/<secretNamespace>`, and no cache — request de-duplication,
 * single-flight across mounts, kept leases, object versions — ever answers one namespace with another's secret.
 */
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { startHarness, POD, type Harness, type PodIdentity } from '../helpers/provider-harness.js';
import type { MountResponse__Output } from '../../src/generated/v1alpha1/MountResponse.js';

const NAMESPACES = ['team-a', 'team-a/blue', 'team-a/green', 'team-a/red'] as const;

function files(res: MountResponse__Output): Map<string, string> {
  return new Map(res.files.map((f) => [f.path, Buffer.from(f.contents).toString()]));
}

const obj = (objectName: string, secretNamespace?: string, secretPath = 'secret/data/app', secretKey = 'password') => ({
  objectName,
  secretPath,
  secretKey,
  ...(secretNamespace === undefined ? {} : { secretNamespace }),
});

describe('e2e: secretNamespace (a Vault namespace per object)', function () {
  this.timeout(30_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
    for (const ns of NAMESPACES) {
      h.vault.createNamespace(ns);
      h.vault.enableKv('secret', 2, ns);
      h.vault.putKv('secret', 'app', { password: `${ns}-pw` }, ns);
    }
    for (const ns of ['team-a/blue', 'team-a/green']) {
      h.vault.enableDatabase('database', ns);
      h.vault.addDatabaseRole('database', 'web', { defaultTtlSeconds: 3600, maxTtlSeconds: 86400 }, ns);
    }
    // Login in team-a; its policy reaches into blue and green (not red) through their path prefixes.
    h.vault.enableKubernetesAuth('kubernetes', { publicKeysPem: [h.issuer.publicKeyPem] }, 'team-a');
    h.vault.putPolicy(
      'web',
      ['secret/data/*', 'blue/secret/data/*', 'green/secret/data/*', 'blue/database/creds/web', 'green/database/creds/web']
        .map((p) => `path "${p}" { capabilities = ["read"] }`)
        .join('\n'),
      'team-a',
    );
    h.vault.addKubernetesRole('kubernetes', 'web', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['web'] }, 'team-a');
    // A root-namespace role whose policy reaches team-a/blue, for a mount without vaultNamespace.
    h.vault.putPolicy('cross', 'path "team-a/blue/secret/data/*" { capabilities = ["read"] }');
    h.vault.addKubernetesRole('kubernetes', 'cross', { boundServiceAccountNames: ['web'], boundServiceAccountNamespaces: ['prod'], audience: 'vault', policies: ['cross'] });
    await h.startProvider();
  });

  after(async () => h.close());

  const inTeamA = { vaultNamespace: 'team-a' };
  const reads = (ns: string): number => h.vault.countRequests({ kind: 'read', namespace: ns });
  const dynamic = (ns: string): number => h.vault.countRequests({ kind: 'dynamic', namespace: ns });

  it('reads one path in three namespaces into three different files, after one login in the mount\'s namespace', async () => {
    h.vault.clearRequests();
    const res = await h.client.mount(h.request({ objects: [obj('own'), obj('blue', 'blue'), obj('green', '/green/')], params: inTeamA }));
    assert.deepEqual(files(res), new Map([['own', 'team-a-pw'], ['blue', 'team-a/blue-pw'], ['green', 'team-a/green-pw']]));
    assert.equal(new Set(res.object_version.map((v) => v.version)).size, 3);
    assert.equal(h.vault.countRequests({ kind: 'login' }), 1);
    assert.equal(h.vault.countRequests({ kind: 'login', namespace: 'team-a' }), 1, 'login stays in the mount\'s namespace');
    assert.deepEqual(['team-a', 'team-a/blue', 'team-a/green'].map(reads), [1, 1, 1]);

    // A republish: the token is reused, and each namespace is read again (static secrets are never kept).
    h.vault.clearRequests();
    const again = await h.client.mount(h.request({ objects: [obj('own'), obj('blue', 'blue'), obj('green', '/green/')], params: inTeamA }));
    assert.deepEqual(again.object_version, res.object_version);
    assert.equal(h.vault.countRequests({ kind: 'login' }), 0);
    assert.deepEqual(['team-a', 'team-a/blue', 'team-a/green'].map(reads), [1, 1, 1]);
  });

  it('shares one request between objects of one namespace, never between namespaces', async () => {
    h.vault.clearRequests();
    const res = await h.client.mount(h.request({ objects: [obj('b1', 'blue'), obj('b2', 'blue/'), obj('g1', 'green')], params: inTeamA }));
    assert.deepEqual(files(res), new Map([['b1', 'team-a/blue-pw'], ['b2', 'team-a/blue-pw'], ['g1', 'team-a/green-pw']]));
    assert.deepEqual(['team-a/blue', 'team-a/green'].map(reads), [1, 1]);
  });

  it('never lets a mount join another mount\'s request in flight for another namespace', async () => {
    const slow = h.vault.injectFault({ pathPrefix: 'secret/data/app', delayMs: 300 });
    try {
      h.vault.clearRequests();
      const [blue, green, blueToo] = await Promise.all([
        h.client.mount(h.request({ objects: [obj('p', 'blue')], params: inTeamA })),
        h.client.mount(h.request({ objects: [obj('p', 'green')], params: inTeamA })),
        h.client.mount(h.request({ objects: [obj('p', 'blue')], params: inTeamA })),
      ]);
      assert.equal(files(blue).get('p'), 'team-a/blue-pw');
      assert.equal(files(green).get('p'), 'team-a/green-pw');
      assert.equal(files(blueToo).get('p'), 'team-a/blue-pw');
      // The two blue mounts shared one request (single-flight works); green had its own.
      assert.deepEqual(['team-a/blue', 'team-a/green'].map(reads), [1, 1]);
    } finally {
      slow.remove();
    }
  });

  it('keeps a pod\'s database credential per namespace: a republish reuses it, another namespace gets its own', async () => {
    const pod: PodIdentity = { ...POD, name: 'web-db', uid: 'uid-db' };
    const db = (ns: string) => [obj('db/username', ns, 'database/creds/web', 'username')];
    h.vault.clearRequests();
    const blue1 = files(await h.client.mount(h.request({ pod, objects: db('blue'), params: inTeamA }))).get('db/username');
    const blue2 = files(await h.client.mount(h.request({ pod, objects: db('blue'), params: inTeamA }))).get('db/username');
    assert.equal(blue2, blue1, 'the kept lease answers the republish');
    assert.equal(dynamic('team-a/blue'), 1);
    const green = files(await h.client.mount(h.request({ pod, objects: db('green'), params: inTeamA }))).get('db/username');
    assert.notEqual(green, blue1, 'blue\'s kept credential never answers green');
    assert.equal(dynamic('team-a/green'), 1);
    const blue3 = files(await h.client.mount(h.request({ pod, objects: db('blue'), params: inTeamA }))).get('db/username');
    assert.equal(blue3, blue1);
    // Both at once, one path: two credentials, two requests.
    h.vault.clearRequests();
    const both = files(await h.client.mount(h.request({ pod: { ...pod, uid: 'uid-db-2' }, objects: [obj('b', 'blue', 'database/creds/web', 'username'), obj('g', 'green', 'database/creds/web', 'username')], params: inTeamA })));
    assert.notEqual(both.get('b'), both.get('g'));
    assert.deepEqual(['team-a/blue', 'team-a/green'].map(dynamic), [1, 1]);
  });

  it('is relative to the root namespace when the mount names none', async () => {
    h.vault.clearRequests();
    const res = await h.client.mount(h.request({ objects: [obj('p', '/team-a/blue')], params: { roleName: 'cross' } }));
    assert.equal(files(res).get('p'), 'team-a/blue-pw');
    assert.equal(h.vault.countRequests({ kind: 'login', namespace: '' }), 1);
    assert.equal(reads('team-a/blue'), 1);
  });

  it('names the namespace when Vault denies the read there, and returns no file', async () => {
    const err = await h.client.mountError(h.request({ objects: [obj('own'), obj('r', 'red')], params: inTeamA }));
    assert.equal(err.code, status.PERMISSION_DENIED);
    assert.match(err.details, /^PERMISSION_DENIED: object "r" \(Vault path secret\/data\/app\): .*\(Vault namespace "team-a\/red"\)$/);
  });

  it('refuses a bad secretNamespace before asking Vault anything', async () => {
    h.vault.clearRequests();
    for (const [value, mention] of [['a//b', /empty name/], ['..', /"\.\." name/], ['', /is empty/], ['team a', /whitespace/]] as const) {
      const err = await h.client.mountError(h.request({ objects: [obj('p', value)], params: inTeamA }));
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.match(err.details, /INVALID_CONFIG: objects\[0\] \("p"\): secretNamespace /);
      assert.match(err.details, mention);
    }
    assert.equal(h.vault.requests.length, 0);
  });
});
