/**
 * A pool of Web Workers that share one WebAssembly memory, driven through a shared command area
 * instead of messages, so a kernel call costs a few microseconds of wake-up rather than a
 * postMessage round trip.
 *
 * Protocol (one `Int32Array` over a `SharedArrayBuffer`, see the `CTL_*` slots): the main thread
 * writes the task's integer arguments, bumps the generation counter and `Atomics.notify`s it;
 * every worker runs its share (`tasks.ts`) and then stores the generation into its own `done`
 * slot. The main thread runs share 0 itself, then waits on each `done` slot with `Atomics.wait`
 * in short slices, so a worker that throws (caught, reported through its status slot and a shared
 * text area) or that never answers (a timeout) fails the call with an Error naming the kernel
 * instead of hanging the process.
 *
 * @module
 */

import { ARG_SLOTS, runTask, type TaskContext } from "./tasks.ts";

/** Slot of the generation counter that workers wait on. */
export const CTL_GEN = 0;
/** Slot that asks workers to exit their loop (set before a final generation bump). */
export const CTL_QUIT = 1;
/** First argument slot. */
export const CTL_ARGS = 16;
/** First per-worker slot; worker i owns `CTL_WORKER + 4 * i` (done generation) and `+1` (status). */
export const CTL_WORKER = CTL_ARGS + ARG_SLOTS;
/** Bytes of error text each worker may report. */
export const ERR_TEXT_BYTES = 1024;

/** Int32 slots needed by a pool of `count` participants. */
export function controlSlots(count: number): number {
  return CTL_WORKER + 4 * count;
}

/** Worker status codes (the `+1` slot). */
export const STATUS_OK = 0;
/** The worker's share threw; its message is in the error text area. */
export const STATUS_ERROR = 1;

/** The message that starts a worker. */
export interface WorkerInit {
  readonly memory: WebAssembly.Memory;
  readonly moduleBytes: Uint8Array<ArrayBuffer>;
  readonly control: SharedArrayBuffer;
  readonly errText: SharedArrayBuffer;
  readonly index: number;
  readonly count: number;
}

/** Options of {@linkcode WorkerPool.create}. */
export interface PoolOptions {
  /** Participants including the main thread (1 = no workers). */
  readonly count: number;
  /** How long the main thread waits for a worker's share before failing the call. */
  readonly timeoutMs: number;
}

/** Runs tasks on the main thread plus `count - 1` workers over one shared memory. */
export class WorkerPool {
  private readonly ctl: Int32Array;
  private readonly errBytes: Uint8Array;
  private readonly args: Int32Array;
  private generation = 0;
  /** Set when a worker reported an `error` event or timed out: the pool refuses further calls. */
  private broken: string | null = null;
  private disposed = false;

  private constructor(
    private readonly main: TaskContext,
    private readonly workers: readonly Worker[],
    control: SharedArrayBuffer,
    errText: SharedArrayBuffer,
    private readonly timeoutMs: number,
  ) {
    this.ctl = new Int32Array(control);
    this.errBytes = new Uint8Array(errText);
    this.args = this.ctl.subarray(CTL_ARGS, CTL_ARGS + ARG_SLOTS);
    workers.forEach((w, i) => {
      w.addEventListener("error", (e: ErrorEvent) => {
        e.preventDefault();
        this.broken ??= `worker ${i + 1} crashed: ${e.message}`;
      });
    });
  }

  /** Participants, including the main thread. */
  get count(): number {
    return this.workers.length + 1;
  }

  /**
   * Starts `count - 1` workers on `worker.ts`, each instantiating `moduleBytes` over `memory`,
   * and resolves when all are ready.
   */
  static async create(
    main: TaskContext,
    memory: WebAssembly.Memory,
    moduleBytes: Uint8Array<ArrayBuffer>,
    options: PoolOptions,
  ): Promise<WorkerPool> {
    const count = Math.max(1, Math.floor(options.count));
    const control = new SharedArrayBuffer(controlSlots(count) * 4);
    const errText = new SharedArrayBuffer(ERR_TEXT_BYTES * count);
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let i = 1; i < count; i++) {
      const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
      workers.push(worker);
      ready.push(
        new Promise<void>((resolve, reject) => {
          worker.onmessage = (e: MessageEvent<{ ready?: boolean; error?: string }>) => {
            if (e.data.ready === true) resolve();
            else reject(new Error(`wasm worker ${i} failed to start: ${e.data.error}`));
          };
          worker.onerror = (e: ErrorEvent) => {
            e.preventDefault();
            reject(new Error(`wasm worker ${i} failed to start: ${e.message}`));
          };
        }),
      );
      const init: WorkerInit = { memory, moduleBytes, control, errText, index: i, count };
      worker.postMessage(init);
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    for (const w of workers) {
      w.onmessage = null;
      w.onerror = null;
    }
    return new WorkerPool(main, workers, control, errText, options.timeoutMs);
  }

  /**
   * Runs one task on every participant and returns when all shares are done.
   *
   * @param kernel the kernel's name, for error messages
   * @param task the task's integer arguments (at most `ARG_SLOTS`)
   * @throws Error naming the kernel if any share throws, a worker died, or a worker timed out
   */
  run(kernel: string, task: Int32Array): void {
    if (this.disposed) throw new Error(`wasm backend: ${kernel} called after dispose()`);
    if (this.broken !== null) {
      throw new Error(
        `wasm backend: ${kernel} refused, the worker pool is broken (${this.broken})`,
      );
    }
    if (this.workers.length === 0) {
      runTask(task, 0, 1, this.main);
      return;
    }
    const ctl = this.ctl;
    this.args.set(task);
    const gen = ++this.generation;
    Atomics.store(ctl, CTL_GEN, gen);
    Atomics.notify(ctl, CTL_GEN);
    let mainError: unknown = null;
    try {
      runTask(task, 0, this.count, this.main);
    } catch (e) {
      mainError = e;
    }
    const failures: string[] = [];
    const deadline = performance.now() + this.timeoutMs;
    for (let i = 0; i < this.workers.length; i++) {
      const slot = CTL_WORKER + 4 * (i + 1);
      let spins = 0;
      for (;;) {
        const seen = Atomics.load(ctl, slot);
        if (seen === gen) break;
        // Spin briefly (a share usually ends within microseconds of ours), then sleep in slices
        // so that the deadline is checked even if nobody ever notifies.
        if (++spins < 2000) continue;
        if (performance.now() > deadline) {
          this.broken = `worker ${i + 1} did not finish ${kernel} within ${this.timeoutMs} ms`;
          throw new Error(`wasm backend: ${kernel} failed: ${this.broken}`);
        }
        Atomics.wait(ctl, slot, seen, 20);
      }
      if (Atomics.load(ctl, slot + 1) === STATUS_ERROR) failures.push(this.errorText(i + 1));
    }
    if (mainError !== null) {
      const msg = mainError instanceof Error ? mainError.message : String(mainError);
      throw new Error(`wasm backend: ${kernel} failed on the main thread: ${msg}`, {
        cause: mainError,
      });
    }
    if (failures.length > 0) {
      throw new Error(`wasm backend: ${kernel} failed in ${failures.join("; ")}`);
    }
  }

  private errorText(index: number): string {
    const bytes = this.errBytes.subarray(index * ERR_TEXT_BYTES, (index + 1) * ERR_TEXT_BYTES);
    const copy = Uint8Array.from(bytes);
    const end = copy.indexOf(0);
    return `worker ${index}: ${new TextDecoder().decode(end < 0 ? copy : copy.subarray(0, end))}`;
  }

  /** Stops the workers. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, CTL_QUIT, 1);
    Atomics.store(this.ctl, CTL_GEN, ++this.generation);
    Atomics.notify(this.ctl, CTL_GEN);
    for (const w of this.workers) w.terminate();
  }
}
