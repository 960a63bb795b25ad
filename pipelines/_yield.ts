// Yielding to the event loop from a long synchronous stream. A training epoch is a synchronous
// chain from the source to the optimizer; sources pause at most every `SLICE_MS` so that signals
// (Ctrl-C), timers and I/O get their turn. A MessageChannel message is a macrotask without the
// ~1-2 ms clamp of setTimeout(0) (measured here: ~45 us a round trip against ~2.3 ms).

/** How long a source may run before it yields, in milliseconds. */
export const SLICE_MS = 25;

/** Resolves on a fresh macrotask. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      channel.port2.close();
      resolve();
    };
    channel.port2.postMessage(0);
  });
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
    if ((i & 15) === 15 && performance.now() - sliceStart > SLICE_MS) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
}
