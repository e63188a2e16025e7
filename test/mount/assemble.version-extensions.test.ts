/** Versions with our own object keys: existing objects keep theirs, new keys and absence change them. */
import assert from 'node:assert/strict';
import { absentObjectVersion, canonicalObjectConfig, objectVersion } from '../../src/mount/assemble.js';
import { parseObjects } from '../../src/config/objects.js';
import { objectConfig } from '../helpers/objects.js';

const key = Buffer.alloc(32, 7);

describe('mount/assemble: object versions with our keys', () => {
  it('keeps the canonical config of an object without our keys exactly as it was, so upgrades change no version', () => {
    const [obj] = parseObjects('- {objectName: a, secretPath: secret/data/a, secretKey: k, filePermission: 0600}').objects;
    assert.equal(
      canonicalObjectConfig(obj!),
      '{"encoding":"utf-8","filePermission":384,"method":"GET","objectName":"a","secretArgs":null,"secretKey":"k","secretPath":"secret/data/a"}',
    );
  });

  it('changes the version when one of our keys changes', () => {
    const content = Buffer.from('same');
    const plain = objectVersion(key, objectConfig({ objectName: 'a' }), content);
    const variants = [
      objectConfig({ objectName: 'a', optional: true }),
      objectConfig({ objectName: 'a', jsonPointer: '/x' }),
      objectConfig({ objectName: 'a', jsonPointer: '/y' }),
      objectConfig({ objectName: 'a', expand: 'keys' }),
      parseObjects('- {objectName: a, secretPath: secret/data/app, template: "{{ .x }}"}').objects[0]!,
      parseObjects('- {objectName: a, secretPath: secret/data/app, template: "{{ .y }}"}').objects[0]!,
    ];
    const versions = new Set([plain, ...variants.map((o) => objectVersion(key, o, content))]);
    assert.equal(versions.size, variants.length + 1);
  });

  it('gives an absent optional object a version of its own: stable, never a content version', () => {
    const obj = objectConfig({ objectName: 'a', optional: true });
    const absent = absentObjectVersion(key, obj);
    assert.equal(absent, absentObjectVersion(key, obj));
    assert.match(absent, /^[A-Za-z0-9_-]{43}$/);
    for (const content of ['', 'absent', '{"absent":true}']) assert.notEqual(absent, objectVersion(key, obj, Buffer.from(content)));
    assert.notEqual(absent, absentObjectVersion(key, objectConfig({ objectName: 'b', optional: true })));
    assert.notEqual(absent, absentObjectVersion(Buffer.alloc(32, 8), obj));
  });
});
