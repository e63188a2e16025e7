/**
 * Comments say why, briefly (issue 21): src/ holds at most 0.15 comment lines per code line, counted as cloc counts
 * (`npx tsx scripts/comment-ratio.ts --files` lists them by file). History and figures belong in docs/ and commits.
 */
import assert from 'node:assert/strict';
import { countSource, scan } from '../../scripts/comment-ratio.js';

const MAX_COMMENT_LINES_PER_CODE_LINE = 0.15;

describe('comment lines in src/', () => {
  it('are counted as cloc counts them: a line with code is code, whatever else it holds', () => {
    const text = [
      '/**',
      ' * A block of three lines.',
      ' */',
      "const url = 'https://example.com/a'; // a trailing comment: the line is code",
      '',
      'const re = /\\/\\/ not a comment/;',
      'const t = `',
      '// inside a template: code',
      '`;',
      '// one comment line',
      '/* one */ const x = 1;',
      'f(/* in brackets */);',
      '',
    ].join('\n');
    const counted = scan('x.ts', text);
    assert.deepEqual({ code: counted.code, comment: counted.comment, blank: counted.blank }, { code: 7, comment: 4, blank: 2 });
    assert.deepEqual(
      counted.comments.map((c) => c.line),
      [1, 4, 10, 11, 12],
    );
  });

  it(`stay at most ${MAX_COMMENT_LINES_PER_CODE_LINE} per code line (src/generated/ left out)`, () => {
    const { total, files } = countSource();
    assert.ok(files.size >= 50 && total.code >= 5000, `only ${files.size} files, ${total.code} code lines: the counter is broken`);
    const ratio = total.comment / total.code;
    assert.ok(
      ratio <= MAX_COMMENT_LINES_PER_CODE_LINE,
      `${total.comment} comment lines for ${total.code} code lines (${ratio.toFixed(3)}): say why, briefly, and move history and figures to docs/`,
    );
  });
});
