import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatBytes, jsonKind, quoted, shortened } from '../../src/shared/message-text.js';

describe('shared/message-text', () => {
  it('quotes a name as JSON, so blanks and control characters show', () => {
    assert.equal(quoted('db creds'), '"db creds"');
    assert.equal(quoted('a\nb"c'), '"a\\nb\\"c"');
  });

  it('cuts a long name at 80 characters, or at the limit given, and marks the cut', () => {
    assert.equal(quoted('x'.repeat(80)), JSON.stringify('x'.repeat(80)));
    assert.equal(quoted('x'.repeat(81)), JSON.stringify(`${'x'.repeat(80)}…`));
    assert.equal(quoted('y'.repeat(300), 200), JSON.stringify(`${'y'.repeat(200)}…`));
    assert.equal(shortened('abcdef', 3), 'abc…');
    assert.equal(shortened('abc', 3), 'abc');
  });

  it('never shows more of a name than the limit', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.integer({ min: 1, max: 200 }), (text, max) => {
        const shown = shortened(text, max);
        assert.ok(shown.length <= max + 1);
        assert.ok(text.startsWith(shown.endsWith('…') && shown.length === max + 1 ? shown.slice(0, max) : shown));
        assert.equal(JSON.parse(quoted(text, max)), shown);
      }),
    );
  });

  it('writes byte counts in B, KiB and MiB', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1024), '1.0 KiB');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(4 * 1024 * 1024), '4.0 MiB');
  });

  it('names the kind of a JSON value without showing it', () => {
    assert.equal(jsonKind(null), 'null');
    assert.equal(jsonKind([1]), 'a list');
    assert.equal(jsonKind({ a: 1 }), 'an object');
    assert.equal(jsonKind('s3cr3t'), 'a string');
    assert.equal(jsonKind(7), 'a number');
    assert.equal(jsonKind(true), 'a boolean');
  });
});
