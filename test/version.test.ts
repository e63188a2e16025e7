import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RUNTIME_NAME, VERSION, versionInfo } from '../src/version.js';

describe('version', () => {
  it("is package.json's version, with the runtime's name, Node version and platform", () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(VERSION, pkg.version);
    assert.deepEqual(versionInfo(), { name: RUNTIME_NAME, version: pkg.version, node: process.version, platform: `${process.platform}/${process.arch}` });
  });
});
