import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { formatVersion } from '../../src/cli/version-output.js';
import { versionInfo } from '../../src/version.js';

describe('cli/version-output', () => {
  const info = versionInfo();

  it('prints one JSON line by default, indented JSON or YAML when asked, each the same fields', () => {
    assert.deepEqual(JSON.parse(formatVersion(info, '')), info);
    assert.ok(!formatVersion(info, 'json').includes('\n'));
    const pretty = formatVersion(info, 'json-pretty');
    assert.ok(pretty.includes('\n  "version"'));
    assert.deepEqual(JSON.parse(pretty), info);
    assert.deepEqual(parse(formatVersion(info, 'yaml')), info);
  });
});
