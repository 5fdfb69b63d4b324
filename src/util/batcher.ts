/**
 * Group work that arrives while earlier work runs: the first item goes at once, alone; items
 * added while a batch runs wait and go together in the next one (at most `max` per batch). Each
 * add() resolves when its batch has run; a failed batch rejects every item in it. Statements with
 * a fixed cost (a ClickHouse insert makes a part, whatever its size) are then shared by the
 * windows that finish together, without waiting for windows that have not.
 */
export class Batcher<T> {
  private readonly queue: { item: T; resolve(): void; reject(e: unknown): void }[] = [];
  private running = 0;

  /**
   * `overlap(waiting)`: may the waiting items start as a batch of their own while `lanes` or
   * fewer batches run (work whose cost is its size, not the statement's, gains nothing from
   * waiting); by default never: one batch at a time.
   */
  constructor(
    private readonly run: (items: T[]) => Promise<void>,
    private readonly max = Number.POSITIVE_INFINITY,
    private readonly overlap: { lanes: number; when(waiting: T[]): boolean } = { lanes: 1, when: () => false },
  ) {}

  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.startIfFree();
    });
  }

  private startIfFree(): void {
    if (this.queue.length === 0) return;
    if (this.running === 0 || (this.running < this.overlap.lanes && this.overlap.when(this.queue.map((q) => q.item)))) void this.lane();
  }

  private async lane(): Promise<void> {
    this.running++;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.max);
        try {
          await this.run(batch.map((b) => b.item));
          for (const b of batch) b.resolve();
        } catch (e) {
          for (const b of batch) b.reject(e);
        }
        if (this.running > 1) break;
      }
    } finally {
      this.running--;
    }
    this.startIfFree();
  }
}
