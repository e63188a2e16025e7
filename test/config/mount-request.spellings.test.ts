/** The OpenBao provider's parameter spellings: each one read as ours, and two spellings of one setting refused. */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { thrown } from '../helpers/rejection.js';
import { parseMountRequest, type MountRequestInput } from '../../src/config/mount-request.js';
import { canonicalParameters, SPELLING_GROUPS } from '../../src/config/mount-request.js';
import type { MountConfig } from '../../src/config/types.js';

const OBJECTS = '- objectName: a\n  secretPath: secret/data/a';

function input(params: Record<string, string>): MountRequestInput {
  return {
    attributes: JSON.stringify({ objects: OBJECTS, ...params }),
    secrets: 'null',
    targetPath: '/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/v/mount',
    permission: '420',
  };
}

const parse = (params: Record<string, string>): MountConfig => parseMountRequest(input({ roleName: 'web', ...params }));

describe('config/mount-request: the OpenBao spellings', () => {
  it('reads every bao and openbao spelling as the reference\'s parameter', () => {
    const cases: Array<[Record<string, string>, (c: MountConfig) => unknown, unknown]> = [];
    for (const prefix of ['bao', 'openbao']) {
      cases.push(
        [{ [`${prefix}Address`]: 'https://bao.example:8200' }, (c) => c.vaultAddress, 'https://bao.example:8200'],
        [{ [`${prefix}Namespace`]: 'team-a' }, (c) => c.vaultNamespace, 'team-a'],
        [{ [`${prefix}KubernetesMountPath`]: 'k8s' }, (c) => c.authMountPath, 'k8s'],
        [{ [`${prefix}AuthMountPath`]: '/team-a/jwt/' }, (c) => c.authMountPath, 'team-a/jwt'],
        [{ [`${prefix}CACertPath`]: '/tls/ca.pem' }, (c) => c.tls.caCertPath, '/tls/ca.pem'],
        [{ [`${prefix}CADirectory`]: '/tls/cas' }, (c) => c.tls.caDirectory, '/tls/cas'],
        [{ [`${prefix}TLSServerName`]: 'bao.internal' }, (c) => c.tls.serverName, 'bao.internal'],
        [{ [`${prefix}TLSClientCertPath`]: '/tls/c.pem' }, (c) => c.tls.clientCertPath, '/tls/c.pem'],
        [{ [`${prefix}TLSClientKeyPath`]: '/tls/k.pem' }, (c) => c.tls.clientKeyPath, '/tls/k.pem'],
        [{ [`${prefix}SkipTLSVerify`]: 'T' }, (c) => c.tls.skipVerify, true],
        [{ [`${prefix}SkipTLSVerify`]: 'false' }, (c) => c.tls.skipVerify, false],
      );
    }
    for (const [params, get, want] of cases) {
      const cfg = parse(params);
      assert.deepEqual(get(cfg), want, JSON.stringify(params));
      assert.deepEqual(cfg.ignoredParameters, [], `${JSON.stringify(params)} is not an unknown parameter`);
    }
  });

  it('takes the role from roleName, vaultRoleName, baoRoleName or openbaoRoleName', () => {
    for (const key of ['roleName', 'vaultRoleName', 'baoRoleName', 'openbaoRoleName']) {
      const cfg = parseMountRequest(input({ [key]: 'bao-role' }));
      assert.equal(cfg.roleName, 'bao-role', key);
    }
    const missing = thrown(() => parseMountRequest(input({ baoRoleName: '' })));
    assert.equal(missing.context.parameter, 'roleName');
  });

  it('refuses two spellings of one setting, naming both, whatever their values', () => {
    for (const group of SPELLING_GROUPS) {
      const names = group.map(([s]) => s);
      for (let i = 0; i < names.length; i++) {
        for (let j = i + 1; j < names.length; j++) {
          for (const [a, b] of [['x', 'y'], ['same', 'same'], ['', 'y']]) {
            // Both orders of the attributes' JSON give the same message.
            for (const params of [{ [names[i]!]: a!, [names[j]!]: b! }, { [names[j]!]: b!, [names[i]!]: a! }]) {
              const base: Record<string, string> = group[0]![1] === 'roleName' ? {} : { roleName: 'web' };
              const err = thrown(() => parseMountRequest(input({ ...base, ...params })));
              assert.equal(err.code, 'INVALID_CONFIG');
              assert.equal(err.message, `set only one of ${names[i]} and ${names[j]} (they name the same setting)`);
              assert.equal(err.context.parameter, names[j]);
            }
          }
        }
      }
    }
  });

  it('refuses the role under two spellings', () => {
    const err = thrown(() => parseMountRequest(input({ baoRoleName: 'a', roleName: 'a' })));
    assert.equal(err.message, 'set only one of roleName and baoRoleName (they name the same setting)');
    assert.equal(err.context.parameter, 'baoRoleName');
    const other = thrown(() => parseMountRequest(input({ vaultRoleName: 'a', openbaoRoleName: 'b' })));
    assert.equal(other.message, 'set only one of vaultRoleName and openbaoRoleName (they name the same setting)');
  });

  it('treats the six auth-mount spellings as one setting, as the reference treats its two', () => {
    const err = thrown(() => parse({ baoKubernetesMountPath: 'a', vaultAuthMountPath: 'b' }));
    assert.equal(err.message, 'set only one of baoKubernetesMountPath and vaultAuthMountPath (they name the same setting)');
    const ours = thrown(() => parse({ vaultKubernetesMountPath: 'a', vaultAuthMountPath: 'b' }));
    assert.equal(ours.context.parameter, 'vaultAuthMountPath');
    assert.match(ours.message, /vaultKubernetesMountPath/);
  });

  it('reports a bad value under its reference name (the one the rest of the provider knows)', () => {
    const err = thrown(() => parse({ baoSkipTLSVerify: 'maybe' }));
    assert.equal(err.context.parameter, 'vaultSkipTLSVerify');
    const mount = thrown(() => parse({ openbaoAuthMountPath: 'a/../b' }));
    assert.equal(mount.context.parameter, 'vaultAuthMountPath');
  });

  it('returns the attributes themselves when there is nothing to rename', () => {
    const attrs = new Map([['roleName', 'web'], ['vaultAddress', 'https://v'], ['other', 'x']]);
    assert.equal(canonicalParameters(attrs), attrs);
    const renamed = canonicalParameters(new Map([['baoAddress', 'https://v'], ['other', 'x']]));
    assert.deepEqual([...renamed], [['vaultAddress', 'https://v'], ['other', 'x']]);
  });

  it('either renames one spelling per setting or names two that were given', () => {
    const all = SPELLING_GROUPS.flatMap((g) => g.map(([s]) => s));
    fc.assert(
      fc.property(fc.subarray(all), fc.string({ maxLength: 4 }), (keys, value) => {
        const attrs = new Map(keys.map((k) => [k, value]));
        const groupsGiven = SPELLING_GROUPS.map((g) => g.filter(([s]) => attrs.has(s)));
        try {
          const out = canonicalParameters(attrs);
          assert.ok(groupsGiven.every((g) => g.length <= 1));
          for (const g of groupsGiven) for (const [, canonical] of g) assert.equal(out.get(canonical), value);
          assert.equal(out.size, attrs.size);
        } catch (err: unknown) {
          assert.ok(groupsGiven.some((g) => g.length > 1));
          const named = /set only one of (\S+) and (\S+) /.exec((err as Error).message);
          assert.ok(named !== null && attrs.has(named[1]!) && attrs.has(named[2]!));
        }
      }),
      { numRuns: 500 },
    );
  });
});
