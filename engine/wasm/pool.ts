/**
 * A pool of Web Workers that share one WebAssembly memory, driven through a shared command area
 * instead of messages, so a kernel call costs a few microseconds of wake-up rather than a
 * postMessage round trip.
 *
 * Protocol (one `Int32Array` over a `SharedArrayBuffer`, see the `CTL_*` slots): the main thread
 * writes the task's integer arguments, resets the chunk counters, bumps the generation counter
 * and `Atomics.notify`s it. Every participant, the main thread included, then claims chunks of
 * the task (`tasks.ts`) from a shared counter until none is left, and the main thread waits until
 * every claimed chunk is done. Claiming instead of fixed halves matters on a shared machine: a
 * worker that the OS has not scheduled yet simply claims less (or nothing), where a fixed share
 * would keep the main thread waiting for it. The counters carry the generation in their high
 * bits, so a worker waking late can neither claim nor count a chunk of a newer task.
 *
 * Faults. The main thread is blocked in that wait, so it cannot receive a worker's `error` event
 * until the call returns; the pool therefore learns of faults through the shared slots:
 *
 * - a chunk that throws is caught by the worker and reported (status + text): the call fails,
 *   the worker stays;
 * - an uncaught error kills the worker, but its global `error` handler first marks its status
 *   `CRASHED` and wakes the main thread: the call fails at once if the worker held a chunk;
 * - a worker that stops without a word (`close()`, a stall) while holding a chunk is caught by a
 *   deadline: the chunk must be done within `max(timeoutMs, 8 x the main thread's own time)`.
 *
 * Contention: when other programs keep the cores busy, the workers can cost more than they give
 * (a descheduled worker holding a chunk ends the call late); the `ContentionGuard`
 * (`contention.ts`) then runs the parallel calls on the main thread alone, the same chunks in
 * the same order (bitwise the same results), probing now and then whether parallel pays again.
 *
 * Each failure throws an Error naming the kernel and the worker. A worker that crashed, missed a
 * deadline, or has not picked up any task for `timeoutMs` is terminated and replaced in the
 * background; until the replacement is ready the others claim its work, so later calls work and
 * give bitwise the same results.
 *
 * @module
 */

import { KernelFaultError } from "../backend.ts";
import { ContentionGuard, GAP_CAP_MS, taskSignature } from "./contention.ts";
import { A_CHUNKS, A_STATIC, ARG_SLOTS, claimWeight, runTask, type TaskContext } from "./tasks.ts";

/** How long the main thread spins on the chunk counter before it sleeps between checks. */
const MAIN_SPIN_MS = 0.5;
/** Slot of the generation counter that workers wait on. */
export const CTL_GEN = 0;
/** Slot that asks workers to exit their loop (set before a final generation bump). */
export const CTL_QUIT = 1;
/** Next chunk to claim: `tag << CHUNK_BITS | index`, tag = the generation's low bits. */
export const CTL_NEXT = 2;
/** Chunks done: `tag << CHUNK_BITS | count`. */
export const CTL_DONE = 3;
/** Bits of a chunk index or count in `CTL_NEXT` / `CTL_DONE` (at most 4095 chunks). */
export const CHUNK_BITS = 12;
const CHUNK_MASK = (1 << CHUNK_BITS) - 1;
const TAG_MASK = (1 << (31 - CHUNK_BITS)) - 1;

/** The tag of generation `gen` in the chunk counters. */
export function chunkTag(gen: number): number {
  return (gen & TAG_MASK) << CHUNK_BITS;
}
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
 * Test hook: a `TEST_*` fault mode the worker performs when it next starts a chunk, whatever the
 * task (so tests can fail a real training step mid-kernel); cleared when taken.
 */
export const WS_ARM = 4;
/** The generation whose chunk the worker is running, or 0. */
export const WS_BUSY = 5;
/** The generation of the last non-OK status. */
export const WS_STATUS_GEN = 6;
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
  /** Run the parallel calls on the main thread alone when the workers do not pay (default true). */
  readonly contentionGuard?: boolean;
}

/** A worker slot: the worker, and whether it takes part in calls. */
interface Slot {
  worker: Worker | null;
  /** Activated: it takes its own share. Otherwise the main thread runs the share. */
  active: boolean;
  /** Times this slot's worker was replaced. */
  replacements: number;
}

/** Calls a worker may fall behind before it counts as lagging (see `run`). */
const LAG_CALLS = 16;

/** Multiplier of the main thread's own share time in a worker's finishing deadline. */
const SLOW_FACTOR = 8;

/**
 * Claims and runs chunks of generation `gen`'s task until none is left: the loop of every
 * participant. `busy` (a worker's WS_BUSY slot, or -1 for the main thread) holds `gen` while the
 * participant may hold a chunk; `beforeChunk` runs after each claim (the workers' fault hooks)
 * and `onError` with an error a chunk threw, before that chunk is counted done (so the main
 * thread sees the report by the time it sees the count). Returns the share of the task's work
 * (0-1) that this participant ran.
 */
export function claimChunks(
  ctl: Int32Array,
  gen: number,
  task: Int32Array,
  slot: number,
  ctx: TaskContext,
  busy: number,
  hooks: { beforeChunk?: () => void; onError: (e: unknown) => void },
): number {
  const tag = chunkTag(gen);
  const chunks = task[A_CHUNKS]!;
  let share = 0;
  if (busy >= 0) Atomics.store(ctl, busy, gen);
  for (;;) {
    const v = Atomics.load(ctl, CTL_NEXT);
    if ((v & ~CHUNK_MASK) !== tag || (v & CHUNK_MASK) >= chunks) break;
    if (Atomics.compareExchange(ctl, CTL_NEXT, v, v + 1) !== v) continue;
    // (a few tasks split evenly, by `share`: the contention guard's estimate tolerates that)
    share += claimWeight(v & CHUNK_MASK, chunks);
    hooks.beforeChunk?.();
    try {
      runTask(task, v & CHUNK_MASK, chunks, slot, ctx);
    } catch (e) {
      hooks.onError(e);
    }
    // Count it done, unless the call has moved on (a chunk of an abandoned call).
    for (;;) {
      const d = Atomics.load(ctl, CTL_DONE);
      if ((d & ~CHUNK_MASK) !== tag) break;
      if (Atomics.compareExchange(ctl, CTL_DONE, d, d + 1) === d) break;
    }
    Atomics.notify(ctl, CTL_DONE);
  }
  if (busy >= 0) Atomics.store(ctl, busy, 0);
  return share;
}

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
  /** Per slot: when the worker was first seen lagging behind the generations, or -1. */
  private readonly lagSince: number[] = [];
  /** Whether parallel calls run in parallel or, on a machine busy with other work, solo. */
  readonly guard: ContentionGuard;
  /** When the last parallel call ended (`performance.now()`). */
  private lastCallEnd = 0;

  private constructor(
    private readonly main: TaskContext,
    private readonly memory: WebAssembly.Memory,
    private readonly moduleBytes: Uint8Array<ArrayBuffer>,
    private readonly control: SharedArrayBuffer,
    private readonly errText: SharedArrayBuffer,
    private readonly participants: number,
    private readonly timeoutMs: number,
    contentionGuard: boolean,
  ) {
    this.guard = new ContentionGuard(contentionGuard);
    this.ctl = new Int32Array(control);
    this.errBytes = new Uint8Array(errText);
    this.args = this.ctl.subarray(CTL_ARGS, CTL_ARGS + ARG_SLOTS);
    for (let i = 0; i < participants; i++) {
      this.slots.push({ worker: null, active: false, replacements: 0 });
      this.lagSince.push(-1);
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
      options.contentionGuard ?? true,
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
          Atomics.store(this.ctl, base + WS_BUSY, 0);
          this.lagSince[index] = -1;
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
   * Runs a task: its `task[A_CHUNKS]` chunks, claimed by every participant (or, for a static
   * task, chunk i on participant i), and returns when all are done.
   *
   * @param kernel the kernel's name, for error messages
   * @param task the task's integer arguments (at most `ARG_SLOTS`)
   * @param parallel false runs the chunks on the main thread alone, in order: for small tasks,
   *   waking a worker (7 us when it spins, far more when the machine is busy and it has to be
   *   scheduled) costs more than it saves
   * @throws Error naming the kernel if any chunk throws, or a worker crashed, stopped or missed
   *   its deadline while holding a chunk
   */
  run(kernel: string, task: Int32Array, parallel = true): void {
    if (this.disposed) throw new Error(`wasm backend: ${kernel} called after dispose()`);
    const n = this.participants;
    const chunks = task[A_CHUNKS]!;
    if (!(chunks >= 1 && chunks <= CHUNK_MASK)) {
      throw new RangeError(`wasm backend: ${kernel}: bad chunk count ${chunks}`);
    }
    if (n === 1 || !parallel) {
      this.runOnMain(kernel, task, chunks);
      return;
    }
    const claimed = task[A_STATIC] !== 1;
    const sig = claimed ? taskSignature(task) : 0;
    const now0 = performance.now();
    // The main thread's time since the last parallel call (its TypeScript, small calls), which
    // workers polling for their next task slow down when they take its core (see contention.ts).
    const gapMs = Math.min(GAP_CAP_MS, now0 - this.lastCallEnd);
    // While the workers do not pay for themselves (see contention.ts): the same chunks, in
    // order, on the main thread; not while a test has armed a worker's fault.
    if (claimed && this.guard.solo) {
      if (this.anyArmed()) this.guard.reset();
      else {
        this.runOnMain(kernel, task, chunks);
        this.lastCallEnd = performance.now();
        const ms = this.lastCallEnd - now0;
        this.guard.record(sig, ms, ms, 1, gapMs);
        return;
      }
    }
    const ctl = this.ctl;
    for (let i = 1; i < n; i++) {
      if (!this.slots[i]!.active) continue;
      const base = workerSlot(i);
      // A worker that crashed between calls, or that has not picked up a task for timeoutMs
      // (it died idle: its work has been claimed by the others meanwhile): replace it.
      if (Atomics.load(ctl, base + WS_STATUS) === STATUS_CRASHED) {
        this.replace(i);
        continue;
      }
      // A live worker wakes for every call, if late: allow a few calls of slack (small calls
      // can finish before a busy machine schedules it) before the clock starts.
      if (Atomics.load(ctl, base + WS_STARTED) >= this.generation - LAG_CALLS) {
        this.lagSince[i] = -1;
      } else if (this.lagSince[i]! < 0) this.lagSince[i] = now0;
      else if (now0 - this.lagSince[i]! > this.timeoutMs) this.replace(i);
    }
    this.args.set(task);
    const gen = ++this.generation;
    const tag = chunkTag(gen);
    Atomics.store(ctl, CTL_DONE, tag);
    Atomics.store(ctl, CTL_NEXT, tag);
    Atomics.store(ctl, CTL_GEN, gen);
    Atomics.notify(ctl, CTL_GEN);
    const failures: string[] = [];
    let cause: unknown = undefined;
    let mainFailures = 0;
    const t0 = performance.now();
    const fail = (where: string, e: unknown) => {
      cause ??= e;
      mainFailures++;
      failures.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
    };
    if (task[A_STATIC] === 1) {
      // Chunk i on participant i: the main thread runs chunk 0 and those of inactive workers.
      for (let i = 0; i < n; i++) {
        if (i > 0 && this.slots[i]!.active) continue;
        try {
          runTask(task, i, n, 0, this.main);
        } catch (e) {
          fail(i === 0 ? "on the main thread" : `on the main thread (for worker ${i})`, e);
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
    } else {
      let error = false;
      const ownShare = claimChunks(ctl, gen, task, 0, this.main, -1, {
        onError: (e) => {
          if (!error) fail("on the main thread", e);
          error = true;
        },
      });
      const ownMs = performance.now() - t0;
      const finishMs = Math.max(this.timeoutMs, SLOW_FACTOR * ownMs);
      this.awaitChunks(gen, chunks, t0 + finishMs, finishMs, failures);
      this.lastCallEnd = performance.now();
      this.guard.record(sig, this.lastCallEnd - now0, ownMs, ownShare, gapMs);
      for (let i = 1; i < n; i++) {
        const base = workerSlot(i);
        if (
          Atomics.load(ctl, base + WS_STATUS_GEN) === gen &&
          Atomics.load(ctl, base + WS_STATUS) === STATUS_ERROR
        ) {
          failures.push(`in worker ${i}: ${this.errorText(i)}`);
        }
      }
    }
    if (failures.length > 0) {
      const message = `wasm backend: ${kernel} failed ${failures.join("; ")}`;
      // a worker that threw, stalled or died is a fault of the machinery (the pool replaces it,
      // the step can rerun); a failure on the main thread alone is a bug in the call
      if (failures.length > mainFailures) throw new KernelFaultError(kernel, message, { cause });
      throw new Error(message, { cause });
    }
  }

  /** Runs a task's chunks in order on the main thread. */
  private runOnMain(kernel: string, task: Int32Array, chunks: number): void {
    for (let c = 0; c < chunks; c++) {
      try {
        runTask(task, c, chunks, 0, this.main);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        throw new Error(`wasm backend: ${kernel} failed on the main thread: ${msg}`, {
          cause: e,
        });
      }
    }
  }

  /** Whether a test has armed a worker's fault hook (which only a parallel call can fire). */
  private anyArmed(): boolean {
    for (let i = 1; i < this.participants; i++) {
      if (Atomics.load(this.ctl, workerSlot(i) + WS_ARM) !== 0) return true;
    }
    return false;
  }

  /**
   * Waits until all `chunks` chunks of generation `gen` are done, or until no live worker holds
   * one any more after a fault; records faults in `failures`.
   */
  private awaitChunks(
    gen: number,
    chunks: number,
    finishBy: number,
    finishMs: number,
    failures: string[],
  ): void {
    const ctl = this.ctl;
    const tag = chunkTag(gen);
    let lost = false;
    let spins = 0;
    const spinUntil = performance.now() + MAIN_SPIN_MS;
    for (;;) {
      const d = Atomics.load(ctl, CTL_DONE);
      if (d - tag >= chunks) return;
      if (lost) {
        // A chunk died with its worker: wait only for the live workers' chunks.
        let busy = false;
        for (let i = 1; i < this.participants; i++) {
          if (this.slots[i]!.active && Atomics.load(ctl, workerSlot(i) + WS_BUSY) === gen) {
            busy = true;
          }
        }
        if (!busy) return;
      }
      // Spin first: the last chunks usually end within microseconds, and a sleeping main thread
      // is woken tens to hundreds of microseconds late on this VM.
      if ((++spins & 1023) !== 0 || performance.now() < spinUntil) continue;
      for (let i = 1; i < this.participants; i++) {
        if (!this.slots[i]!.active) continue;
        const base = workerSlot(i);
        const holds = Atomics.load(ctl, base + WS_BUSY) === gen;
        if (Atomics.load(ctl, base + WS_STATUS) === STATUS_CRASHED) {
          const text = this.errorText(i);
          this.replace(i);
          if (holds) {
            lost = true;
            failures.push(`in worker ${i}, which crashed (${text}); it is being replaced`);
          }
        } else if (holds && performance.now() > finishBy) {
          this.replace(i);
          lost = true;
          failures.push(
            `in worker ${i}, which did not finish within ${Math.round(finishMs)} ms ` +
              `(it stopped or stalled); it is being replaced`,
          );
        }
      }
      Atomics.wait(ctl, CTL_DONE, d, 5);
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
