// Load generation and table formatting for the benchmark: a fixed list of operations run by a fixed number of
// workers, each operation timed on its own.

export interface LoadResult {
  /** One entry per successful operation, in completion order. */
  readonly latenciesMs: number[];
  readonly seconds: number;
  readonly errors: number;
  readonly firstError: string | undefined;
}

/** Runs every operation once, at most `concurrency` at a time. */
export async function runLoad(ops: ReadonlyArray<() => Promise<void>>, concurrency: number): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < ops.length) {
      const op = ops[next]!;
      next += 1;
      const t = performance.now();
      try {
        await op();
        latenciesMs.push(performance.now() - t);
      } catch (err: unknown) {
        errors += 1;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ops.length) }, () => worker()));
  return { latenciesMs, seconds: (performance.now() - started) / 1000, errors, firstError };
}

/** Nearest-rank percentile; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** A Markdown table (GitHub style), columns padded so it also reads well in a terminal. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
