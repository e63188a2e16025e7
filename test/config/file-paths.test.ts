import assert from 'node:assert/strict';
import { posix } from 'node:path';
import fc from 'fast-check';
import { filePathChecker, filePathProblem, MAX_COMPONENT_BYTES, MAX_PATH_BYTES, parentDirectories, parentOf, PathTrie } from '../../src/config/file-paths.js';

/**
 * An independent statement of the driver's rules (validatePath plus "equals filepath.Clean"), built on Node's
 * posix path functions rather than on component checks, to cross-check the implementation.
 */
function driverAccepts(p: string): boolean {
  if (p === '' || posix.isAbsolute(p)) return false;
  if (Buffer.byteLength(p) > MAX_PATH_BYTES) return false;
  const items = p.split('/');
  if (items.some((i) => i === '..' || Buffer.byteLength(i) > MAX_COMPONENT_BYTES)) return false;
  if (items[0]!.startsWith('..')) return false;
  // Go's Clean: normalize, without the trailing slash normalize keeps.
  const normalized = posix.normalize(p);
  const clean = normalized.length > 1 ? normalized.replace(/\/$/, '') : normalized;
  return clean === p && p !== '.';
}

describe('config/file-paths filePathProblem', () => {
  const accepted = [
    'a',
    'db-password',
    '.env',
    '.secret-file',
    'a/.b',
    'tls/tls.crt',
    'a/b/c/d',
    '.a/b',
    'a..b',
    'x/..y',
    'ünïcödé',
    'with space',
    'x'.repeat(MAX_COMPONENT_BYTES),
    `${'x'.repeat(200)}/`.repeat(20).slice(0, -1),
  ];
  for (const p of accepted) {
    it(`accepts ${JSON.stringify(p.length > 40 ? `${p.slice(0, 40)}…` : p)}`, () => {
      assert.equal(filePathProblem(p), undefined);
    });
  }

  const refused: ReadonlyArray<readonly [string, RegExp]> = [
    ['', /empty/],
    ['/etc/passwd', /relative/],
    ['/', /relative/],
    ['..', /'\.\.'/],
    ['../x', /'\.\.'/],
    ['a/../b', /'\.\.'/],
    ['a/..', /'\.\.'/],
    ['..data', /start with '\.\.'/],
    ['..foo/x', /start with '\.\.'/],
    ['.../x', /start with '\.\.'/],
    ['..2024_01_01', /start with '\.\.'/],
    ['./x', /clean form/],
    ['a/./b', /clean form/],
    ['a//b', /clean form/],
    ['x/', /clean form/],
    ['.', /clean form/],
    ['a\0b', /NUL/],
    ['a\ud800b', /Unicode/],
    ['x'.repeat(MAX_COMPONENT_BYTES + 1), /255 bytes/],
    // 128 two-byte characters: 256 bytes in 128 UTF-16 units.
    ['é'.repeat(128), /255 bytes/],
    [`${'x'.repeat(100)}/`.repeat(41).slice(0, -1), /4096 bytes/],
  ];
  for (const [p, why] of refused) {
    it(`refuses ${JSON.stringify(p.length > 40 ? `${p.slice(0, 40)}…` : p)}`, () => {
      const problem = filePathProblem(p);
      assert.ok(problem !== undefined, 'expected a problem');
      assert.match(problem, why);
    });
  }

  const pathChars = fc.constantFrom('a', 'b', '.', '/', '..', '\u00e9', '-', '_', ' ', 'x'.repeat(60));
  const pathLike = fc.array(pathChars, { maxLength: 12 }).map((parts) => parts.join(''));

  it('agrees with an independent statement of the driver rules on path-like strings', () => {
    fc.assert(
      fc.property(pathLike, (p) => {
        assert.equal(filePathProblem(p) === undefined, driverAccepts(p), JSON.stringify(p));
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with the driver rules on arbitrary strings without NUL or lone surrogates', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (p) => {
        fc.pre(!p.includes('\0'));
        assert.equal(filePathProblem(p) === undefined, driverAccepts(p));
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts any join of safe components, dotfiles included', () => {
    const component = fc
      .string({ minLength: 1, maxLength: 20 })
      .filter((c) => !c.includes('/') && !c.includes('\0') && c !== '.' && c !== '..' && !/\p{Cs}/u.test(c));
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 6 }), (parts) => {
        fc.pre(!parts[0]!.startsWith('..'));
        assert.equal(filePathProblem(parts.join('/')), undefined);
      }),
    );
  });

  it('never lets an accepted path leave the target directory or name the directory itself', () => {
    const root = '/var/lib/kubelet/pods/p/volumes/mount';
    fc.assert(
      fc.property(pathLike, (p) => {
        if (filePathProblem(p) !== undefined) return;
        const resolved = posix.resolve(root, p);
        assert.ok(resolved.startsWith(`${root}/`), resolved);
        assert.ok(!posix.relative(root, resolved).startsWith('..'));
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (p) => {
      const r = filePathProblem(p);
      assert.ok(r === undefined || typeof r === 'string');
    }));
  });
});

describe('config/file-paths parentDirectories', () => {
  it('lists the directories a path lives in, outermost first', () => {
    assert.deepEqual(parentDirectories('a/b/c'), ['a', 'a/b']);
    assert.deepEqual(parentDirectories('tls/tls.crt'), ['tls']);
    assert.deepEqual(parentDirectories('top'), []);
  });
});

describe('config/file-paths for many paths at once (issue 19: linear in long names)', () => {
  const component = fc.oneof(fc.constantFrom('a', 'b', '.', '..', '', '..x', 'é', '\0', '\ud800', 'x'.repeat(256)), fc.string({ maxLength: 4 }));
  const path = fc.array(component, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('/'));
  const paths = fc.array(fc.oneof(path, path.map((p) => `/${p}`)), { maxLength: 12 });

  it('filePathChecker answers as filePathProblem does, message for message, over paths sharing directories', () => {
    fc.assert(
      fc.property(paths, (list) => {
        const check = filePathChecker();
        for (const p of [...list, ...list.map((q) => `${q}/z`)]) assert.equal(check(p), filePathProblem(p), JSON.stringify(p));
      }),
      { numRuns: 2000 },
    );
    const check = filePathChecker();
    assert.equal(check(`${'a/'.repeat(2047)}b`), undefined);
    assert.match(check(`${'a/'.repeat(2047)}bbb`) ?? '', /at most 4096 bytes/);
  });

  it('PathTrie finds the outermost file among the directories of a path, as comparing every prefix would', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 4 }).map((c) => c.join('/')), { maxLength: 10 }), (list) => {
        const trie = new PathTrie<number>();
        list.forEach((p, i) => trie.add(p, i));
        for (const p of list) {
          const naive = parentDirectories(p).find((d) => list.includes(d));
          const found = trie.ancestor(p);
          assert.equal(found?.path, naive, p);
          if (naive !== undefined) assert.equal(found?.value, list.indexOf(naive));
        }
      }),
      { numRuns: 1000 },
    );
    assert.equal(parentOf('a/b/c'), 'a/b');
    assert.equal(parentOf('a'), '');
  });
});

