// Loaded into the provider by `npm run soak` only (node --expose-gc --import scripts/soak-gc-probe.mjs): on SIGUSR2,
// run a full garbage collection and report memory on stderr, so the soak compares like with like (memory after a
// full GC) instead of catching the heap at a random point of its collection cycle. Nothing else changes.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  process.stderr.write(`SOAK_GC_PROBE ${JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external })}\n`);
});
