// Line charts as a standalone SVG, for the benchmark pages in docs/: a few panels side by side, each with its own
// axes, a line per series with a marker at each point and the value written beside it, and one legend. Written by
// hand (two small charts do not need a charting library); the text is plain SVG 1.1 that GitHub renders.

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly dashed?: boolean;
  /** [x, y] pairs; drawn in x order. */
  readonly points: ReadonlyArray<readonly [number, number]>;
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
}

const PANEL_W = 440;
const PANEL_H = 320;
const MARGIN = { left: 64, right: 20, top: 40, bottom: 52 };
const LEGEND_H = 34;
const TITLE_H = 30;

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A round step for about `count` ticks from 0 to max: 1, 2 or 5 times a power of ten. */
export function niceStep(max: number, count = 5): number {
  if (!(max > 0)) return 1;
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

/** Numbers as people write them: 1,234; 12.3; 0.45. */
export function formatNumber(v: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function panelSvg(panel: Panel, x0: number, y0: number): string {
  const w = PANEL_W - MARGIN.left - MARGIN.right;
  const h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const all = panel.series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0]));
  const yMax = Math.max(1e-9, ...all.map((p) => p[1]));
  const xStep = niceStep(xMax, 5);
  const yStep = niceStep(yMax, 5);
  const xTop = Math.ceil(xMax / xStep) * xStep;
  const yTop = Math.ceil((yMax * 1.08) / yStep) * yStep;
  const px = (x: number) => x0 + MARGIN.left + (x / xTop) * w;
  const py = (y: number) => y0 + MARGIN.top + h - (y / yTop) * h;
  const out: string[] = [];
  out.push(`<text x="${x0 + MARGIN.left + w / 2}" y="${y0 + 22}" class="title">${esc(panel.title)}</text>`);
  for (let y = 0; y <= yTop + yStep / 2; y += yStep) {
    out.push(`<line x1="${px(0)}" y1="${py(y)}" x2="${px(xTop)}" y2="${py(y)}" class="grid"/>`);
    out.push(`<text x="${px(0) - 8}" y="${py(y) + 4}" class="ytick">${formatNumber(y)}</text>`);
  }
  for (let x = 0; x <= xTop + xStep / 2; x += xStep) {
    out.push(`<line x1="${px(x)}" y1="${py(0)}" x2="${px(x)}" y2="${py(0) + 5}" class="axis"/>`);
    out.push(`<text x="${px(x)}" y="${py(0) + 19}" class="xtick">${formatNumber(x)}</text>`);
  }
  out.push(`<line x1="${px(0)}" y1="${py(0)}" x2="${px(xTop)}" y2="${py(0)}" class="axis"/>`);
  out.push(`<line x1="${px(0)}" y1="${py(0)}" x2="${px(0)}" y2="${py(yTop)}" class="axis"/>`);
  out.push(`<text x="${px(xTop / 2)}" y="${y0 + PANEL_H - 10}" class="label">${esc(panel.xLabel)}</text>`);
  const ly = y0 + MARGIN.top + h / 2;
  out.push(`<text x="${x0 + 16}" y="${ly}" class="label" transform="rotate(-90 ${x0 + 16} ${ly})">${esc(panel.yLabel)}</text>`);
  // Where two series meet at an x, the higher value is written above its point and the others below theirs.
  const highest = new Map<number, number>();
  for (const [x, y] of all) highest.set(x, Math.max(highest.get(x) ?? -Infinity, y));
  const claimed = new Set<number>();
  for (const s of panel.series) {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    if (pts.length === 0) continue;
    const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.5"${s.dashed === true ? ' stroke-dasharray="7 5"' : ''}/>`);
    for (const p of pts) {
      out.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="4" fill="${s.color}"/>`);
      // Ties: the first series at that value takes the place above.
      const above = p[1] >= highest.get(p[0])! && !claimed.has(p[0]);
      if (above) claimed.add(p[0]);
      out.push(`<text x="${(px(p[0]) - 6).toFixed(1)}" y="${(py(p[1]) + (above ? -9 : 18)).toFixed(1)}" class="value" fill="${s.color}">${formatNumber(p[1])}</text>`);
    }
  }
  return out.join('\n');
}

/** Panels side by side under a title, with one legend for every series name and a note below (lines split at \n). */
export function lineChartsSvg(title: string, panels: readonly Panel[], note?: string): string {
  const width = PANEL_W * panels.length;
  const noteLines = note === undefined ? [] : note.split('\n');
  const height = TITLE_H + PANEL_H + LEGEND_H + noteLines.length * 16;
  const body: string[] = [];
  body.push(`<text x="${width / 2}" y="20" class="heading">${esc(title)}</text>`);
  panels.forEach((p, i) => body.push(panelSvg(p, i * PANEL_W, TITLE_H)));
  const legend = new Map<string, Series>();
  for (const p of panels) for (const s of p.series) if (!legend.has(s.name)) legend.set(s.name, s);
  let lx = 24;
  const lyy = TITLE_H + PANEL_H + 20;
  for (const s of legend.values()) {
    body.push(`<line x1="${lx}" y1="${lyy - 4}" x2="${lx + 34}" y2="${lyy - 4}" stroke="${s.color}" stroke-width="2.5"${s.dashed === true ? ' stroke-dasharray="7 5"' : ''}/>`);
    body.push(`<text x="${lx + 42}" y="${lyy}" class="legend">${esc(s.name)}</text>`);
    lx += 60 + s.name.length * 7.5;
  }
  noteLines.forEach((line, i) => body.push(`<text x="24" y="${lyy + 22 + i * 16}" class="note">${esc(line)}</text>`));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    '<style>',
    '.heading{font-size:16px;font-weight:bold;text-anchor:middle;fill:#222}',
    '.title{font-size:14px;font-weight:bold;text-anchor:middle;fill:#222}',
    '.label{font-size:12px;text-anchor:middle;fill:#444}',
    '.xtick{font-size:11px;text-anchor:middle;fill:#555}',
    '.ytick{font-size:11px;text-anchor:end;fill:#555}',
    '.value{font-size:11px;text-anchor:end}',
    '.legend{font-size:12px;fill:#222}',
    '.note{font-size:11px;fill:#555}',
    '.grid{stroke:#e4e4e4;stroke-width:1}',
    '.axis{stroke:#888;stroke-width:1}',
    '</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
