import assert from 'node:assert/strict';
import { thrown } from '../helpers/rejection.js';
import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { expandKeys, expandPki, expandedVersionInput, keyFileNameProblem, pemBlocks } from '../../src/mount/expand.js';
import { countWork } from '../helpers/work-spy.js';
import { certPem, createCertificate, generateKeys, privateKeyPem, type Issuer } from '../vault-server/x509.js';
import { objectConfig } from '../helpers/objects.js';

const caught = thrown;

describe('mount/expand', () => {
  describe('keys', () => {
    const obj = objectConfig({ objectName: 'app', expand: 'keys' });

    it('writes one file per key of data.data, sorted, with the secretKey value rules', () => {
      const files = expandKeys(obj, { data: { data: { b: 'two', a: 'one', '.env': 'X=1', n: 5, o: { z: 1, y: [true] } }, metadata: { version: 2 } } });
      assert.deepEqual(
        files.map((f) => [f.name, f.contents.toString()]),
        [['.env', 'X=1'], ['a', 'one'], ['b', 'two'], ['n', '5'], ['o', '{"y":[true],"z":1}']],
      );
    });

    it('decodes every value with the object\'s encoding, naming the key that fails', () => {
      const b64 = objectConfig({ objectName: 'bin', expand: 'keys', encoding: 'base64' });
      const files = expandKeys(b64, { data: { k: Buffer.from([1, 2, 255]).toString('base64') } });
      assert.deepEqual(files[0]!.contents, Buffer.from([1, 2, 255]));
      const err = caught(() => expandKeys(b64, { data: { good: 'AA==', bad: 'not base64!' } }));
      assert.equal(err.code, 'DECODE_FAILED');
      assert.match(err.message, /key "bad" is not valid base64/);
    });

    it('refuses a key that is not a safe file name, naming the key', () => {
      for (const [key, why] of [['a/b', /contains "\/"/], ['..', /is "\.\."/], ['..data', /starts with "\.\."/], ['', /empty/], ['x\ny', /control/], ['k'.repeat(256), /255 bytes/]] as const) {
        const err = caught(() => expandKeys(obj, { data: { ok: '1', [key]: 'v' } }));
        assert.equal(err.code, 'INVALID_CONFIG');
        assert.match(err.message, why);
        assert.ok(err.message.includes(JSON.stringify(key).slice(0, 20)), err.message);
      }
      assert.equal(keyFileNameProblem('.env'), undefined);
      assert.equal(keyFileNameProblem('tls.crt'), undefined);
      assert.equal(keyFileNameProblem('pässwört key'), undefined);
    });

    it('answers SECRET_NOT_FOUND for a response without data', () => {
      assert.equal(caught(() => expandKeys(obj, { data: null })).code, 'SECRET_NOT_FOUND');
    });
  });

  describe('PEM blocks', () => {
    // The regex the scan replaced, kept as the oracle on short inputs.
    const OLD_PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----/g;
    const oldBlocks = (text: string): Array<{ label: string; text: string }> => [...text.matchAll(OLD_PEM_BLOCK)].map((m) => ({ label: m[1]!, text: m[0] }));

    it('finds the blocks the former regex found, in order, on any mix of PEM pieces', () => {
      const piece = fc.constantFrom('-----BEGIN ', '-----END ', '-----', 'A', 'B', 'EC KEY', ' ', '\n', '\r\n', '\r', 'xyz', '-');
      fc.assert(
        fc.property(fc.array(piece, { maxLength: 30 }).map((p) => p.join('')), (text) => {
          assert.deepEqual(pemBlocks(text), oldBlocks(text), JSON.stringify(text));
        }),
        { numRuns: 5000 },
      );
      const two = '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n-----BEGIN EC PRIVATE KEY-----\r\nBBB\n-----END EC PRIVATE KEY-----';
      assert.deepEqual(pemBlocks(two).map((b) => b.label), ['CERTIFICATE', 'EC PRIVATE KEY']);
      assert.deepEqual(pemBlocks(two), oldBlocks(two));
    });

    it('scans in linear time and runs no regex: 512 KiB of BEGIN lines without an END (issue 19, class 5)', () => {
      // One END, before every BEGIN, so that each BEGIN looks for its END.
      const attack = (n: number): string => `-----END A-----\n${'-----BEGIN A-----\n'.repeat(n)}`;
      const small = countWork(() => pemBlocks(attack(7_000)));
      const large = countWork(() => pemBlocks(attack(28_000)));
      assert.deepEqual(large.result, []);
      assert.deepEqual([...small.regexInputs, ...large.regexInputs], []);
      const size = attack(28_000).length;
      assert.ok(large.indexOfChars <= 3 * size, `indexOf searched ${large.indexOfChars} characters of ${size}`);
      assert.ok(large.looks <= 4 * size, `${large.looks} looks for ${size} characters`);
      assert.ok(large.looks <= 4.5 * small.looks && large.indexOfChars <= 4.5 * small.indexOfChars);
      // With ENDs of other labels, and ENDs before their BEGINs.
      const mixed = (n: number): string => '-----END A-----\n-----BEGIN B-----\n-----BEGIN A-----\n'.repeat(n);
      const m = countWork(() => pemBlocks(mixed(20_000)));
      assert.ok(m.indexOfChars <= 3 * mixed(20_000).length && m.looks <= 4 * mixed(20_000).length, `${m.indexOfChars} ${m.looks}`);
      assert.equal(m.result.length, 19_999);
    });

    it('refuses the attack value in expand: pki with DECODE_FAILED, naming the field', () => {
      const begins = '-----BEGIN A-----\n'.repeat(Math.floor((512 * 1024) / 18));
      const err = caught(() => expandPki({ data: { certificate: begins, private_key: 'x' } }));
      assert.equal(err.code, 'DECODE_FAILED');
      assert.match(err.message, /field "certificate" holds no PEM certificate/);
    });
  });

  describe('pki', () => {
    let root: Issuer;
    let intermediate: Issuer;
    let leafPem: string;
    let leafKeyPem: string;
    let otherKeyPem: string;

    before(async () => {
      const now = Date.now();
      const notBefore = new Date(now - 60_000);
      const notAfter = new Date(now + 3_600_000);
      const rootKey = await generateKeys('ec');
      root = { key: rootKey, cert: await createCertificate({ commonName: 'Root', notBefore, notAfter, key: rootKey, isCa: true }) };
      const intKey = await generateKeys('ec');
      intermediate = { key: intKey, cert: await createCertificate({ commonName: 'Int', notBefore, notAfter, key: intKey, issuer: root, isCa: true }) };
      const leafKey = await generateKeys('ec');
      leafPem = certPem(await createCertificate({ commonName: 'web.prod.svc', dnsNames: ['web.prod.svc'], notBefore, notAfter, key: leafKey, issuer: intermediate }));
      leafKeyPem = (await privateKeyPem(leafKey)).trim();
      otherKeyPem = (await privateKeyPem(await generateKeys('ec'), 'pkcs8')).trim();
    });

    function issue(extra: Record<string, unknown> = {}): { data: Record<string, unknown> } {
      return {
        data: {
          certificate: leafPem,
          private_key: leafKeyPem,
          private_key_type: 'ec',
          issuing_ca: certPem(intermediate.cert),
          ca_chain: [certPem(intermediate.cert), certPem(root.cert)],
          serial_number: '01',
          ...extra,
        },
      };
    }

    function certsOf(pem: string): X509Certificate[] {
      return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
    }

    it('lays out tls.crt (leaf + intermediate), tls.key and ca.crt (the root)', () => {
      const files = new Map(expandPki(issue()).map((f) => [f.name, f.contents.toString()]));
      assert.deepEqual([...files.keys()], ['tls.crt', 'tls.key', 'ca.crt']);
      const chain = certsOf(files.get('tls.crt')!);
      assert.equal(chain.length, 2);
      assert.match(chain[0]!.subject, /CN=web\.prod\.svc/);
      assert.match(chain[1]!.subject, /CN=Int/);
      assert.ok(chain[0]!.verify(chain[1]!.publicKey), 'leaf signed by the intermediate');
      const ca = certsOf(files.get('ca.crt')!);
      assert.equal(ca.length, 1);
      assert.match(ca[0]!.subject, /CN=Root/);
      assert.ok(chain[1]!.verify(ca[0]!.publicKey), 'intermediate signed by the root');
      assert.equal(files.get('tls.key'), `${leafKeyPem}\n`);
    });

    it('uses issuing_ca when there is no ca_chain, as the topmost CA it knows', () => {
      const files = new Map(expandPki(issue({ ca_chain: null })).map((f) => [f.name, f.contents.toString()]));
      assert.equal(certsOf(files.get('tls.crt')!).length, 2);
      assert.match(certsOf(files.get('ca.crt')!)[0]!.subject, /CN=Int/);
    });

    it('leaves out a chain entry that repeats the leaf or another entry', () => {
      const files = new Map(expandPki(issue({ ca_chain: [leafPem, certPem(intermediate.cert), certPem(intermediate.cert), certPem(root.cert)] })).map((f) => [f.name, f.contents.toString()]));
      assert.equal(certsOf(files.get('tls.crt')!).length, 2);
      assert.equal(certsOf(files.get('ca.crt')!).length, 1);
    });

    it('works for a bundle stored in KV v2 with the same field names', () => {
      const files = expandPki({ data: { data: issue().data, metadata: {} } });
      assert.equal(files.length, 3);
    });

    it('refuses a key that does not belong to the certificate, without quoting either', () => {
      const err = caught(() => expandPki(issue({ private_key: otherKeyPem })));
      assert.equal(err.code, 'DECODE_FAILED');
      assert.match(err.message, /does not belong to the certificate/);
      assert.ok(!err.message.includes('BEGIN'));
    });

    it('names the missing field', () => {
      assert.match(caught(() => expandPki(issue({ private_key: undefined }))).message, /no "private_key"/);
      assert.equal(caught(() => expandPki(issue({ certificate: '' }))).code, 'KEY_NOT_FOUND');
      assert.match(caught(() => expandPki(issue({ ca_chain: [], issuing_ca: '' }))).message, /neither "ca_chain" nor "issuing_ca"/);
    });

    it('refuses DER, a pem_bundle in certificate, and garbage, asking for format pem', () => {
      assert.match(caught(() => expandPki(issue({ certificate: 'MIIB' }))).message, /no PEM certificate.*format "pem"/);
      assert.match(caught(() => expandPki(issue({ certificate: `${leafKeyPem}\n${leafPem}` }))).message, /"EC PRIVATE KEY" block/);
      assert.match(caught(() => expandPki(issue({ certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }))).message, /not a valid X\.509/);
      assert.match(caught(() => expandPki(issue({ private_key: 'nope' }))).message, /exactly one PEM private key/);
      assert.match(caught(() => expandPki(issue({ ca_chain: [5] }))).message, /list of PEM strings/);
      assert.match(caught(() => expandPki(issue({ private_key: 7 }))).message, /not a PEM string/);
    });
  });

  it('version input differs whenever a name or a content differs, even when the bytes line up', () => {
    const a = expandedVersionInput([{ name: 'ab', contents: Buffer.from('c') }]);
    const b = expandedVersionInput([{ name: 'a', contents: Buffer.from('bc') }]);
    assert.notDeepEqual(a, b);
    assert.deepEqual(a, expandedVersionInput([{ name: 'ab', contents: Buffer.from('c') }]));
  });
});
