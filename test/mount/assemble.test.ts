/** Optional objects, templates and expand as the mount assembles them from read results (no Vault needed). */
import assert from 'node:assert/strict';
import { thrown } from '../helpers/rejection.js';
import { ProviderError } from '../../src/errors.js';
import { AbsentSecret, assembleObjects, readOrAbsent, type ReadOutcome } from '../../src/mount/assemble.js';
import { requestKey } from '../../src/mount/assemble.js';
import { parseObjects } from '../../src/config/objects.js';
import type { MountConfig, ObjectConfig } from '../../src/config/types.js';
import type { SecretResponse } from '../../src/vault/responses.js';
import type { ByteLedger } from '../../src/admission/mount-admission.js';

const KEY = Buffer.alloc(32, 7);
const notFound = (): ProviderError => new ProviderError('SECRET_NOT_FOUND', 'Vault has no secret at GET x (404)', { httpStatus: 404 });

function config(objectsYaml: string): MountConfig {
  return { objects: parseObjects(objectsYaml).objects, permission: 0o644 } as unknown as MountConfig;
}

/** Read results by secretPath: a response, or 404 for `null`. */
function outcomes(cfg: MountConfig, byPath: Record<string, SecretResponse | null>): Map<string, ReadOutcome> {
  const map = new Map<string, ReadOutcome>();
  for (const obj of cfg.objects) {
    if (obj.requestPath === '') continue;
    const r = byPath[obj.secretPath];
    if (r === undefined) throw new Error(`no test response for ${obj.secretPath}`);
    map.set(requestKey(obj), r === null ? new AbsentSecret(notFound()) : r);
  }
  return map;
}

const failure = thrown;

describe('mount/assemble', () => {
  describe('readOrAbsent', () => {
    const opt = { optional: true } as ObjectConfig;
    const req = {} as ObjectConfig;

    it('turns a 404 into absence only when every object needing the read is optional', async () => {
      assert.ok((await readOrAbsent([opt, opt], () => Promise.reject(notFound()))) instanceof AbsentSecret);
      await assert.rejects(readOrAbsent([opt, req], () => Promise.reject(notFound())), /404/);
    });

    it('never skips a 403, a TLS failure, a network failure or a 5xx', async () => {
      const failures = [
        new ProviderError('PERMISSION_DENIED', 'Vault denied GET x (403)'),
        new ProviderError('VAULT_UNAVAILABLE', 'TLS handshake with x failed (CERT_HAS_EXPIRED)'),
        new ProviderError('VAULT_UNAVAILABLE', 'cannot reach x (ECONNRESET)'),
        new ProviderError('VAULT_REQUEST_REJECTED', 'Vault rejected x (400)'),
        new Error('anything else'),
      ];
      for (const err of failures) await assert.rejects(readOrAbsent([opt], () => Promise.reject(err)), (e: unknown) => e === err);
    });
  });

  it('skips an optional object whose secret or key is absent, with a version that records it', () => {
    const cfg = config(`
- {objectName: here, secretPath: s/here, secretKey: k}
- {objectName: gone, secretPath: s/gone, secretKey: k, optional: true}
- {objectName: nokey, secretPath: s/here, secretKey: missing, optional: true}
`);
    const out = assembleObjects(cfg, outcomes(cfg, { 's/here': { data: { k: 'v' } }, 's/gone': null }), KEY);
    assert.deepEqual(out.files.map((f) => f.path), ['here']);
    assert.deepEqual(out.objects.map((o) => [o.objectName, o.state, o.files.length]), [['here', 'file', 1], ['gone', 'absent', 0], ['nokey', 'absent', 0]]);
    assert.notEqual(out.objects[1]!.version, out.objects[2]!.version);
    // Present later: a different version from the absent one.
    const later = assembleObjects(cfg, outcomes(cfg, { 's/here': { data: { k: 'v', missing: 'now' } }, 's/gone': { data: { k: 'x' } } }), KEY);
    assert.notEqual(later.objects[1]!.version, out.objects[1]!.version);
    assert.notEqual(later.objects[2]!.version, out.objects[2]!.version);
  });

  it('still fails an optional object whose value is present but bad', () => {
    const cfg = config('- {objectName: b, secretPath: s, secretKey: k, encoding: base64, optional: true}\n');
    assert.equal(failure(() => assembleObjects(cfg, outcomes(cfg, { s: { data: { k: '!!' } } }), KEY)).code, 'DECODE_FAILED');
  });

  it('feeds templates: selected values, decoded bytes and key maps; inputOnly objects have no file or version', () => {
    const cfg = config(`
- {objectName: user, secretPath: s/db, secretKey: username, inputOnly: true}
- {objectName: raw, secretPath: s/bin, secretKey: b, encoding: base64, inputOnly: true}
- {objectName: all, secretPath: s/db, inputOnly: true}
- objectName: out
  template: '{{ @user }}|{{ base64 @raw }}|{{ @all.password }}'
`);
    const out = assembleObjects(cfg, outcomes(cfg, { 's/db': { data: { data: { username: 'u', password: 'p' } } }, 's/bin': { data: { b: 'AAE=' } } }), KEY);
    assert.deepEqual(out.files.map((f) => [f.path, f.contents.toString()]), [['out', 'u|AAE=|p']]);
    assert.deepEqual(out.objects.map((o) => o.objectName), ['out']);
    assert.deepEqual(out.inputs.map((i) => i.objectName), ['user', 'raw', 'all']);
  });

  it('skips an optional template whose optional input is absent, and fails a required one naming the reference', () => {
    const yaml = (templateOptional: boolean): string => `
- {objectName: in, secretPath: s/in, optional: true, inputOnly: true}
- objectName: t
  template: 'x={{ @in.k }}'
  optional: ${templateOptional}
`;
    const optionalCfg = config(yaml(true));
    const skipped = assembleObjects(optionalCfg, outcomes(optionalCfg, { 's/in': null }), KEY);
    assert.deepEqual(skipped.objects.map((o) => o.state), ['absent']);
    const requiredCfg = config(yaml(false));
    const err = failure(() => assembleObjects(requiredCfg, outcomes(requiredCfg, { 's/in': null }), KEY));
    assert.equal(err.code, 'SECRET_NOT_FOUND');
    assert.equal(err.context.objectName, 't');
    assert.match(err.message, /object "t": template reference @in\.k .*object "in" is absent/);
  });

  it('does not let an optional template hide a required input\'s missing key', () => {
    const cfg = config(`
- {objectName: in, secretPath: s/in, secretKey: nope, inputOnly: true}
- {objectName: t, template: '{{ @in }}', optional: true}
`);
    const err = failure(() => assembleObjects(cfg, outcomes(cfg, { 's/in': { data: { k: 'v' } } }), KEY));
    assert.equal(err.code, 'KEY_NOT_FOUND');
    assert.equal(err.context.objectName, 'in');
  });

  it('gives an expanded object one version over all its files', () => {
    const cfg = config('- {objectName: app, secretPath: s, expand: keys, filePermission: 0600}\n');
    const one = assembleObjects(cfg, outcomes(cfg, { s: { data: { a: '1', b: '2' } } }), KEY);
    assert.deepEqual(one.files.map((f) => [f.path, f.mode]), [['app/a', 0o600], ['app/b', 0o600]]);
    assert.equal(one.objects[0]!.bytes, 2);
    const two = assembleObjects(cfg, outcomes(cfg, { s: { data: { a: '1', b: '3' } } }), KEY);
    assert.notEqual(one.objects[0]!.version, two.objects[0]!.version);
    const same = assembleObjects(cfg, outcomes(cfg, { s: { data: { b: '2', a: '1' } } }), KEY);
    assert.equal(one.objects[0]!.version, same.objects[0]!.version);
  });

  describe('sized before built (issue 19)', () => {
    class Ledger implements ByteLedger {
      held = 0;
      receive(bytes: number): void {
        this.charge(bytes);
      }
      charge(bytes: number): void {
        this.held += bytes;
      }
      release(bytes: number): void {
        this.held -= bytes;
      }
    }

    it('refuses an expansion whose files would pass the driver\'s limit before building them, naming the object', () => {
      // A long objectName under expand: keys: every file repeats it in its path, so a few KiB of keys would be MiB
      // of paths; the answer's size is known from the response and the name before any path or file is made.
      const name = Array(1000).fill('d').join('/');
      const cfg = config(`- {objectName: "${name}", secretPath: s, expand: keys}\n`);
      const data = Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`k${i}`, 'v']));
      const err = failure(() => assembleObjects(cfg, outcomes(cfg, { s: { data } }), KEY, new Ledger()));
      assert.equal(err.code, 'MOUNT_TOO_LARGE');
      assert.equal(err.context.objectName, name);
      assert.match(err.message, /its files would take 4\.\d MiB of the mount's answer, more than the 4\.0 MiB left of the driver's 4\.0 MiB message limit; nothing was built$/);
      // The same expansion within a smaller limit's room, and the whole answer counted: files before it take room.
      const fits = assembleObjects(cfg, outcomes(cfg, { s: { data: { a: 'x' } } }), KEY, undefined, 4500);
      assert.equal(fits.files.length, 1);
      const two = config(`- {objectName: first, secretPath: t, secretKey: k}\n- {objectName: "${name}", secretPath: s, expand: keys}\n`);
      assert.equal(failure(() => assembleObjects(two, outcomes(two, { t: { data: { k: 'x'.repeat(400) } }, s: { data: { a: 'x' } } }), KEY, undefined, 4500)).code, 'MOUNT_TOO_LARGE');
    });

    it('holds what it made, decoded template inputs included, and nothing of what failed', () => {
      const cfg = config(`
- {objectName: raw, secretPath: s/bin, secretKey: b, encoding: base64, inputOnly: true}
- {objectName: t, template: '{{ base64 @raw }}{{ @raw }}'}
- {objectName: whole, secretPath: s/db}
- {objectName: keys, secretPath: s/db, expand: keys}
- {objectName: gone, secretPath: s/db, secretKey: nope, optional: true}
`);
      const ledger = new Ledger();
      const out = assembleObjects(cfg, outcomes(cfg, { 's/db': { data: { data: { username: 'u', n: 1 } } }, 's/bin': { data: { b: 'AAEC\nAw==' } } }), KEY, ledger);
      const files = out.files.reduce((sum, f) => sum + f.contents.length, 0);
      assert.deepEqual(out.files.map((f) => f.path), ['t', 'whole', 'keys/n', 'keys/username']);
      assert.equal(ledger.held, files + 4, 'the files and the 4 decoded bytes of the input');
    });
  });
});
