/**
 * Run `work` over items with at most `limit` at once, in order of the list; resolves when all
 * are done. `work` handles its own errors (a rejection stops nothing: it is rethrown at the end).
 * `stop` is checked before each item starts, so an abort starts nothing new.
 */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>, stop?: () => boolean): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const lane = async (): Promise<void> => {
    while (next < items.length && !stop?.()) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (errors.length > 0) throw errors[0];
}
