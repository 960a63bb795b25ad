/**
 * When the workers stop paying for themselves: the pool's fallback for a machine whose cores are
 * taken by other programs.
 *
 * A parallel call ends when its last chunk does, so a worker that the OS deschedules while it
 * holds a chunk keeps the main thread waiting for a time slice, and a worker polling for its
 * next task takes CPU from the threads that have work. Measured on the 2-vCPU machine with one
 * vCPU kept busy by a shell loop (`.ab/par.ts`): the 2-worker training step took 69-77 ms, the
 * main thread alone 53-60 ms; `--workers 3` or 4 on the 2 vCPUs (as a CPU quota below
 * `navigator.hardwareConcurrency` would give) took 53-62 ms against ~30-40 for 2.
 *
 * The guard decides, call by call, whether the pool runs a parallel call in parallel or on the
 * main thread alone: the same chunks in the same order, so the results are bitwise the same
 * either way. It times each call under its signature (a hash of the task's arguments: a training
 * step makes the same ~23 parallel calls every step, so the signatures repeat):
 *
 * - In parallel, it watches the share of each window of {@linkcode WINDOW_CALLS} calls that the
 *   main thread spends outside its own chunks (waiting for the workers' last chunks, waking
 *   them): 2% by median (at most 8% after the first window) on the idle 2 vCPUs, 10-18% (14%
 *   on average) with one taken, in windows of 64 calls. Above {@linkcode TRIGGER_SHARE}, if the
 *   workers' estimated gain is also below {@linkcode PROBE_BELOW_GAIN}, it probes:
 *   {@linkcode PROBE_CALLS} calls on the main thread alone (after {@linkcode WARMUP_CALLS} that
 *   let the workers go to sleep), timed against the same signatures' recent parallel times.
 * - Solo when the probe was as fast ({@linkcode SOLO_GAIN}): {@linkcode SOLO_MIN_CALLS} calls
 *   (~20 training steps), then a parallel probe against the recent solo times; each probe that
 *   parallel loses doubles the solo stretch (up to {@linkcode SOLO_MAX_CALLS}), one it wins
 *   returns to parallel.
 * - A solo probe that loses holds the next one off for {@linkcode HOLD_OFF_MIN_CALLS} calls,
 *   doubling up to {@linkcode HOLD_OFF_MAX_CALLS}, so a machine where parallel pays despite the
 *   waits spends at most a few percent of its calls probing.
 *
 * @module
 */

/** Parallel calls per look at the main thread's time outside its own chunks. */
export const WINDOW_CALLS = 128;
/** The share of a window's time outside the main thread's own chunks that starts a probe. */
export const TRIGGER_SHARE = 0.1;
/**
 * A solo probe also needs the window's estimated gain from the workers below this: the main
 * thread's time for whole calls at the pace of its own chunks, over the calls' times. The
 * estimate is fooled by contention (the main thread's own chunks slow down too: 1.5-1.7 on the
 * 2 vCPUs with one taken, 1.45-2.3 idle), but it keeps a machine with many workers, where solo
 * calls would cost many times what parallel ones do, from probing at all.
 */
export const PROBE_BELOW_GAIN = 2;
/** Calls at the start of a probe that are not compared (the workers go to sleep, or wake). */
export const WARMUP_CALLS = 8;
/** Calls compared in a solo probe. */
export const PROBE_CALLS = 64;
/**
 * Calls at the start of a parallel probe that are not compared: a worker that has slept through
 * a solo stretch comes back with the scheduler's credit (Linux's CFS places a waking thread
 * ahead of those that kept running) and gets its core for a while even against a busy program,
 * so a short parallel probe won where parallel then lost (one process alternating with and
 * without the guard, one vCPU taken: 80 ms per step against 71 always solo).
 */
export const PARALLEL_WARMUP_CALLS = 64;
/** Calls compared in a parallel probe. */
export const PARALLEL_PROBE_CALLS = 128;
/**
 * A parallel probe wins when the weighted median of its calls' times over their signatures'
 * averages solo is at most this (and at least half of its calls had one): parallel has to pay
 * clearly to come back.
 */
export const GAIN = 0.95;
/**
 * A solo probe wins at this: when the main thread alone is as fast, the other programs may as
 * well have the cores (with one vCPU busy, always-solo steps were 6-22% faster than parallel ones
 * in one process, but the probes' medians came out at 0.92-1.0, at the edge of `GAIN`).
 */
export const SOLO_GAIN = 1;
/** The first solo stretch, in calls. */
export const SOLO_MIN_CALLS = 512;
/** The longest solo stretch, in calls. */
export const SOLO_MAX_CALLS = 8192;
/** Parallel calls before the next solo probe after one that lost. */
export const HOLD_OFF_MIN_CALLS = 1024;
/** The longest hold-off, in calls. */
export const HOLD_OFF_MAX_CALLS = 16384;
/**
 * The most of the main thread's time between two parallel calls that counts with the second.
 * Workers poll for 2 ms after their last chunk (`SPIN_MS` in worker.ts): on a machine with no
 * core to spare they take it from the main thread's TypeScript between the calls, which the
 * calls' own times do not show (per call, parallel won the probes under a busy program; per
 * training step it lost: 72.6 ms against 63.1 always solo). Capped, so that a pause between
 * steps (data, the progress bar, another model) is not taken for either mode's cost.
 */
export const GAP_CAP_MS = 5;
/** Signatures timed at most (the map is cleared beyond). */
const MAX_SIGNATURES = 4096;
/** Weight of a call's time in its signature's running average. */
const ALPHA = 0.3;

type Mode = "parallel" | "probeSolo" | "solo" | "probeParallel";

/** A signature's running average times (ms) in parallel and solo; NaN until timed. */
interface Times {
  par: number;
  solo: number;
}

/**
 * The median of `[value, weight]` pairs by weight: a call that lost its core for a time slice
 * (milliseconds, on a busy machine) would move a sum of ~3 training steps' calls; it barely moves
 * this, while a call's weight (its time) keeps the large kernels in charge.
 */
export function weightedMedian(pairs: [number, number][]): number {
  const sorted = [...pairs].sort((a, b) => a[0] - b[0]);
  const half = sorted.reduce((s, p) => s + p[1], 0) / 2;
  let acc = 0;
  for (const [v, w] of sorted) {
    acc += w;
    if (acc >= half) return v;
  }
  return NaN;
}

/**
 * A window's sums over its parallel calls: their number, their times, the main thread's time in
 * its own chunks, and the main thread's estimated time for the whole calls alone.
 */
interface Window {
  calls: number;
  ms: number;
  ownMs: number;
  soloMs: number;
}

function emptyWindow(): Window {
  return { calls: 0, ms: 0, ownMs: 0, soloMs: 0 };
}

/** FNV-1a hash of a task's integer arguments: the call's signature. */
export function taskSignature(task: Int32Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < task.length; i++) h = Math.imul(h ^ task[i]!, 16777619);
  return h >>> 0;
}

/** Decides whether each parallel call runs in parallel or on the main thread alone. */
export class ContentionGuard {
  /** @param enabled false: never probes (calls stay parallel unless forced, see forceSolo). */
  constructor(readonly enabled = true) {}

  private mode: Mode = "parallel";
  /** Calls left in the current probe or solo stretch. */
  private left = 0;
  private readonly times = new Map<number, Times>();
  private window = emptyWindow();
  private holdOff = 0;
  private skipWindows = 1;
  private nextHoldOff = HOLD_OFF_MIN_CALLS;
  private stretch = SOLO_MIN_CALLS;
  /**
   * A probe's compared calls: each one's time over its signature's average in the other mode,
   * and that average (its weight).
   */
  private compared: [number, number][] = [];
  private probeCalls = PROBE_CALLS;
  /** Calls run on the main thread alone so far because the workers did not pay. */
  soloCalls = 0;
  /** Probes started so far, and solo stretches entered. */
  probes = 0;
  stretches = 0;

  /** Whether the next parallel call runs on the main thread alone. */
  get solo(): boolean {
    return this.mode === "probeSolo" || this.mode === "solo";
  }

  /**
   * Records a call of signature `sig` that took `ms`, `ownMs` of them in the main thread's own
   * chunks (all of it when solo), which were `ownShare` (0-1) of its work, run as
   * {@linkcode solo} said; `gapMs` is the main thread's time since the previous parallel call
   * (at most {@linkcode GAP_CAP_MS}), which the probes compare with the call's own.
   */
  record(sig: number, ms: number, ownMs: number, ownShare: number, gapMs = 0): void {
    const solo = this.solo;
    const paced = ms + gapMs;
    if (solo) this.soloCalls++;
    let t = this.times.get(sig);
    if (t === undefined) {
      if (this.times.size >= MAX_SIGNATURES) this.times.clear();
      t = { par: NaN, solo: NaN };
      this.times.set(sig, t);
    }
    // The other mode's average, as it stood before this call.
    const other = solo ? t.par : t.solo;
    if (solo) t.solo = Number.isNaN(t.solo) ? paced : t.solo + ALPHA * (paced - t.solo);
    else t.par = Number.isNaN(t.par) ? paced : t.par + ALPHA * (paced - t.par);
    switch (this.mode) {
      case "parallel":
        this.watch(ms, ownMs, ownShare);
        return;
      case "solo":
        if (--this.left > 0) return;
        if (this.enabled) this.startProbe("probeParallel");
        else this.mode = "parallel";
        return;
      case "probeSolo":
      case "probeParallel":
        if (--this.left < this.probeCalls && other > 0) this.compared.push([paced / other, other]);
        if (this.left === 0) this.judge();
    }
  }

  /** Back to parallel calls at once (a test armed a worker's fault, which only they can fire). */
  reset(): void {
    this.mode = "parallel";
    this.left = 0;
    this.window = emptyWindow();
    this.holdOff = 0;
  }

  /** Runs the next `calls` parallel calls solo, then probes parallel if enabled (tests). */
  forceSolo(calls: number): void {
    this.mode = "solo";
    this.left = Math.max(1, Math.floor(calls));
  }

  private watch(ms: number, ownMs: number, ownShare: number): void {
    if (this.holdOff > 0) this.holdOff--;
    const w = this.window;
    w.calls++;
    w.ms += ms;
    w.ownMs += ownMs;
    // The main thread's time for all of a call at the pace of its own chunks (a call in which
    // it ran none counts as what it took).
    w.soloMs += ownShare > 0 ? ownMs / Math.min(1, ownShare) : ms;
    if (w.calls < WINDOW_CALLS) return;
    const outside = w.ms > 0 ? 1 - w.ownMs / w.ms : 0;
    const gain = w.ms > 0 ? w.soloMs / w.ms : 1;
    this.window = emptyWindow();
    // The first window holds the workers' start and the kernels' first (unoptimised) runs.
    if (this.skipWindows > 0) this.skipWindows--;
    else if (
      this.enabled && outside > TRIGGER_SHARE && gain < PROBE_BELOW_GAIN && this.holdOff === 0
    ) {
      this.startProbe("probeSolo");
    }
  }

  private startProbe(mode: "probeSolo" | "probeParallel"): void {
    this.mode = mode;
    const solo = mode === "probeSolo";
    this.probeCalls = solo ? PROBE_CALLS : PARALLEL_PROBE_CALLS;
    this.left = (solo ? WARMUP_CALLS : PARALLEL_WARMUP_CALLS) + this.probeCalls;
    this.compared = [];
    this.probes++;
  }

  private judge(): void {
    const won = this.compared.length >= this.probeCalls / 2 &&
      weightedMedian(this.compared) <= (this.mode === "probeSolo" ? SOLO_GAIN : GAIN);
    if (this.mode === "probeSolo") {
      if (won) this.enterSolo();
      else {
        this.mode = "parallel";
        this.holdOff = this.nextHoldOff;
        this.nextHoldOff = Math.min(HOLD_OFF_MAX_CALLS, 2 * this.nextHoldOff);
      }
      return;
    }
    // A parallel probe that won: parallel again, with a fresh hold-off.
    if (won) {
      this.mode = "parallel";
      this.stretch = SOLO_MIN_CALLS;
      this.holdOff = HOLD_OFF_MIN_CALLS;
      this.nextHoldOff = HOLD_OFF_MIN_CALLS;
      return;
    }
    this.stretch = Math.min(SOLO_MAX_CALLS, 2 * this.stretch);
    this.enterSolo();
  }

  private enterSolo(): void {
    this.mode = "solo";
    this.left = this.stretch;
    this.stretches++;
  }
}
