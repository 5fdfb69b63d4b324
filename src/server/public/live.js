// @ts-check
// Which view is on screen, and its polling loop. The router starts a new view for every hash
// change (`newView`); a view keeps its number and checks `current(seq)` after every await, so a
// view the user has left never draws over the next one. One polling function runs at a time:
// every 0.7 s while it reports activity, else every 8 s.

let viewSeq = 0;

/** A new view is shown: its number (the previous view stops being current). */
export const newView = () => ++viewSeq;

/** @param {number} seq */
export const current = (seq) => seq === viewSeq;

/** @typedef {() => Promise<boolean>} PollFn resolves true while something runs (poll fast) */

/** @type {PollFn | null} */
let pollFn = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let pollTimer;

/** @param {PollFn} fn */
export function startPolling(fn) {
  stopPolling();
  pollFn = fn;
  pollTimer = setTimeout(pollLoop, 0);
}

export function stopPolling() {
  clearTimeout(pollTimer);
  pollFn = null;
}

/** Poll soon (after a sync was started). */
export function kick() {
  if (!pollFn) return;
  clearTimeout(pollTimer);
  pollTimer = setTimeout(pollLoop, 60);
}

async function pollLoop() {
  const fn = pollFn;
  if (!fn) return;
  let active = false;
  try {
    active = await fn();
  } catch (e) {
    console.error(e);
  }
  if (fn !== pollFn) return;
  pollTimer = setTimeout(pollLoop, active ? 700 : 8000);
}
