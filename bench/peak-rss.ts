// Peak resident memory and CPU time of another process, per measured interval. Linux keeps the peak (VmHWM) and lets the
// owner reset it by writing 5 to /proc/<pid>/clear_refs; where that is refused, VmRSS is sampled instead.
import { readFile, writeFile } from 'node:fs/promises';

async function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  if (m === null) throw new Error(`no ${field} for process ${pid}`);
  return Number(m[1]);
}

/** CPU time (user + system) a process has used so far, in ms (clock ticks of 10 ms). */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export class PeakRss {
  readonly #pid: number;
  #sampler: NodeJS.Timeout | undefined;
  #sampledKb = 0;
  #resettable = true;
  /** The highest VmHWM (or sample) seen before any reset: the peak over the process's life so far. */
  #lifetimeKb = 0;

  constructor(pid: number) {
    this.#pid = pid;
  }

  async start(): Promise<void> {
    this.#sampledKb = 0;
    await this.#reset();
    this.#sampler = setInterval(() => {
      statusKb(this.#pid, 'VmRSS').then(
        (kb) => {
          this.#sampledKb = Math.max(this.#sampledKb, kb);
        },
        () => undefined,
      );
    }, 10);
    this.#sampler.unref();
  }

  async #reset(): Promise<void> {
    this.#lifetimeKb = Math.max(this.#lifetimeKb, await statusKb(this.#pid, 'VmHWM'));
    try {
      await writeFile(`/proc/${this.#pid}/clear_refs`, '5');
    } catch {
      this.#resettable = false;
    }
  }

  /** MiB: the kernel's peak since start() when it could be reset, else the highest sample. */
  async stop(): Promise<number> {
    if (this.#sampler !== undefined) clearInterval(this.#sampler);
    const current = await statusKb(this.#pid, 'VmRSS');
    const peak = this.#resettable ? await statusKb(this.#pid, 'VmHWM') : Math.max(this.#sampledKb, current);
    this.#lifetimeKb = Math.max(this.#lifetimeKb, peak, this.#sampledKb);
    return Math.max(peak, this.#sampledKb, current) / 1024;
  }

  /** MiB: the process's peak resident set over its life, across the resets of start(). */
  async lifetimePeakMiB(): Promise<number> {
    this.#lifetimeKb = Math.max(this.#lifetimeKb, await statusKb(this.#pid, 'VmHWM'));
    return this.#lifetimeKb / 1024;
  }
}
