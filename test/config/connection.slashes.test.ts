import assert from 'node:assert/strict';
import fc from 'fast-check';
import { trimSlashes, trimTrailingSlashes } from '../../src/config/connection.js';
import { countWork } from '../helpers/work-spy.js';

describe('config/connection: slashes', () => {
  it('trims as the former regexes did', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('/', 'a', '.', ' '), { maxLength: 12 }).map((p) => p.join('')), (text) => {
        assert.equal(trimSlashes(text), text.replace(/^\/+|\/+$/g, ''));
        assert.equal(trimTrailingSlashes(text), text.replace(/\/+$/, ''));
      }),
    );
    assert.equal(trimSlashes('///'), '');
    assert.equal(trimSlashes('/a/b/'), 'a/b');
    assert.equal(trimTrailingSlashes('/a//'), '/a');
  });

  it('looks at each character once, with no regex, for a parameter of 50,000 slashes and one letter', () => {
    const text = `a${'/'.repeat(50_000)}b`;
    const work = countWork(() => [trimSlashes(text), trimTrailingSlashes(text)]);
    assert.deepEqual(work.result, [text, text]);
    assert.deepEqual(work.regexInputs, []);
    assert.ok(work.looks <= 4, `${work.looks} looks`);
    const slashes = '/'.repeat(50_000);
    assert.ok(countWork(() => trimSlashes(`x${slashes}`)).looks <= 50_003);
  });
});
