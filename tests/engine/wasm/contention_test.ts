/**
 * The contention guard's decisions (engine/wasm/contention.ts), fed call times by hand: parallel
 * while the main thread waits little; a solo probe when it waits much; solo stretches while solo
 * is faster, doubling while parallel keeps losing; a hold-off after a probe that solo lost.
 *
 * Run: deno test tests/engine/wasm/contention_test.ts
 */

import assert from "node:assert/strict";
import {
  ContentionGuard,
  HOLD_OFF_MIN_CALLS,
  PARALLEL_PROBE_CALLS,
  PARALLEL_WARMUP_CALLS,
  PROBE_CALLS,
  SOLO_MIN_CALLS,
  taskSignature,
  WARMUP_CALLS,
  weightedMedian,
  WINDOW_CALLS,
} from "../../../engine/wasm/contention.ts";

/** A guard past its first window (which it does not judge: the workers' start, cold kernels). */
function guard(): ContentionGuard {
  const g = new ContentionGuard();
  for (let i = 0; i < WINDOW_CALLS; i++) g.record(1, 10, 1, 1);
  return g;
}

/** A training step's worth of signatures, cycled through. */
const SIGS = [11, 22, 33, 44, 55];

/**
 * Feeds `n` calls: parallel ones take `par` ms (of which `own` in the main thread's chunks),
 * solo ones `solo` ms. Returns how many ran solo.
 */
function feed(g: ContentionGuard, n: number, par: number, own: number, solo: number): number {
  let soloRuns = 0;
  for (let i = 0; i < n; i++) {
    const sig = SIGS[i % SIGS.length]!;
    if (g.solo) {
      soloRuns++;
      g.record(sig, solo, solo, 1);
    } else g.record(sig, par, own, 0.9);
  }
  return soloRuns;
}

const PROBE = WARMUP_CALLS + PROBE_CALLS;
const PAR_PROBE = PARALLEL_WARMUP_CALLS + PARALLEL_PROBE_CALLS;

Deno.test("parallel stays parallel while the main thread waits little", () => {
  const g = guard();
  // 5% of each call outside the main thread's chunks (an idle machine), solo much slower.
  assert.equal(feed(g, 20 * WINDOW_CALLS, 10, 9.5, 19), 0);
  assert.equal(g.probes, 0);
  assert.equal(g.soloCalls, 0);
});

Deno.test("long waits start a solo probe; solo that wins runs solo stretches", () => {
  const g = guard();
  // 30% of each call waiting (a core taken by another program); solo is faster.
  assert.equal(feed(g, WINDOW_CALLS, 14, 9.8, 12), 0);
  assert.equal(g.solo, true, "a window of long waits starts a probe");
  assert.equal(feed(g, PROBE, 14, 9.8, 12), PROBE);
  assert.equal(g.stretches, 1);
  // The stretch, then a parallel probe that loses (14 against 12): a stretch twice as long.
  assert.equal(feed(g, SOLO_MIN_CALLS, 14, 9.8, 12), SOLO_MIN_CALLS);
  assert.equal(g.solo, false, "after the stretch, a parallel probe");
  assert.equal(feed(g, PAR_PROBE, 14, 9.8, 12), 0);
  assert.equal(g.stretches, 2);
  assert.equal(feed(g, 2 * SOLO_MIN_CALLS, 14, 9.8, 12), 2 * SOLO_MIN_CALLS);
  // The other program stops: the parallel probe wins and parallel stays.
  assert.equal(feed(g, PAR_PROBE, 7, 6.8, 12), 0);
  assert.equal(g.solo, false);
  assert.equal(feed(g, 10 * WINDOW_CALLS, 7, 6.8, 12), 0);
  assert.equal(g.soloCalls, PROBE + 3 * SOLO_MIN_CALLS);
  assert.equal(g.probes, 3);
});

Deno.test("no solo probe while the workers' estimated gain is large (many workers)", () => {
  const g = guard();
  // 30% waiting, but the main thread ran a tenth of the work: solo would take ~5x as long.
  for (let i = 0; i < 10 * WINDOW_CALLS; i++) g.record(SIGS[i % SIGS.length]!, 10, 7, 0.14);
  assert.equal(g.probes, 0);
});

Deno.test("a solo probe that loses holds the next one off", () => {
  const g = guard();
  // Long waits, yet parallel still pays (10 against 16 ms solo).
  feed(g, WINDOW_CALLS, 10, 7, 16);
  assert.equal(g.solo, true);
  assert.equal(feed(g, PROBE, 10, 7, 16), PROBE);
  assert.equal(g.stretches, 0, "solo lost the probe");
  // No probe until the hold-off has passed, whatever the waits.
  assert.equal(feed(g, HOLD_OFF_MIN_CALLS - WINDOW_CALLS, 10, 7, 16), 0);
  assert.equal(g.probes, 1);
  feed(g, 2 * WINDOW_CALLS, 10, 7, 16);
  assert.equal(g.probes, 2, "probing again after the hold-off");
});

Deno.test("a probe compares the same signatures: a new call's time counts only once timed in the other mode", () => {
  const g = guard();
  feed(g, WINDOW_CALLS, 14, 9.8, 12);
  assert.equal(g.solo, true);
  // The probe sees only signatures never run in parallel: nothing to compare, solo does not win.
  for (let i = 0; i < PROBE; i++) g.record(1000 + i, 1, 1, 1);
  assert.equal(g.solo, false);
  assert.equal(g.stretches, 0);
});

Deno.test("forceSolo runs solo, then probes parallel; reset returns to parallel at once", () => {
  const g = guard();
  g.forceSolo(3);
  assert.equal(feed(g, 3, 10, 9.5, 20), 3);
  // After the forced stretch, a parallel probe, which parallel wins (10 against 20 ms).
  assert.equal(feed(g, PAR_PROBE + 10 * WINDOW_CALLS, 10, 9.5, 20), 0);
  g.forceSolo(1000);
  assert.equal(g.solo, true);
  g.reset();
  assert.equal(g.solo, false);
  assert.equal(feed(g, 10 * WINDOW_CALLS, 10, 9.5, 20), 0);
});

Deno.test("a disabled guard never probes, and returns to parallel after a forced stretch", () => {
  const g = new ContentionGuard(false);
  assert.equal(feed(g, 20 * WINDOW_CALLS, 14, 1, 12), 0);
  assert.equal(g.probes, 0);
  g.forceSolo(5);
  assert.equal(feed(g, 20 * WINDOW_CALLS, 14, 1, 12), 5);
  assert.equal(g.probes, 0);
});

Deno.test("the first window is not judged", () => {
  const g = new ContentionGuard();
  assert.equal(feed(g, WINDOW_CALLS, 14, 1, 12), 0);
  assert.equal(g.probes, 0);
  feed(g, WINDOW_CALLS, 14, 1, 12);
  assert.equal(g.probes, 1);
});

Deno.test("weightedMedian weighs values by their weights", () => {
  assert.equal(weightedMedian([[1, 1], [2, 1], [3, 1]]), 2);
  assert.equal(weightedMedian([[1, 1], [2, 1], [30, 10]]), 30);
  assert.equal(weightedMedian([[5, 10], [0.5, 1], [0.6, 1]]), 5);
  assert.ok(Number.isNaN(weightedMedian([])));
});

Deno.test("taskSignature tells tasks apart by every argument", () => {
  const a = new Int32Array(32).fill(7);
  const b = Int32Array.from(a);
  assert.equal(taskSignature(a), taskSignature(b));
  for (let i = 0; i < 32; i++) {
    b[i] = 8;
    assert.notEqual(taskSignature(a), taskSignature(b), `argument ${i}`);
    b[i] = 7;
  }
});
