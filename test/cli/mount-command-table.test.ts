import assert from 'node:assert/strict';
import { formatTable, reportRows } from '../../src/cli/mount-command.js';

describe('cli/mount-command: the report table', () => {
  it('one row per file, one for an absent optional object, one for an object with no keys, one per template input', () => {
    const rows = reportRows({
      objects: [
        { objectName: 'tls', secretPath: 'pki/issue/web', version: 'v1', bytes: 10, mode: 0o640, state: 'file', files: [{ path: 'tls/tls.crt', bytes: 6, mode: 0o640 }, { path: 'tls/tls.key', bytes: 4, mode: 0o600 }] },
        { objectName: 'gone', secretPath: 'secret/data/nope', version: 'v2', bytes: 0, mode: 0o644, state: 'absent', files: [] },
        { objectName: 'empty', secretPath: 'secret/data/empty', version: 'v3', bytes: 0, mode: 0o644, state: 'file', files: [] },
      ],
      inputs: [{ objectName: 'input', secretPath: 'secret/data/in' }],
    } as unknown as Parameters<typeof reportRows>[0]);
    assert.deepEqual(rows, [
      ['tls', 'tls/tls.crt', '6', '0640', 'v1', ''],
      ['tls', 'tls/tls.key', '4', '0600', 'v1', ''],
      ['gone', '-', '-', '-', 'v2', 'optional: not in Vault, no file'],
      ['empty', '-', '0', '-', 'v3', 'no keys, no file'],
      ['input', '-', '-', '-', '-', 'template input, no file'],
    ]);
  });

  it('lines the columns up under a header', () => {
    const lines = formatTable([['a-long-object', 'p', '1', '0644', 'v', '']]).split('\n');
    assert.match(lines[0]!, /^OBJECT\s+PATH\s+SIZE\s+MODE\s+VERSION\s+NOTE$/);
    assert.equal(lines[0]!.indexOf('PATH'), lines[1]!.indexOf(' p ') + 1);
  });
});
