/**
 * Entry point of a pool worker: instantiates the kernel module over the shared memory it is
 * given, reports ready, waits to be activated, then loops waiting on the command area's
 * generation counter and running its share of each task (see `pool.ts` for the protocol).
 *
 * Errors in a share are caught and reported through the status slot, so the main thread fails
 * the call instead of hanging; an error that escapes anyway (the worker is dying) is reported by
 * the global `error` handler as a crash, which wakes the main thread at once.
 *
 * @module
 */

import {
  claimChunks,
  CTL_ARGS,
  CTL_GEN,
  CTL_QUIT,
  ERR_TEXT_BYTES,
  STATUS_CRASHED,
  STATUS_ERROR,
  STATUS_OK,
  type WorkerInit,
  workerSlot,
  WS_ACTIVE,
  WS_ARM,
  WS_BUSY,
  WS_DONE,
  WS_STARTED,
  WS_STATUS,
  WS_STATUS_GEN,
} from "./pool.ts";
import {
  A_STATIC,
  ARG_SLOTS,
  type KernelExports,
  runTask,
  TASK_TEST_FAIL,
  type TaskContext,
  TEST_CLOSE,
  TEST_CRASH,
} from "./tasks.ts";

interface WorkerScope {
  onmessage: ((e: MessageEvent<WorkerInit>) => void) | null;
  postMessage(message: unknown): void;
  addEventListener(type: "error", listener: (e: ErrorEvent) => void): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;

/**
 * How long a worker keeps checking for the next task before it sleeps in `Atomics.wait`. Calls
 * come in bursts (~25 per training step), separated by the main thread's TypeScript (packing
 * weights, reductions, the optimizer: up to ~1 ms); a worker that has gone to sleep takes tens
 * to hundreds of microseconds to wake on this VM, and until then the main thread works alone.
 * Spinning through 20,000 checks (~30 us) left it asleep at most calls; 2 ms here and 0.5 ms on
 * the main thread (`MAIN_SPIN_MS` in `pool.ts`) made the 2-worker training step 1-4 ms faster by
 * median (four A/B runs in one process, `deno task bench-ab`).
 */
const SPIN_MS = 2;
/** Checks of the counter between two looks at the clock. */
const SPIN_BATCH = 1024;

/** Writes `message` into this worker's error text area. */
function report(init: WorkerInit, message: string): void {
  const area = new Uint8Array(init.errText).subarray(
    init.index * ERR_TEXT_BYTES,
    (init.index + 1) * ERR_TEXT_BYTES,
  );
  area.fill(0);
  area.set(new TextEncoder().encode(message).subarray(0, ERR_TEXT_BYTES - 1));
}

function serve(init: WorkerInit, ctx: TaskContext): void {
  const ctl = new Int32Array(init.control);
  const args = new Int32Array(ARG_SLOTS);
  const base = workerSlot(init.index);
  // Wait for activation: the main thread writes 1 + the generation to start after, at a moment
  // when no call is in flight, so no task is half-seen.
  let active = Atomics.load(ctl, base + WS_ACTIVE);
  while (active === 0) {
    Atomics.wait(ctl, base + WS_ACTIVE, 0);
    active = Atomics.load(ctl, base + WS_ACTIVE);
  }
  let seen = active - 1;
  for (;;) {
    let gen = Atomics.load(ctl, CTL_GEN);
    if (gen === seen) {
      const until = performance.now() + SPIN_MS;
      do {
        for (let i = 0; gen === seen && i < SPIN_BATCH; i++) gen = Atomics.load(ctl, CTL_GEN);
      } while (gen === seen && performance.now() < until);
    }
    if (gen === seen) {
      Atomics.wait(ctl, CTL_GEN, seen);
      continue;
    }
    seen = gen;
    if (Atomics.load(ctl, CTL_QUIT) === 1) return;
    Atomics.store(ctl, base + WS_STARTED, gen);
    args.set(ctl.subarray(CTL_ARGS, CTL_ARGS + ARG_SLOTS));
    // Test hooks for faults the try blocks cannot catch: an escaping error, or a stop.
    const fault = (mode: number) => {
      if (mode === TEST_CRASH) throw new Error("test hook: worker crashed on purpose");
      if (mode === TEST_CLOSE) {
        scope.close();
        // close() ends this worker; spin until it takes effect rather than return a result.
        for (;;) Atomics.wait(ctl, base + WS_ARM, Atomics.load(ctl, base + WS_ARM), 100);
      }
    };
    if (args[A_STATIC] === 1) {
      if (args[0] === TASK_TEST_FAIL && args[1] === init.index) fault(args[3]!);
      let status = STATUS_OK;
      try {
        runTask(args, init.index, init.count, init.index, ctx);
      } catch (e) {
        status = STATUS_ERROR;
        report(init, e instanceof Error ? e.message : String(e));
      }
      Atomics.store(ctl, base + WS_STATUS, status);
      Atomics.store(ctl, base + WS_DONE, gen);
      Atomics.notify(ctl, base + WS_DONE);
      continue;
    }
    let reported = false;
    claimChunks(ctl, gen, args, init.index, ctx, base + WS_BUSY, {
      beforeChunk: () => fault(Atomics.exchange(ctl, base + WS_ARM, 0)),
      onError: (e) => {
        if (reported) return;
        reported = true;
        report(init, e instanceof Error ? e.message : String(e));
        Atomics.store(ctl, base + WS_STATUS_GEN, gen);
        Atomics.store(ctl, base + WS_STATUS, STATUS_ERROR);
      },
    });
    if (!reported) Atomics.store(ctl, base + WS_STATUS, STATUS_OK);
    Atomics.store(ctl, base + WS_DONE, gen);
  }
}

scope.onmessage = (e: MessageEvent<WorkerInit>) => {
  const init = e.data;
  let ctx: TaskContext;
  try {
    const module = new WebAssembly.Module(init.moduleBytes);
    const instance = new WebAssembly.Instance(module, { env: { memory: init.memory } });
    ctx = { kernels: instance.exports as unknown as KernelExports, memory: init.memory };
  } catch (err) {
    scope.postMessage({ error: err instanceof Error ? err.message : String(err) });
    return;
  }
  scope.onmessage = null;
  // An error escaping `serve` ends this worker: say so through the shared slots first, since
  // the main thread may be blocked waiting for this worker and cannot see the error event.
  scope.addEventListener("error", (ev: ErrorEvent) => {
    // Handled here (no second report through the main thread's event loop); `serve` has
    // unwound, so this worker is done, and the pool terminates and replaces it.
    ev.preventDefault();
    const ctl = new Int32Array(init.control);
    const base = workerSlot(init.index);
    report(init, ev.message);
    Atomics.store(ctl, base + WS_STATUS, STATUS_CRASHED);
    Atomics.store(ctl, base + WS_DONE, Atomics.load(ctl, CTL_GEN));
    Atomics.notify(ctl, base + WS_DONE);
  });
  scope.postMessage({ ready: true });
  serve(init, ctx);
};
