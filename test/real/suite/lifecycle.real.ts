/**
 * What only a real Vault shows: sealing and unsealing, a restart that forgets every token, a token revoked behind
 * the provider's back, and a policy denial (a 403 from a live token), which must not be handled like a dead token.
 */
import assert from 'node:assert/strict';
import { World, WEB_POD, type Pod } from '../harness/world.js';

const OBJECTS = [{ objectName: 'p', secretPath: 'secret/data/app', secretKey: 'password' }];

describe('real Vault: seal, restart, revocation, denial', function () {
  let w: World;

  const seed = async (): Promise<void> => {
    await w.vault.must('POST', 'secret/data/app', { data: { password: 'app-pass' } });
    await w.vault.must('POST', 'sys/mounts/other', { type: 'kv', options: { version: '1' } });
    await w.vault.must('POST', 'other/forbidden', { value: 'not for web' });
  };

  before(async () => {
    w = await World.start();
    await seed();
  });

  after(async () => {
    await w?.close();
  });

  it('answers UNAVAILABLE naming Vault while it is sealed, and serves again after unseal without a restart', async () => {
    const ok = await w.mount({ objects: OBJECTS });
    assert.equal(ok.error, '', ok.grpcMessage);
    await w.vault.seal();
    try {
      const sealed = await w.mount({ objects: OBJECTS, timeoutMs: 60_000 });
      assert.equal(sealed.grpcCode, 'Unavailable', sealed.error);
      assert.ok(sealed.grpcMessage.includes(w.vault.address), sealed.grpcMessage);
      assert.match(sealed.grpcMessage, /sealed/i);
      assert.equal(sealed.files.size, 0);
    } finally {
      await w.vault.unseal();
    }
    const again = await w.mount({ objects: OBJECTS });
    assert.equal(again.error, '', again.grpcMessage);
    assert.equal(again.files.get('p')?.text, 'app-pass');
  });

  it('logs in once after Vault restarts with its tokens gone, and no mount fails', async () => {
    const pod: Pod = { ...WEB_POD, name: 'web-restart', uid: '33333333-4444-4555-8666-777777777777' };
    const first = await w.mount({ pod, objects: OBJECTS });
    assert.equal(first.error, '', first.grpcMessage);
    await w.vault.restart();
    await w.configureVault();
    await seed();
    await w.mark();
    for (let i = 0; i < 3; i++) {
      const m = await w.mount({ pod, objects: OBJECTS });
      assert.equal(m.error, '', `mount ${i} after the restart: ${m.grpcMessage}`);
      assert.equal(m.files.get('p')?.text, 'app-pass');
    }
    assert.equal((await w.vaultRequests('auth/kubernetes/login')).length, 1);
  });

  it('logs in again when its token is revoked behind its back', async () => {
    const pod: Pod = { ...WEB_POD, name: 'web-revoked', uid: '44444444-5555-4666-8777-888888888888' };
    assert.equal((await w.mount({ pod, objects: OBJECTS })).error, '');
    // Revoke every token the Kubernetes auth method handed out.
    await w.vault.must('PUT', 'sys/leases/revoke-prefix/auth/kubernetes/login');
    await w.mark();
    const m = await w.mount({ pod, objects: OBJECTS });
    assert.equal(m.error, '', m.grpcMessage);
    assert.equal((await w.vaultRequests('auth/kubernetes/login')).length, 1);
  });

  it('fails a policy denial with PERMISSION_DENIED naming the object and path, and keeps its token', async () => {
    const pod: Pod = { ...WEB_POD, name: 'web-denied', uid: '55555555-6666-4777-8888-999999999999' };
    const objects = [...OBJECTS, { objectName: 'forbidden', secretPath: 'other/forbidden', secretKey: 'value' }];
    assert.equal((await w.mount({ pod, objects: OBJECTS })).error, '');
    await w.mark();
    for (let i = 0; i < 3; i++) {
      const m = await w.mount({ pod, objects });
      assert.equal(m.grpcCode, 'PermissionDenied', m.error);
      assert.match(m.grpcMessage, /forbidden/);
      assert.match(m.grpcMessage, /other\/forbidden/);
      assert.equal(m.files.size, 0);
    }
    assert.equal((await w.vaultRequests('auth/kubernetes/login')).length, 0, 'a denial is not a revocation: no new login');
    // The token is still good for what the policy allows.
    const ok = await w.mount({ pod, objects: OBJECTS });
    assert.equal(ok.error, '', ok.grpcMessage);
  });
});
