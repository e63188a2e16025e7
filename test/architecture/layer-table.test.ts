/**
 * docs/architecture.md's layer table is the layer test's order: the same layers, top to bottom, each with the same
 * folders and files. The layers are read from test/architecture/layers.test.ts itself (its `LAYERS`), so a change
 * there fails here until the page says it too.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { table } from './markdown.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const LAYER_TEST = 'test/architecture/layers.test.ts';
const PAGE = 'docs/architecture.md';
const HEADING = '## One way: the layering';

/** The string arrays of `const LAYERS = [[…], …]` (through `as const` or `satisfies`). */
export function layersOf(source: string): string[][] {
  const file = ts.createSourceFile(LAYER_TEST, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  let found: string[][] | undefined;
  const unwrap = (e: ts.Expression): ts.Expression =>
    ts.isAsExpression(e) || ts.isSatisfiesExpression(e) || ts.isParenthesizedExpression(e) ? unwrap(e.expression) : e;
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.name.text === 'LAYERS' && node.initializer !== undefined) {
      const list = unwrap(node.initializer);
      assert.ok(ts.isArrayLiteralExpression(list), `${LAYER_TEST}: LAYERS is not an array literal`);
      found = list.elements.map((element) => {
        const layer = unwrap(element);
        assert.ok(ts.isArrayLiteralExpression(layer), `${LAYER_TEST}: a layer of LAYERS is not an array literal`);
        return layer.elements.map((entry) => {
          assert.ok(ts.isStringLiteralLike(entry), `${LAYER_TEST}: an entry of LAYERS is not a string`);
          return entry.text;
        });
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  assert.ok(found !== undefined, `${LAYER_TEST} declares no LAYERS`);
  return found;
}

/** The page's table, top to bottom: each row's last cell as its entries, `cli/` as `cli`. */
export function documentedLayers(page: string): string[][] {
  const rows = table(page, HEADING);
  assert.ok(rows !== undefined, `${PAGE} has no "${HEADING}"`);
  return rows.map((row) =>
    row
      .at(-1)!
      .split(',')
      .map((cell) => cell.trim().replace(/^`|`$/g, '').replace(/\/$/, ''))
      .filter((entry) => entry !== ''),
  );
}

describe(`${PAGE}'s layer table`, () => {
  it('reads the layers from the layer test and the page', () => {
    assert.deepEqual(layersOf("const LAYERS: readonly (readonly string[])[] = [['main.ts', 'cli'], ['shared']] as const;"), [['main.ts', 'cli'], ['shared']]);
    assert.deepEqual(documentedLayers(`x\n${HEADING}\n\n| layer | folders |\n|---|---|\n| top | \`main.ts\`, \`cli/\` |\n| base | \`shared/\` |\n\nafter`), [['main.ts', 'cli'], ['shared']]);
  });

  it('lists the layer test\'s layers in its order, with the same folders, and no other', () => {
    const layers = layersOf(readFileSync(`${ROOT}/${LAYER_TEST}`, 'utf8'));
    assert.ok(layers.length >= 5, `only ${layers.length} layers read from ${LAYER_TEST}`);
    const documented = documentedLayers(readFileSync(`${ROOT}/${PAGE}`, 'utf8'));
    const sorted = (layer: readonly string[]): string[] => [...layer].sort();
    assert.deepEqual(documented.map(sorted), layers.map(sorted), `${PAGE} "${HEADING}" must list ${LAYER_TEST}'s LAYERS, top first`);
  });
});
