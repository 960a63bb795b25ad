// Yielding to the event loop from a long synchronous stream. A training epoch is a synchronous
// chain from the source to the optimizer; sources pause every `SLICE_MS` so that signals (Ctrl-C),
// timers and I/O get their turn. Measured here: `setImmediate` costs ~0.06 ms a turn and lets
// timers and signals through on time; `setTimeout(0)` costs ~2-4 ms; a MessageChannel message
// costs ~0.05 ms but starved timers and signals for seconds under load.

import { setImmediate } from "node:timers";

/** How long a source may run before it yields, in milliseconds. */
export const SLICE_MS = 25;

/** Resolves after one turn of the event loop. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Emits `count` values through `emit(i)`, synchronously in slices of about `SLICE_MS`, yielding to
 * the event loop between slices. Stops when `closed()` turns true. Errors thrown by `emit` reject.
 */
export async function emitPaced(
  count: number,
  emit: (i: number) => void,
  closed: () => boolean,
): Promise<void> {
  let sliceStart = performance.now();
  for (let i = 0; i < count; i++) {
    if (closed()) return;
    emit(i);
    if (performance.now() - sliceStart > SLICE_MS) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
}
