/**
 * A pool of Web Workers that share one WebAssembly memory, driven through a shared command area
 * instead of messages, so a kernel call costs a few microseconds of wake-up rather than a
 * postMessage round trip.
 *
 * Protocol (one `Int32Array` over a `SharedArrayBuffer`, see the `CTL_*` slots): the main thread
 * writes the task's integer arguments, bumps the generation counter and `Atomics.notify`s it;
 * every active worker stores the generation into its `started` slot, runs its share
 * (`tasks.ts`) and then stores the generation into its `done` slot. The main thread runs share
 * 0 itself, then waits on each `done` slot with `Atomics.wait` in short slices.
 *
 * Faults. The main thread is blocked in that wait, so it cannot receive a worker's `error` event
 * until the call returns; the pool therefore learns of faults through the shared slots:
 *
 * - a share that throws is caught by the worker and reported (status + text): the call fails,
 *   the worker stays;
 * - an uncaught error kills the worker, but its global `error` handler first marks its status
 *   `CRASHED` and wakes the main thread: the call fails at once;
 * - a worker that stops without a word (`close()`, a stall) is caught by a deadline: it must
 *   start within `timeoutMs` and finish within `max(timeoutMs, 8 x the main thread's own share)`
 *   (shares are equal, so a live worker is never that far behind).
 *
 * Each failure throws an Error naming the kernel and the worker. A worker that crashed or missed
 * its deadline is terminated and replaced by a new one in the background; until the replacement
 * reports ready, the main thread runs that participant's share itself, so later calls work and
 * give bitwise the same results (shares are fixed functions of the participant index).
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
/** First per-worker slot; worker i owns `workerSlot(i) + WS_*`. */
export const CTL_WORKER = CTL_ARGS + ARG_SLOTS;
/** Int32 slots per worker. */
export const WS_SLOTS = 8;

/** First control slot of worker `index`. */
export function workerSlot(index: number): number {
  return CTL_WORKER + WS_SLOTS * index;
}
/** Per-worker slot offsets: generation done, status, generation started, activation. */
export const WS_DONE = 0;
/** Status of the last share (`STATUS_*`). */
export const WS_STATUS = 1;
/** The generation the worker picked up last. */
export const WS_STARTED = 2;
/** 0 while the worker waits to be activated; then 1 + the generation it starts after. */
export const WS_ACTIVE = 3;
/**
 * Test hook: a `TEST_*` fault mode the worker performs on its next task, whatever the task
 * (so tests can fail a real training step); cleared when taken.
 */
export const WS_ARM = 4;
/** Bytes of error text each worker may report. */
export const ERR_TEXT_BYTES = 1024;

/** Int32 slots needed by a pool of `count` participants. */
export function controlSlots(count: number): number {
  return CTL_WORKER + WS_SLOTS * count;
}

/** Worker status codes (the `WS_STATUS` slot). */
export const STATUS_OK = 0;
/** The worker's share threw; its message is in the error text area. */
export const STATUS_ERROR = 1;
/** The worker died of an uncaught error (its message is in the error text area). */
export const STATUS_CRASHED = 2;

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
  /**
   * How long a worker may take to pick a task up, and the least time it is given to finish its
   * share, before the call fails and the worker is replaced.
   */
  readonly timeoutMs: number;
}

/** A worker slot: the worker, and whether it takes part in calls. */
interface Slot {
  worker: Worker | null;
  /** Activated: it takes its own share. Otherwise the main thread runs the share. */
  active: boolean;
  /** Times this slot's worker was replaced. */
  replacements: number;
}

/** Multiplier of the main thread's own share time in a worker's finishing deadline. */
const SLOW_FACTOR = 8;

/** Runs tasks on the main thread plus `count - 1` workers over one shared memory. */
export class WorkerPool {
  private readonly ctl: Int32Array;
  private readonly errBytes: Uint8Array;
  private readonly args: Int32Array;
  private generation = 0;
  private disposed = false;
  /** Slots 1..count-1 (index 0 is the main thread and has none). */
  private readonly slots: Slot[] = [];
  /** Resolvers waiting for every slot to be active again. */
  private readyWaiters: (() => void)[] = [];

  private constructor(
    private readonly main: TaskContext,
    private readonly memory: WebAssembly.Memory,
    private readonly moduleBytes: Uint8Array<ArrayBuffer>,
    private readonly control: SharedArrayBuffer,
    private readonly errText: SharedArrayBuffer,
    private readonly participants: number,
    private readonly timeoutMs: number,
  ) {
    this.ctl = new Int32Array(control);
    this.errBytes = new Uint8Array(errText);
    this.args = this.ctl.subarray(CTL_ARGS, CTL_ARGS + ARG_SLOTS);
    for (let i = 0; i < participants; i++) {
      this.slots.push({ worker: null, active: false, replacements: 0 });
    }
  }

  /** Participants, including the main thread. */
  get count(): number {
    return this.participants;
  }

  /** Workers currently taking their own share (the others' shares run on the main thread). */
  get activeWorkers(): number {
    return this.slots.filter((s) => s.active).length;
  }

  /** How many workers have been replaced after a fault, in total. */
  get replacements(): number {
    return this.slots.reduce((n, s) => n + s.replacements, 0);
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
    const pool = new WorkerPool(
      main,
      memory,
      moduleBytes,
      control,
      errText,
      count,
      options.timeoutMs,
    );
    const started: Promise<void>[] = [];
    for (let i = 1; i < count; i++) started.push(pool.spawn(i));
    try {
      await Promise.all(started);
    } catch (e) {
      pool.dispose();
      throw e;
    }
    return pool;
  }

  /** Starts the worker of slot `index`; resolves once it is active (rejects if it fails). */
  private spawn(index: number): Promise<void> {
    const slot = this.slots[index]!;
    const base = workerSlot(index);
    Atomics.store(this.ctl, base + WS_ACTIVE, 0);
    Atomics.store(this.ctl, base + WS_STATUS, STATUS_OK);
    const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
    slot.worker = worker;
    slot.active = false;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.onmessage = (e: MessageEvent<{ ready?: boolean; error?: string }>) => {
        if (this.disposed || slot.worker !== worker) return;
        if (e.data.ready === true) {
          ready = true;
          // No call is in flight here (calls are synchronous on this thread), so the worker
          // starts after exactly the current generation.
          Atomics.store(this.ctl, base + WS_DONE, this.generation);
          Atomics.store(this.ctl, base + WS_STARTED, this.generation);
          Atomics.store(this.ctl, base + WS_ACTIVE, this.generation + 1);
          Atomics.notify(this.ctl, base + WS_ACTIVE);
          slot.active = true;
          this.notifyReady();
          resolve();
        } else {
          reject(new Error(`wasm worker ${index} failed to start: ${e.data.error}`));
        }
      };
      worker.addEventListener("error", (e: ErrorEvent) => {
        e.preventDefault(); // a dead worker fails calls, not the process
        if (!ready) {
          reject(new Error(`wasm worker ${index} failed to start: ${e.message}`));
          return;
        }
        // An uncaught error after start: the worker is dead (its crash handler has already
        // failed the call it was in). Replace it unless that happened already.
        if (slot.worker === worker && !this.disposed) this.replace(index);
      });
      const init: WorkerInit = {
        memory: this.memory,
        moduleBytes: this.moduleBytes,
        control: this.control,
        errText: this.errText,
        index,
        count: this.participants,
      };
      worker.postMessage(init);
    });
  }

  /** Terminates slot `index`'s worker and starts a replacement in the background. */
  private replace(index: number): void {
    const slot = this.slots[index]!;
    slot.active = false;
    slot.worker?.terminate();
    slot.worker = null;
    if (this.disposed) return;
    slot.replacements++;
    this.spawn(index).catch(() => {
      // The replacement could not start: the main thread keeps running this share.
    });
  }

  private notifyReady(): void {
    if (this.activeWorkers !== this.participants - 1) return;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w();
  }

  /** Test hook: worker `index` performs fault `mode` (`TEST_*`) on its next task. */
  arm(index: number, mode: number): void {
    Atomics.store(this.ctl, workerSlot(index) + WS_ARM, mode);
  }

  /** Resolves when every worker is active (after replacements have started). */
  whenReady(): Promise<void> {
    if (this.activeWorkers === this.participants - 1) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /**
   * Runs one task on every participant and returns when all shares are done.
   *
   * @param kernel the kernel's name, for error messages
   * @param task the task's integer arguments (at most `ARG_SLOTS`)
   * @throws Error naming the kernel if any share throws, or a worker crashed, stopped or missed
   *   its deadline
   */
  run(kernel: string, task: Int32Array): void {
    if (this.disposed) throw new Error(`wasm backend: ${kernel} called after dispose()`);
    const n = this.participants;
    if (n === 1) {
      runTask(task, 0, 1, this.main);
      return;
    }
    const ctl = this.ctl;
    for (let i = 1; i < n; i++) {
      // A worker that crashed between calls: replace it before counting on it.
      const base = workerSlot(i);
      if (this.slots[i]!.active && Atomics.load(ctl, base + WS_STATUS) === STATUS_CRASHED) {
        this.replace(i);
      }
    }
    this.args.set(task);
    const gen = ++this.generation;
    Atomics.store(ctl, CTL_GEN, gen);
    Atomics.notify(ctl, CTL_GEN);
    const failures: string[] = [];
    let cause: unknown = undefined;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      if (i > 0 && this.slots[i]!.active) continue;
      // Share 0, and the shares of workers being replaced, run here.
      try {
        runTask(task, i, n, this.main);
      } catch (e) {
        cause ??= e;
        const msg = e instanceof Error ? e.message : String(e);
        failures.push(
          i === 0 ? `on the main thread: ${msg}` : `on the main thread (for worker ${i}): ${msg}`,
        );
      }
    }
    const ownMs = performance.now() - t0;
    const startBy = performance.now() + this.timeoutMs;
    const finishBy = t0 + Math.max(this.timeoutMs, SLOW_FACTOR * ownMs);
    for (let i = 1; i < n; i++) {
      if (!this.slots[i]!.active) continue;
      const fault = this.await(i, gen, startBy, finishBy, finishBy - t0);
      if (fault !== null) failures.push(fault);
    }
    if (failures.length > 0) {
      throw new Error(`wasm backend: ${kernel} failed ${failures.join("; ")}`, { cause });
    }
  }

  /** Waits for worker `i` to finish generation `gen`; returns a fault description or null. */
  private await(
    i: number,
    gen: number,
    startBy: number,
    finishBy: number,
    finishMs: number,
  ): string | null {
    const ctl = this.ctl;
    const base = workerSlot(i);
    let spins = 0;
    for (;;) {
      const done = Atomics.load(ctl, base + WS_DONE);
      if (done === gen) {
        const status = Atomics.load(ctl, base + WS_STATUS);
        if (status === STATUS_OK) return null;
        const text = this.errorText(i);
        if (status === STATUS_CRASHED) {
          this.replace(i);
          return `in worker ${i}, which crashed (${text}); it is being replaced`;
        }
        return `in worker ${i}: ${text}`;
      }
      // Spin briefly (a share usually ends within microseconds of ours), then sleep in slices
      // so that the deadlines are checked even if nobody ever notifies.
      if (++spins < 2000) continue;
      const now = performance.now();
      const started = Atomics.load(ctl, base + WS_STARTED) === gen;
      if (!started && now > startBy) {
        this.replace(i);
        return `in worker ${i}, which did not pick the task up within ${this.timeoutMs} ms ` +
          `(it stopped); it is being replaced`;
      }
      if (started && now > finishBy) {
        this.replace(i);
        return `in worker ${i}, which did not finish within ${Math.round(finishMs)} ms ` +
          `(it stopped or stalled); it is being replaced`;
      }
      Atomics.wait(ctl, base + WS_DONE, done, 5);
    }
  }

  private errorText(index: number): string {
    const bytes = this.errBytes.subarray(index * ERR_TEXT_BYTES, (index + 1) * ERR_TEXT_BYTES);
    const copy = Uint8Array.from(bytes);
    const end = copy.indexOf(0);
    return new TextDecoder().decode(end < 0 ? copy : copy.subarray(0, end));
  }

  /** Stops the workers. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, CTL_QUIT, 1);
    Atomics.store(this.ctl, CTL_GEN, ++this.generation);
    Atomics.notify(this.ctl, CTL_GEN);
    for (const s of this.slots) {
      s.worker?.terminate();
      s.worker = null;
      s.active = false;
    }
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w();
  }
}
