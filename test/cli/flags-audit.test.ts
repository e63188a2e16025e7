/** --audit-log-file: a path sends audit lines to their own file; absent or empty keeps them in the main log. */
import assert from 'node:assert/strict';
import { usageText } from '../../src/cli/flags.js';
import { settingsFrom } from '../helpers/settings.js';


describe('cli/flags: --audit-log-file', () => {
  it('takes a path in either Go syntax, and defaults to none', () => {
    assert.equal(settingsFrom(['--audit-log-file=/var/log/vault-csi/audit.log']).auditLogFile, '/var/log/vault-csi/audit.log');
    assert.equal(settingsFrom(['-audit-log-file', '/tmp/a.log']).auditLogFile, '/tmp/a.log');
    assert.equal(settingsFrom([]).auditLogFile, undefined);
    assert.equal(settingsFrom(['--audit-log-file=']).auditLogFile, undefined);
  });

  it('is listed in the usage text', () => {
    assert.match(usageText(), /-audit-log-file path\n\s+\tAppend the audit lines/);
  });
});
