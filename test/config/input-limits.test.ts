import assert from 'node:assert/strict';
import { capText, DEFAULT_INPUT_LIMITS, INPUT_LIMIT_FLAGS, MAX_OBJECTS_DEPTH } from '../../src/config/input-limits.js';
import { FLAGS } from '../../src/cli/flags.js';

describe('config/input-limits', () => {
  it('names every cap by its flag, which the flag table has', () => {
    const names = new Set(FLAGS.map((f) => f.name));
    for (const flag of Object.values(INPUT_LIMIT_FLAGS)) assert.ok(names.has(flag), flag);
    assert.deepEqual(Object.keys(INPUT_LIMIT_FLAGS).sort(), Object.keys(DEFAULT_INPUT_LIMITS).sort());
  });

  it('says a cap as the flag and its value, as refusals quote it', () => {
    assert.equal(capText({ ...DEFAULT_INPUT_LIMITS, templateBytes: 65_536 }, 'templateBytes'), '--max-template-bytes=65536');
  });

  it('keeps the default objects depth within the hard bound on recursion', () => {
    assert.ok(DEFAULT_INPUT_LIMITS.objectsDepth <= MAX_OBJECTS_DEPTH);
  });
});
