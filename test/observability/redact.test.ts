import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CENSOR, redactLine, SENSITIVE_FIELDS } from '../../src/observability/redact.js';
import { createLogger } from '../../src/observability/logger.js';

describe('observability/redact', () => {
  it('returns the very same line when nothing is sensitive', () => {
    const line = { pod: 'web-0', objects: [{ name: 'db/password', vaultPath: 'secret/data/db', version: 'abc' }], nested: { a: { b: 1 } } };
    assert.equal(redactLine(line), line);
  });

  it('censors sensitive fields at the top, one and two levels down, in objects and arrays, without touching the input', () => {
    const line = {
      token: 'hvs.top',
      request: { headers: { 'X-Vault-Token': 'hvs.header', accept: 'json' }, jwt: 'eyJ.a.b' },
      objects: [{ name: 'a', contents: 'c2VjcmV0' }, { name: 'b' }],
      kept: 'visible',
    };
    const snapshot = structuredClone(line);
    const out = redactLine(line);
    assert.deepEqual(out, {
      token: CENSOR,
      request: { headers: { 'X-Vault-Token': CENSOR, accept: 'json' }, jwt: CENSOR },
      objects: [{ name: 'a', contents: CENSOR }, { name: 'b' }],
      kept: 'visible',
    });
    assert.deepEqual(line, snapshot);
    // Untouched branches are shared, not copied.
    assert.equal((out.objects as unknown[])[1], line.objects[1]);
  });

  it('stops below two levels (a bounded walk), and leaves undefined fields alone', () => {
    const deep = { a: { b: { c: { token: 'x' } } }, token: undefined };
    assert.equal(redactLine(deep), deep);
  });

  it('never lets a sensitive field through within two levels, whatever the shape (property)', () => {
    const key = fc.constantFrom(...SENSITIVE_FIELDS, 'Token', 'JWT', 'name', 'path', 'version');
    const leaf = fc.oneof(fc.string(), fc.integer(), fc.constant(null));
    const level2 = fc.dictionary(key, leaf, { maxKeys: 4 });
    const level1 = fc.dictionary(key, fc.oneof(leaf, level2, fc.array(level2, { maxLength: 3 })), { maxKeys: 4 });
    const line = fc.dictionary(key, fc.oneof(leaf, level1, fc.array(level1, { maxLength: 3 })), { maxKeys: 5 });
    fc.assert(
      fc.property(line, (input) => {
        const check = (value: unknown, depth: number): void => {
          if (typeof value !== 'object' || value === null || depth > 2) return;
          for (const [k, v] of Object.entries(value)) {
            if (!Array.isArray(value) && SENSITIVE_FIELDS.has(k.toLowerCase())) assert.equal(v, CENSOR);
            else check(v, Array.isArray(value) ? depth : depth + 1);
          }
        };
        check(redactLine(input), 0);
      }),
      { numRuns: 300 },
    );
  });

  it('is what the logger applies to every line, child loggers included', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (s: string) => void lines.push(s) });
    logger.child({ component: 'vault' }).info({ jwt: 'eyJ.secret.sig', path: '/v1/x', nested: { token: 'hvs.secret' } }, 'login');
    const text = lines.join('');
    assert.doesNotMatch(text, /eyJ\.secret|hvs\.secret/);
    const parsed = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(parsed['jwt'], CENSOR);
    assert.deepEqual(parsed['nested'], { token: CENSOR });
    assert.equal(parsed['component'], 'vault');
    assert.equal(parsed['path'], '/v1/x');
  });
});
