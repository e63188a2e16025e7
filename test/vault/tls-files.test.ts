/** CA files: the certificate blocks of a PEM text, found by a linear scan. */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pemCertificates } from '../../src/vault/tls-files.js';
import { countWork } from '../helpers/work-spy.js';

// The regex the scan replaced, kept as the oracle on short inputs.
const OLD_PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

describe('vault/tls-files', () => {
  it('finds the certificate blocks the former regex found, on any mix of PEM pieces', () => {
    const piece = fc.constantFrom('-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----', '-----', '\n', 'MIIB', 'x');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 20 }).map((p) => p.join('')), (text) => {
        assert.deepEqual(pemCertificates(text), text.match(OLD_PEM_CERT) ?? [], JSON.stringify(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('scans a file of BEGINs without ENDs in linear time, with no regex', () => {
    const attack = (n: number): string => `${'-----BEGIN CERTIFICATE-----I'.repeat(n)}----END CERTIFICATE-----`;
    const work = countWork(() => pemCertificates(attack(20_000)));
    assert.deepEqual(work.result, []);
    assert.deepEqual(work.regexInputs, []);
    assert.ok(work.indexOfChars <= 2 * attack(20_000).length, `${work.indexOfChars}`);
    assert.ok(work.indexOfCalls <= 2);
  });
});
