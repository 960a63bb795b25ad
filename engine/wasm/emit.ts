/**
 * Small emitters the kernel generators share: parameter names, the multiply-add, the fused relu,
 * tile coordinates, tail stores and an if / else-if chain (`codegen.ts`, `winograd4_codegen.ts`).
 *
 * @module
 */

import type { FuncBuilder } from "./assembler.ts";

/**
 * The indices 0, 1, 2, ... as a tuple, to name a function's parameters (locals 0 .. n-1) by
 * destructuring: `const [dst, src, n] = PARAMS;`.
 */
export const PARAMS = Array.from({ length: 24 }, (_, i) => i) as unknown as Indices;
export type Indices = readonly [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
];

/** Emits acc = x * w + acc with the chosen multiply-add. */
export function madd(f: FuncBuilder, relaxed: boolean, acc: number, x: number, w: number): void {
  if (relaxed) f.get(x).get(w).get(acc).f32x4RelaxedMadd().set(acc);
  else f.get(acc).get(x).get(w).f32x4Mul().f32x4Add().set(acc);
}

/**
 * Emits `v = v < 0 ? 0 : v` for a v128 local when the i32 local `relu` is non-zero: the relu of
 * `relu_fwd` (NaN and -0 pass through), fused into a kernel's store so that the output is not
 * read and written a second time.
 */
export function reluIf(f: FuncBuilder, relu: number, vs: readonly number[]): void {
  f.get(relu).if_();
  for (const v of vs) f.get(v).get(v).v128Zero().f32x4Lt().v128Andnot().set(v);
  f.end();
}

/**
 * Emits an if / else-if chain: the body of the first case whose condition (pushed by `cond`) is
 * true. The drivers put the full register tile first, so a full tile costs one test instead of
 * one per tile shape (12 for 6x2: ~7% of a 32-tap Winograd GEMM tile).
 */
export function firstOf(
  f: FuncBuilder,
  cases: readonly { cond: () => void; body: () => void }[],
): void {
  cases.forEach(({ cond, body }, i) => {
    cond();
    f.if_();
    body();
    if (i < cases.length - 1) f.else_();
  });
  for (let i = 0; i < cases.length; i++) f.end();
}

/**
 * Emits the coordinates of tile `t` (flat over images n, tile rows th, tile columns tw, tH x tW
 * tiles per image) into the i32 locals n, th, tw (q a scratch local).
 */
export function tileCoords(
  f: FuncBuilder,
  t: number,
  tH: number,
  tW: number,
  q: number,
  n: number,
  th: number,
  tw: number,
): void {
  f.get(t).get(tW).divU().set(q);
  f.get(t).get(q).get(tW).mul().sub().set(tw);
  f.get(q).get(tH).divU().set(n);
  f.get(q).get(n).get(tH).mul().sub().set(th);
}

/**
 * Emits a store of the v128 local `vec` at `addr + offset`: whole when `full` pushes a non-zero
 * i32, else its first `nlast` lanes (1-3: the last vector of a channel count that is not a
 * multiple of 4).
 */
export function storeTail(
  f: FuncBuilder,
  addr: number,
  vec: number,
  offset: number,
  full: () => void,
  nlast: number,
): void {
  full();
  f.if_();
  f.get(addr).get(vec).v128Store(offset);
  f.else_();
  f.get(addr).get(vec).f32x4ExtractLane(0).f32Store(offset);
  for (let lane = 1; lane < 3; lane++) {
    f.get(nlast).i32(lane).gtS().if_();
    f.get(addr).get(vec).f32x4ExtractLane(lane).f32Store(offset + lane * 4);
    f.end();
  }
  f.end();
}

/** Emits `dst = min(cap, a - b)` for i32 locals. */
export function minDiff(f: FuncBuilder, dst: number, cap: number, a: number, b: number): void {
  f.get(a).get(b).sub().set(dst);
  f.i32(cap).get(dst).get(dst).i32(cap).gtS().select().set(dst);
}

/**
 * Emits the f64x2 of the floats at byte addresses `a` and `b` (pushed by the callbacks): two
 * splat loads, a shuffle, a promotion (exact). The Winograd filter transforms read each channel
 * pair's values this way, so one kernel serves every stride of the filter's layout.
 */
export function gatherPair(f: FuncBuilder, a: () => void, b: () => void): void {
  a();
  f.v128Load32Splat();
  b();
  f.v128Load32Splat().f32x4Shuffle([0, 4, 0, 4]).f64x2PromoteLowF32x4();
}

/** The four i32 lanes of the f64x2 constant [v, v] (for `i32x4.const`). */
export function f64x2Bits(v: number): [number, number, number, number] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v, true);
  const lo = view.getInt32(0, true), hi = view.getInt32(4, true);
  return [lo, hi, lo, hi];
}
