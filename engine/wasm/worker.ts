/**
 * Entry point of a pool worker: instantiates the kernel module over the shared memory it is
 * given, reports ready, then loops forever waiting on the command area's generation counter and
 * running its share of each task (see `pool.ts` for the protocol). Errors in a share are caught
 * and reported through the status slot, so the main thread fails the call instead of hanging.
 *
 * @module
 */

import {
  CTL_ARGS,
  CTL_GEN,
  CTL_QUIT,
  CTL_WORKER,
  ERR_TEXT_BYTES,
  STATUS_ERROR,
  STATUS_OK,
  type WorkerInit,
} from "./pool.ts";
import { ARG_SLOTS, type KernelExports, runTask, type TaskContext } from "./tasks.ts";

interface WorkerScope {
  onmessage: ((e: MessageEvent<WorkerInit>) => void) | null;
  postMessage(message: unknown): void;
}

const scope = globalThis as unknown as WorkerScope;

/** Spins this many checks of the generation counter before sleeping: calls come in bursts. */
const SPIN_CHECKS = 20000;

function serve(init: WorkerInit, ctx: TaskContext): void {
  const ctl = new Int32Array(init.control);
  const errBytes = new Uint8Array(init.errText);
  const args = new Int32Array(ARG_SLOTS);
  const done = CTL_WORKER + 4 * init.index;
  // The main thread bumps the generation only after every worker reported ready, so the first
  // task is generation 1 even if this loop starts late.
  let seen = 0;
  for (;;) {
    let gen = Atomics.load(ctl, CTL_GEN);
    for (let i = 0; gen === seen && i < SPIN_CHECKS; i++) gen = Atomics.load(ctl, CTL_GEN);
    if (gen === seen) {
      Atomics.wait(ctl, CTL_GEN, seen);
      continue;
    }
    seen = gen;
    if (Atomics.load(ctl, CTL_QUIT) === 1) return;
    args.set(ctl.subarray(CTL_ARGS, CTL_ARGS + ARG_SLOTS));
    let status = STATUS_OK;
    try {
      runTask(args, init.index, init.count, ctx);
    } catch (e) {
      status = STATUS_ERROR;
      const text = new TextEncoder().encode(e instanceof Error ? e.message : String(e));
      const area = errBytes.subarray(
        init.index * ERR_TEXT_BYTES,
        (init.index + 1) * ERR_TEXT_BYTES,
      );
      area.fill(0);
      area.set(text.subarray(0, ERR_TEXT_BYTES - 1));
    }
    Atomics.store(ctl, done + 1, status);
    Atomics.store(ctl, done, gen);
    Atomics.notify(ctl, done);
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
  scope.postMessage({ ready: true });
  serve(init, ctx);
};
