/**
 * Small emitters the kernel generators share (`codegen.ts`, `winograd4_codegen.ts`): parameter
 * names, the multiply-adds, the fused relu, tile coordinates, tail stores, an if / else-if chain,
 * and the parts the F(2x2, 3x3) and F(4x4, 3x3) Winograd kernels have in common (an input
 * transform's per-tile tap addresses and channel step; the filter transforms' loops over channel
 * pairs with their float64 gathers).
 *
 * @module
 */

import { type FuncBuilder, I32, V128 } from "./assembler.ts";

/**
 * The indices 0, 1, 2, ... as a tuple, to name a function's parameters (locals 0 .. n-1) by
 * destructuring: `const [dst, src, n] = PARAMS;`.
 */
export const PARAMS = Array.from({ length: 28 }, (_, i) => i) as unknown as Indices;
/** The type of `PARAMS`: 28 numbers, named by destructuring. */
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
  number,
  number,
  number,
  number,
];

/**
 * Emits `x * k + y` for the operands pushed by `x`, the local `k` and `y`: one relaxed madd when
 * `relaxed`, else a multiply and an add.
 */
export function mulAdd(
  f: FuncBuilder,
  relaxed: boolean,
  x: () => void,
  k: number,
  y: () => void,
): void {
  x();
  f.get(k);
  if (relaxed) {
    y();
    f.f32x4RelaxedMadd();
  } else {
    f.f32x4Mul();
    y();
    f.f32x4Add();
  }
}

/** Emits acc = x * w + acc with the chosen multiply-add. */
export function madd(f: FuncBuilder, relaxed: boolean, acc: number, x: number, w: number): void {
  mulAdd(f, relaxed, () => f.get(x), w, () => f.get(acc));
  f.set(acc);
}

/**
 * Emits `v = v < 0 ? 0 : v` for a v128 local when the i32 local `relu` is non-zero: the relu of
 * `relu_fwd` (NaN and -0 pass through), fused into a kernel's store so that the output is not
 * read and written a second time. `f32x4.pmax(v, 0)` is exactly that, in one instruction (a
 * compare and a mask were three, ~8% of conv1's forward).
 */
export function reluIf(f: FuncBuilder, relu: number, vs: readonly number[]): void {
  f.get(relu).if_();
  for (const v of vs) f.get(v).v128Zero().f32x4Pmax().set(v);
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
function gatherPair(f: FuncBuilder, a: () => void, b: () => void): void {
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

/** The locals of an input transform's per-tile setup (see `patchTaps`). */
export interface PatchLocals {
  /** Parameter: the input image (NHWC, byte pointer). */
  x: number;
  /** Parameter: the input height. */
  inH: number;
  /** Parameter: the input width. */
  inW: number;
  /** Parameter: the padding above the image. */
  padT: number;
  /** Parameter: the padding left of the image. */
  padL: number;
  /** Parameter: tile rows per image. */
  tH: number;
  /** Parameter: tile columns per image. */
  tW: number;
  /** Parameter: the zeros read for taps outside the image. */
  zp: number;
  /** Byte stride of an input row. */
  rowB: number;
  /** Byte stride of an input pixel. */
  pixB: number;
  /** The tile, flat over images, tile rows and tile columns. */
  t: number;
  /** Scratch for the tile coordinates. */
  q: number;
  /** Set: the tile's image. */
  n: number;
  /** Set: the tile's row. */
  th: number;
  /** Set: the tile's column. */
  tw: number;
  /** Set: the patch's first input row (may be negative). */
  ih0: number;
  /** Set: the patch's first input column (may be negative). */
  iw0: number;
  /** Set: the byte address of the patch's top-left tap. */
  base: number;
  /** Set: per patch row, whether it is inside the image. */
  rowOk: readonly number[];
  /** Set: per patch column, whether it is inside the image. */
  colOk: readonly number[];
  /** Set: the size x size taps' addresses (or `zp`). */
  tap: readonly number[];
}

/**
 * Emits the setup of tile `t` of a Winograd input transform: its coordinates, the top-left input
 * of its `size` x `size` patch ((th, tw) << `shift`, less the padding), and the patch's tap
 * addresses, the zeros at `zp` where a tap falls outside the image (an address select per tap
 * and tile, no branches; per channel vector they would cost several times the loads).
 */
export function patchTaps(f: FuncBuilder, l: PatchLocals, size: number, shift: number): void {
  tileCoords(f, l.t, l.tH, l.tW, l.q, l.n, l.th, l.tw);
  f.get(l.th).i32(shift).shl().get(l.padT).sub().set(l.ih0);
  f.get(l.tw).i32(shift).shl().get(l.padL).sub().set(l.iw0);
  for (let i = 0; i < size; i++) {
    // 0 <= ih0 + i < inH, as one unsigned compare
    f.get(l.ih0).i32(i).add().get(l.inH).ltU().set(l.rowOk[i]!);
    f.get(l.iw0).i32(i).add().get(l.inW).ltU().set(l.colOk[i]!);
  }
  f.get(l.x).get(l.n).get(l.inH).mul().get(l.ih0).add().get(l.inW).mul().get(l.iw0).add()
    .get(l.pixB).mul().add().set(l.base);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      f.get(l.base).i32(i).get(l.rowB).mul().add().i32(j).get(l.pixB).mul().add();
      f.get(l.zp).get(l.rowOk[i]!).get(l.colOk[j]!).and().select().set(l.tap[i * size + j]!);
    }
  }
}

/**
 * Emits the step to an input transform's next channel vector: `off` (its byte offset in the
 * pixel) by 16, and past every `blk` bytes (`cnt` counts them) `blkExtra` more into `bo`, the
 * kernel gradient's blocked layout (no division).
 */
export function nextChannelVector(
  f: FuncBuilder,
  off: number,
  cnt: number,
  bo: number,
  wrap: number,
  blk: number,
  blkExtra: number,
): void {
  f.get(off).i32(16).add().set(off);
  f.get(cnt).i32(16).add().tee(cnt).get(blk).geS().set(wrap);
  f.get(bo).get(blkExtra).i32(0).get(wrap).select().add().set(bo);
  f.i32(0).get(cnt).get(wrap).select().set(cnt);
}

/** The locals of a filter transform's loop over channel pairs (see `filterPairLoop`). */
export interface FilterPairLocals {
  /** The output channel (even; the pair is n, n + 1). */
  n: number;
  /** The input channel. */
  c: number;
  /** The first vector of n's column block. */
  cb: number;
  /** The column block's width in floats. */
  width: number;
  /** Where column n starts in the packed output, in floats. */
  col: number;
  /** Bytes between two transform positions of a column in the packed output. */
  stepB: number;
  /** Byte address of channel n's first tap in `w`. */
  b0: number;
  /** Byte address of channel n + 1's first tap in `w`. */
  b1: number;
  /** For the caller's output pointer. */
  at: number;
  /** Bytes of one tap plane of the filter (C x N floats). */
  plane: number;
  /** Vectors of output channels, ceil(N / 4). */
  nVec: number;
  /** The 9 taps' byte offsets (flipped when asked). */
  tap: readonly number[];
  /** The pair's 9 taps as f64x2 (channel n, channel n + 1). */
  g: readonly number[];
}

/** Allocates the locals of `filterPairLoop`, before the caller's own. */
export function filterPairLocals(f: FuncBuilder): FilterPairLocals {
  const n = f.local(I32), c = f.local(I32), cb = f.local(I32), width = f.local(I32);
  const col = f.local(I32), stepB = f.local(I32), b0 = f.local(I32), b1 = f.local(I32);
  const at = f.local(I32), plane = f.local(I32), nVec = f.local(I32);
  const tap = Array.from({ length: 9 }, () => f.local(I32));
  const g = Array.from({ length: 9 }, () => f.local(V128));
  return { n, c, cb, width, col, stepB, b0, b1, at, plane, nVec, tap, g };
}

/**
 * Emits a Winograd filter transform's loops, over the input channels [c0, c1) and the output
 * channel pairs [0, nEven): per pair, the packed output's column `col` and position step
 * `stepB` for `positions` transform positions (K = positions * C rows in column blocks of
 * `vecs` vectors, as the forward GEMM packs its weights), and the pair's 9 taps gathered into
 * `g` as f64x2 from `w` (tap t of channel pair (c, n) at `w[t' * C * N + c * cStride + n *
 * nStride]`, t' = 8 - t when `flip`); then `body`. Params are the functions' shared ones:
 * [dst, w, C, N, cStride, nStride, flip, vecs, c0, c1, nEven].
 */
export function filterPairLoop(
  f: FuncBuilder,
  l: FilterPairLocals,
  positions: 16 | 36,
  body: () => void,
): void {
  const [, w, C, N, cStride, nStride, flip, vecs, c0, c1, nEven] = PARAMS;
  const { n, c, cb, width, col, stepB, b0, b1, plane, nVec, tap, g } = l;
  f.get(C).get(N).mul().i32(2).shl().set(plane);
  f.get(N).i32(3).add().i32(2).shrU().set(nVec);
  for (let t = 0; t < 9; t++) {
    // byte offset of tap t: (flip ? 8 - t : t) planes
    f.i32(8 - t).i32(t).get(flip).select().get(plane).mul().set(tap[t]!);
  }
  f.get(c0).set(c);
  f.block().loop(); // input channels
  f.get(c).get(c1).geS().brIf(1);
  f.i32(0).set(n);
  f.block().loop(); // output channel pairs
  f.get(n).get(nEven).geS().brIf(1);
  f.get(n).get(vecs).i32(2).shl().divU().get(vecs).mul().set(cb);
  f.get(nVec).get(cb).sub().set(width);
  f.get(vecs).get(width).get(width).get(vecs).gtS().select().i32(2).shl().set(width);
  // column of n: K * cb * 4 + (n - cb * 4), K = positions * C rows
  if (positions === 16) f.get(C).i32(4).shl();
  else f.get(C).i32(positions).mul();
  f.get(cb).mul().i32(2).shl().get(n).add().get(cb).i32(2).shl().sub().set(col);
  f.get(C).get(width).mul().i32(2).shl().set(stepB);
  f.get(w).get(c).get(cStride).mul().get(n).get(nStride).mul().add().i32(2).shl().add().set(b0);
  f.get(b0).get(nStride).i32(2).shl().add().set(b1);
  for (let t = 0; t < 9; t++) {
    gatherPair(f, () => f.get(b0).get(tap[t]!).add(), () => f.get(b1).get(tap[t]!).add());
    f.set(g[t]!);
  }
  body();
  f.get(n).i32(2).add().set(n);
  f.br(0).end().end();
  f.get(c).i32(1).add().set(c);
  f.br(0).end().end();
}

/** The locals of a filter-gradient transform's loop over channel pairs (`gradientPairLoop`). */
export interface GradientPairLocals {
  /** The output channel (even; the pair is n, n + 1). */
  n: number;
  /** The input channel. */
  c: number;
  /** Bytes between two transform positions in the accumulators. */
  posB: number;
  /** Bytes between two taps of dw (C x N floats). */
  cnB: number;
  /** Byte address of channel n's accumulator at the current position. */
  u0: number;
  /** Byte address of channel n + 1's accumulator at the current position. */
  u1: number;
  /** For the caller's dw pointer. */
  at: number;
  /** Blocks of B input channels, ceil(Cp / B). */
  nTB: number;
  /** dU of the pair at every transform position, as f64x2. */
  u: readonly number[];
}

/** Allocates the locals of `gradientPairLoop` for `positions` positions, before the caller's. */
export function gradientPairLocals(f: FuncBuilder, positions: number): GradientPairLocals {
  const n = f.local(I32), c = f.local(I32), posB = f.local(I32), cnB = f.local(I32);
  const u0 = f.local(I32), u1 = f.local(I32), at = f.local(I32), nTB = f.local(I32);
  const u = Array.from({ length: positions }, () => f.local(V128));
  return { n, c, posB, cnB, u0, u1, at, nTB, u };
}

/**
 * Emits a Winograd filter-gradient transform's loops, over the input channels [c0, c1) and the
 * output channel pairs [0, nEven): per pair, dU at the `positions` transform positions gathered
 * into `u` as f64x2 from the summed kernel-gradient accumulators (`acc[((xi * ceil(Cp/B) +
 * floor(c/B)) * Np + n) * B + c % B]`), then `body`. Params are the functions' shared ones:
 * [dw, acc, C, N, Np, B, c0, c1, nEven].
 */
export function gradientPairLoop(
  f: FuncBuilder,
  l: GradientPairLocals,
  body: () => void,
): void {
  const [, acc, C, N, Np, B, c0, c1, nEven] = PARAMS;
  const { n, c, posB, cnB, u0, u1, nTB, u } = l;
  // nTB = ceil(ceil(C / 4) * 4 / B); pos = nTB * Np * B floats
  f.get(C).i32(3).add().i32(-4).and().get(B).add().i32(1).sub().get(B).divU().set(nTB);
  f.get(nTB).get(Np).mul().get(B).mul().i32(2).shl().set(posB);
  f.get(C).get(N).mul().i32(2).shl().set(cnB);
  f.get(c0).set(c);
  f.block().loop(); // input channels
  f.get(c).get(c1).geS().brIf(1);
  f.i32(0).set(n);
  f.block().loop(); // output channel pairs
  f.get(n).get(nEven).geS().brIf(1);
  // u = floor(c / B) * Np * B + c % B + n * B, in bytes from acc; n + 1 is B floats on
  f.get(c).get(B).divU().get(Np).mul().get(B).mul(); // floor(c / B) * Np * B
  f.get(c).get(B).divU().get(B).mul().get(c).sub().sub(); // + c % B
  f.get(n).get(B).mul().add().i32(2).shl().get(acc).add().set(u0);
  f.get(u0).get(B).i32(2).shl().add().set(u1);
  for (let xi = 0; xi < u.length; xi++) {
    gatherPair(f, () => f.get(u0), () => f.get(u1));
    f.set(u[xi]!);
    if (xi < u.length - 1) {
      f.get(u0).get(posB).add().set(u0);
      f.get(u1).get(posB).add().set(u1);
    }
  }
  body();
  f.get(n).i32(2).add().set(n);
  f.br(0).end().end();
  f.get(c).i32(1).add().set(c);
  f.br(0).end().end();
}
