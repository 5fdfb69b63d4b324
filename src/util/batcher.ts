/**
 * Group work that arrives while earlier work runs: the first item goes at once, alone; items
 * added while a batch runs wait and go together in the next one (at most `max` per batch). Each
 * add() resolves when its batch has run; a failed batch rejects every item in it. Statements with
 * a fixed cost (a ClickHouse insert makes a part, whatever its size) are then shared by the
 * windows that finish together, without waiting for windows that have not.
 */
export class Batcher<T> {
  private readonly queue: { item: T; resolve(): void; reject(e: unknown): void }[] = [];
  private running = false;

  constructor(
    private readonly run: (items: T[]) => Promise<void>,
    private readonly max = Number.POSITIVE_INFINITY,
  ) {}

  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.max);
      try {
        await this.run(batch.map((b) => b.item));
        for (const b of batch) b.resolve();
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
    }
    this.running = false;
  }
}
