/**
 * The one poll loop of the tests: for a condition in another process, a socket or a file, where there is no event to
 * await. Logic that takes a clock is driven by the clock instead (test/helpers/clocks.ts).
 */
export interface WaitOptions {
  /** Give up after this long (ms), naming what was awaited; below mocha's timeout so the message is ours. */
  readonly timeoutMs?: number;
  /** Poll this often (ms). */
  readonly everyMs?: number;
}

export async function waitFor(check: () => boolean | Promise<boolean>, what: string, options: WaitOptions = {}): Promise<void> {
  const { timeoutMs = 10_000, everyMs = 10 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
