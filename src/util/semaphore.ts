/**
 * A counting semaphore: at most `limit` holders at once, waiters served in order. The sync engine
 * uses one for its downloads, so a window that has been read and only waits for its commit no
 * longer holds a download slot.
 */
export class Semaphore {
  private free: number;
  private readonly waiters: (() => void)[] = [];

  constructor(limit: number) {
    this.free = Math.max(1, Math.floor(limit));
  }

  /** Resolves when a slot is held; the returned function gives it back (once; later calls do nothing). */
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const next = this.waiters.shift();
      if (next) next();
      else this.free++;
    };
  }
}
