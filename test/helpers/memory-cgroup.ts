/**
 * A memory cgroup that holds a daemon at the DaemonSet's memory limit, as the container runtime holds the pod: the
 * kernel charges what the process allocates and the page cache it brings in, reclaims file-backed pages (the node
 * binary's code, written files) before it kills, and OOM-kills only when what cannot be reclaimed exceeds the limit.
 * That is the judge of "fits the limit"; VmHWM also counts the binary's ~40 MiB of reclaimable pages, so it is a
 * figure beside it, not the bound. Needs root and the memory controller (v1 or v2); `create` says why when it cannot.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class MemoryCgroup {
  private constructor(
    readonly dir: string,
    readonly version: 1 | 2,
  ) {}

  /** A fresh cgroup below this process's own, limited to `limitBytes`; or why none can be made here. */
  static create(limitBytes: number, name: string): MemoryCgroup | string {
    const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
    const v2 = '/sys/fs/cgroup/cgroup.controllers';
    let dir: string;
    let version: 1 | 2;
    if (existsSync(v2) && readFileSync(v2, 'utf8').split(/\s+/).includes('memory')) {
      const path = own.find((l) => l.startsWith('0::'))?.slice(3) ?? '/';
      dir = join('/sys/fs/cgroup', path, name);
      version = 2;
    } else if (existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) {
      const path = own.map((l) => l.split(':')).find((f) => f[1]?.split(',').includes('memory'))?.[2] ?? '/';
      dir = join('/sys/fs/cgroup/memory', path, name);
      version = 1;
    } else {
      return 'no memory cgroup controller is mounted';
    }
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, version === 2 ? 'memory.max' : 'memory.limit_in_bytes'), String(limitBytes));
      // As the kubelet leaves it: no swap (where the kernel accounts swap at all).
      if (version === 2 && existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
    } catch (err: unknown) {
      return `cannot make a memory cgroup at ${dir}: ${err instanceof Error ? err.message : String(err)}`;
    }
    return new MemoryCgroup(dir, version);
  }

  /** argv that joins this cgroup, then execs `argv` (same pid): everything the process charges is counted here. */
  wrap(argv: readonly string[]): readonly string[] {
    return ['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', join(this.dir, 'cgroup.procs'), ...argv];
  }

  /** The most the cgroup has been charged since it was made (page cache of files the process brought in included). */
  peakBytes(): number {
    return Number(this.#read(this.version === 2 ? 'memory.peak' : 'memory.max_usage_in_bytes'));
  }

  /** Processes the kernel killed here for the limit. */
  oomKills(): number {
    const file = this.version === 2 ? 'memory.events' : 'memory.oom_control';
    return Number(/^oom_kill (\d+)$/m.exec(this.#read(file))?.[1] ?? 0);
  }

  /** Times the charge reached the limit and the kernel had to reclaim (v1 failcnt; v2 `max` events). */
  limitHits(): number {
    if (this.version === 1) return Number(this.#read('memory.failcnt'));
    return Number(/^max (\d+)$/m.exec(this.#read('memory.events'))?.[1] ?? 0);
  }

  /** Removes the cgroup once its processes have exited (the kernel refuses while any is left). */
  remove(): void {
    try {
      rmdirSync(this.dir);
    } catch {
      // A process still inside (or already gone): nothing to keep it for.
    }
  }

  #read(file: string): string {
    return readFileSync(join(this.dir, file), 'utf8').trim();
  }
}
