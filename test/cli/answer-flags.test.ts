/** --audit-state-max-bytes, --objects-cache-max-bytes and --vault-response-max-values: positive integers with documented defaults. */
import assert from 'node:assert/strict';
import { parseFlags, usageText } from '../../src/cli/flags.js';
import { DEFAULT_AUDIT_STATE_BYTES } from '../../src/observability/audit.js';
import { DEFAULT_MAX_RESPONSE_VALUES } from '../../src/vault/transport.js';
import { DEFAULT_OBJECTS_CACHE_BYTES } from '../../src/config/objects.js';
import { settingsFrom } from '../helpers/settings.js';


describe('cli/flags: --audit-state-max-bytes, --objects-cache-max-bytes, --vault-response-max-values', () => {
  it('leaves the documented defaults to the components when absent', () => {
    const s = settingsFrom([]);
    assert.equal(s.auditStateMaxBytes, undefined);
    assert.equal(s.vaultResponseMaxValues, undefined);
    assert.equal(s.objectsCacheMaxBytes, undefined);
    assert.match(usageText(), new RegExp(`-objects-cache-max-bytes bytes\\n.*\\(default "${DEFAULT_OBJECTS_CACHE_BYTES}"\\)`));
    assert.match(usageText(), new RegExp(`-audit-state-max-bytes bytes\\n.*\\(default "${DEFAULT_AUDIT_STATE_BYTES}"\\)`));
    assert.match(usageText(), new RegExp(`-vault-response-max-values n\\n.*\\(default "${DEFAULT_MAX_RESPONSE_VALUES}"\\)`));
  });

  it('takes positive integers and refuses anything else', () => {
    const s = settingsFrom(['--audit-state-max-bytes=65536', '-vault-response-max-values', '1000', '--objects-cache-max-bytes=1048576']);
    assert.equal(s.objectsCacheMaxBytes, 1_048_576);
    assert.equal(s.auditStateMaxBytes, 65_536);
    assert.equal(s.vaultResponseMaxValues, 1_000);
    for (const argv of [['--audit-state-max-bytes=0'], ['--objects-cache-max-bytes=x'], ['--vault-response-max-values=-1'], ['--vault-response-max-values=many']]) {
      assert.throws(() => parseFlags(argv, {}), /vault-response-max-values|audit-state-max-bytes|objects-cache-max-bytes/);
    }
    assert.match(usageText(), /-vault-response-max-values n\n\s+\tJSON values/);
  });
});
