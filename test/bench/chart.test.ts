/**
 * bench/chart.ts, which draws docs/benchmark-real.svg: one line per series with a marker and its value at each
 * point, axes that reach past the largest value, names escaped, nothing undefined or NaN in the drawing.
 */
import assert from 'node:assert/strict';
import { formatNumber, lineChartsSvg, niceStep } from '../../bench/chart.js';

describe('bench/chart', () => {
  it('picks round tick steps and writes numbers as people read them', () => {
    assert.equal(niceStep(100, 5), 20);
    assert.equal(niceStep(7, 5), 2);
    assert.equal(niceStep(0.9, 5), 0.2);
    assert.equal(niceStep(0, 5), 1);
    assert.equal(formatNumber(1234.5), '1,235');
    assert.equal(formatNumber(12.34), '12.3');
    assert.equal(formatNumber(0.456), '0.46');
  });

  it('draws every series of every panel, with its values, and one legend entry per name', () => {
    const svg = lineChartsSvg(
      'A <title> & more',
      [
        { title: 'left', xLabel: 'pods', yLabel: 'requests', series: [{ name: 'ours', color: '#00f', points: [[10, 5], [100, 50], [30, 15]] }, { name: 'ref', color: '#f00', dashed: true, points: [[10, 10], [100, 100]] }] },
        { title: 'right', xLabel: 'pods', yLabel: 'tokens', series: [{ name: 'ours', color: '#00f', points: [[10, 7]] }] },
      ],
      'a note',
    );
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /A &lt;title&gt; &amp; more/);
    assert.equal((svg.match(/<path /g) ?? []).length, 3);
    assert.equal((svg.match(/<circle /g) ?? []).length, 6);
    assert.equal((svg.match(/stroke-dasharray/g) ?? []).length, 2, 'the dashed series and its legend line');
    for (const value of ['>5<', '>50<', '>15<', '>100<', '>7<']) assert.ok(svg.includes(value), value);
    assert.equal((svg.match(/class="legend">ours</g) ?? []).length, 1);
    assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
    // Points are drawn in x order whatever order they came in.
    const ours = /<path d="([^"]+)" fill="none" stroke="#00f"/.exec(svg)![1]!;
    const xs = ours.split(' ').map((step) => Number(step.slice(1).split(',')[0]));
    assert.deepEqual([...xs].sort((a, b) => a - b), xs);
  });
});
