/**
 * Time as the scheduler sees it. The system clock in production; a FakeClock in tests, so
 * schedules (DST changes, missed runs, backoff) are tested without waiting or flakiness.
 */
export type TimerHandle = { readonly __timer: true } | object;

export interface Clock {
  now(): Date;
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => new Date(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return t;
  },
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/** Let pending promise chains run (a few macrotask turns). */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A clock tests move by hand. Timers fire in time order; promise chains settle between them. */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(start: Date | string | number) {
    this.t = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.t);
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer = { id: ++this.seq, at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers = this.timers.filter((x) => x !== handle);
  }

  /** Timers waiting, earliest first. */
  pending(): Date[] {
    return this.timers.map((x) => new Date(x.at)).sort((a, b) => a.getTime() - b.getTime());
  }

  /** Move time forward by ms, firing every timer due on the way (in order). */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.t + ms);
  }

  async advanceTo(target: Date | string | number): Promise<void> {
    const end = new Date(target).getTime();
    if (end < this.t) throw new Error('a clock does not go backwards');
    await settle();
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}
