// A preload for `BENCH_PROVIDER_NODE_ARGS=--import=./bench/alloc-sampler.mjs`: V8's sampling heap profiler with the
// objects that the collector has already freed kept in the profile, so it shows what is allocated where, not only
// what is left. Writes `<pid>.heapprofile` (Chrome DevTools opens it) into $ALLOC_PROFILE_DIR (default: the working
// directory) when the process is told to stop or exits (docs/benchmark.md#allocation-per-republish).
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const session = new Session();
session.connect();
session.post('HeapProfiler.enable');
session.post('HeapProfiler.startSampling', {
  samplingInterval: 4096,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
let written = false;
function write() {
  if (written) return;
  written = true;
  // An in-process session answers synchronously, so this is written before the process goes.
  session.post('HeapProfiler.stopSampling', (err, result) => {
    if (err === null) writeFileSync(join(process.env.ALLOC_PROFILE_DIR ?? '.', `${process.pid}.heapprofile`), JSON.stringify(result.profile));
  });
}
process.on('exit', write);
for (const signal of ['SIGTERM', 'SIGINT']) process.prependListener(signal, write);
