import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProviderError } from '../../src/errors.js';
import { thrown } from '../helpers/rejection.js';
import { countHashedCharacters } from '../helpers/hashed-characters.js';
import {
  buildFileSet,
  contentBytes,
  DEFAULT_MOUNT_LIMIT_BYTES,
  exceedsSecretSyncLimit,
  largestObjects,
  PER_FILE_OVERHEAD_BYTES,
  responseBytes,
  SECRET_SYNC_LIMIT_BYTES,
  type OutputFile,
} from '../../src/output/file-set.js';

function file(path: string, contents: string | Buffer = 'x', objectName = path, mode = 0o644): OutputFile {
  return { path, mode, objectName, contents: typeof contents === 'string' ? Buffer.from(contents) : contents };
}

function rejectsWith(code: string, pattern: RegExp, run: () => unknown): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof ProviderError, 'a ProviderError');
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('output/file-set', () => {
  it('accepts dotfiles, nested paths and every mode from 0 to 0777, keeping the order', () => {
    const files = [file('.env'), file('a/.b'), file('tls/tls.crt', 'c', 'tls', 0o400), file('z', 'z', 'z', 0)];
    const built = buildFileSet([...files, file('all', 'x', 'all', 0o777)]);
    assert.deepEqual(
      built.map((f) => f.path),
      ['.env', 'a/.b', 'tls/tls.crt', 'z', 'all'],
    );
    assert.ok(Object.isFrozen(built));
  });

  it('accepts an empty set', () => {
    assert.deepEqual(buildFileSet([]), []);
  });

  for (const bad of ['', '/abs', '../up', 'a/../b', '..data', '..x', 'a//b', './x', 'x/', 'a'.repeat(256)]) {
    it(`rejects the path ${JSON.stringify(bad.length > 20 ? `${bad.slice(0, 20)}…` : bad)} naming the object`, () => {
      rejectsWith('INVALID_CONFIG', /object "my-object"/, () => buildFileSet([file(bad, 'x', 'my-object')]));
    });
  }

  for (const mode of [-1, 512, 0o4755, 1.5, Number.NaN]) {
    it(`rejects the mode ${String(mode)}`, () => {
      rejectsWith('INVALID_CONFIG', /object "m".*mode/, () => buildFileSet([file('p', 'x', 'm', mode)]));
    });
  }

  it('rejects two files at one path, naming both objects', () => {
    rejectsWith('INVALID_CONFIG', /object "second".*"same".*object "first"/, () =>
      buildFileSet([file('same', 'a', 'first'), file('same', 'b', 'second')]),
    );
  });

  it('rejects a file that is also a parent directory of another file, naming both objects', () => {
    for (const order of [
      [file('a', '1', 'plain'), file('a/b', '2', 'nested')],
      [file('a/b', '2', 'nested'), file('a', '1', 'plain')],
    ]) {
      rejectsWith('INVALID_CONFIG', /object "nested".*"a\/b".*object "plain"/, () => buildFileSet(order));
    }
    rejectsWith('INVALID_CONFIG', /object "deep".*"x\/y".*object "mid"/, () =>
      buildFileSet([file('x/y', '1', 'mid'), file('x/y/z', '2', 'deep')]),
    );
  });

  it('allows siblings that share a name prefix without being a directory prefix', () => {
    assert.equal(buildFileSet([file('a'), file('ab/c'), file('a.d/e')]).length, 3);
  });

  it('counts contents plus a per-file overhead against the 4 MiB default', () => {
    const f = file('p', Buffer.alloc(10), 'obj');
    assert.equal(responseBytes([f]), 10 + 1 + 3 + PER_FILE_OVERHEAD_BYTES);
    const justFits = DEFAULT_MOUNT_LIMIT_BYTES - (1 + 3 + PER_FILE_OVERHEAD_BYTES);
    assert.equal(buildFileSet([file('p', Buffer.alloc(justFits), 'obj')]).length, 1);
    rejectsWith('MOUNT_TOO_LARGE', /obj/, () => buildFileSet([file('p', Buffer.alloc(justFits + 1), 'obj')]));
  });

  it('over the limit, gives the total and the three largest objects with sizes, never contents', () => {
    const secret = 'TOP-SECRET-VALUE';
    const files = [
      file('small', secret, 'small'),
      file('big', Buffer.alloc(3 * 1024 * 1024, secret), 'big'),
      file('medium', Buffer.alloc(1024 * 1024, secret), 'medium'),
      file('tls/a', Buffer.alloc(300 * 1024, secret), 'tls'),
      file('tls/b', Buffer.alloc(300 * 1024, secret), 'tls'),
    ];
    assert.throws(
      () => buildFileSet(files),
      (err: unknown) => {
        assert.ok(err instanceof ProviderError);
        assert.equal(err.code, 'MOUNT_TOO_LARGE');
        assert.match(err.message, /about 4\.6 MiB \(\d+ bytes/);
        assert.match(err.message, /"big" \(3\.0 MiB\), "medium" \(1\.0 MiB\), "tls" \(600\.\d KiB\)/);
        assert.doesNotMatch(err.message, /small/);
        assert.ok(!err.message.includes(secret));
        return true;
      },
    );
  });

  it('honours a custom limit', () => {
    rejectsWith('MOUNT_TOO_LARGE', /"a"/, () => buildFileSet([file('a', Buffer.alloc(100))], 150));
  });

  it('says when the contents exceed what a Kubernetes Secret can hold', () => {
    assert.equal(exceedsSecretSyncLimit([file('a', Buffer.alloc(SECRET_SYNC_LIMIT_BYTES))]), false);
    assert.equal(exceedsSecretSyncLimit([file('a', Buffer.alloc(SECRET_SYNC_LIMIT_BYTES)), file('b', 'x')]), true);
    assert.equal(contentBytes([file('a', 'abc'), file('b', 'de')]), 5);
  });

  it('ranks objects by size, ties by name, summing files of one object', () => {
    const ranked = largestObjects([file('a', 'xx', 'b'), file('c', 'xx', 'a'), file('d', 'x', 'c'), file('e', 'xx', 'c')]);
    assert.deepEqual(
      ranked.map((r) => r.name),
      ['c', 'a', 'b'],
    );
  });

  it('property: any set of distinct single-component names is accepted and estimated above its contents', () => {
    const name = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,15}$/);
    fc.assert(
      fc.property(fc.uniqueArray(name, { maxLength: 20 }), fc.integer({ min: 0, max: 0o777 }), (names, mode) => {
        const files = names.map((n) => file(n, n, n, mode));
        assert.equal(buildFileSet(files).length, names.length);
        assert.ok(responseBytes(files) >= contentBytes(files) + names.length * PER_FILE_OVERHEAD_BYTES);
      }),
      { numRuns: 50 },
    );
  });

  it('property: adding a file under an existing file path is always rejected', () => {
    const name = fc.stringMatching(/^[a-z]{1,8}$/);
    fc.assert(
      fc.property(name, name, (parent, child) => {
        rejectsWith('INVALID_CONFIG', /writes a file there/, () =>
          buildFileSet([file(parent, '1', 'p'), file(`${parent}/${child}`, '2', 'c')]),
        );
      }),
      { numRuns: 50 },
    );
  });

  it('finds a file/directory clash by path components: a path of many components costs its length, not its square', () => {
    // `expand: keys` under an objectName of ~2,000 components: the driver's path rules allow it, and comparing
    // every directory of every file as a string held the event loop for 17 s with 100 keys (issue 19): it hashed
    // 360 million characters here, against a few times the length of the paths now.
    const deep = Array(1900).fill('d').join('/');
    const files = Array.from({ length: 100 }, (_, i) => file(`${deep}/k${i}`, 'x', 'exp'));
    const ok = countHashedCharacters(() => buildFileSet(files));
    assert.equal(ok.result.length, 100);
    const total = files.reduce((sum, f) => sum + f.path.length, 0);
    assert.ok(ok.characters < 10 * total, `${ok.characters} characters hashed for ${total} characters of paths`);
    const clash = [...files, file(`${deep}/k7/inner`, 'x', 'other')];
    const found = countHashedCharacters(() => thrown(() => buildFileSet(clash)));
    assert.match(found.result.message, /^object "other": file path ".*" needs "d\/d\/.*…" to be a directory, but object "exp" writes a file there$/);
    assert.ok(found.characters < 10 * (total + deep.length), `${found.characters} characters hashed`);
  });
});
