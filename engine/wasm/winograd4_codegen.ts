/**
 * The Winograd F(4x4, 3x3) kernels around the F(2x2, 3x3) ones' GEMMs: the forward's tile
 * transforms `wino4_in` (V = B^T d B of 6x6 input patches) and `wino4_out` (y = A^T m A of the
 * batched GEMM's 6x6 results, with the bias, relu, 2x2 max pooling or a relu's backward fused
 * into the store), between which `wino_gemm` runs over 36 transform positions instead of 16; the
 * kernel gradient's `wino4_dy` (dM = A dy A^T, transposed for `wino_dw`, which also runs over 36
 * positions, on `wino4_in`'s blocked layout); and the filter transforms `wino4_filter` (U = G g
 * G^T) and `wino4_filter_grad` (dw += G^T dU G) in float64 lanes, bitwise the TypeScript ones in
 * `winograd.ts`.
 *
 * F(4x4, 3x3) needs 36 multiplications per 4x4 output tile and channel pair, 2.25 per output
 * against F(2x2, 3x3)'s 4 and the direct convolution's 9, so the GEMM, most of a Winograd
 * convolution's time, shrinks by 1.78x; its transforms cost more arithmetic per output (the
 * matrices have entries 2, 4, 5 and 8) but store less (36 values per 16 outputs instead of 16 per
 * 4). The interpolation points are 0, +-1, +-2 and infinity (Lavin and Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2016). In float32 its error is about ten times F(2x2, 3x3)'s:
 * 1-6e-6 of the output's scale on the seed CNN's layers, against 2-3e-7 (the kernel tests bound
 * it by 1e-5). Every float32 multiplication in the tile transforms is by a power of two, so it is
 * exact, and each result is the same whichever runtime runs it (no fused multiply-add).
 *
 * B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 * A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * (G, the filter's transform, is in `winograd.ts`.)
 *
 * @module
 */

import { FuncBuilder, I32, V128 } from "./assembler.ts";
import {
  f64x2Bits,
  filterPairLocals,
  filterPairLoop,
  gradientPairLocals,
  gradientPairLoop,
  mulAdd,
  nextChannelVector,
  PARAMS,
  patchTaps,
  reluIf,
  storeTail,
  tileCoords,
} from "./emit.ts";

/*
 * The transforms' constants are powers of two (±2, ±4, ±8), so a product by one is exact and
 * `x * k + y` rounds alike fused or not: with relaxed SIMD the transforms use one relaxed madd for
 * it (`mulAdd`), bitwise the same results in fewer operations (the input transform's 20 per six
 * vectors become 15; wino4_in on conv2's forward input ran 2-4% faster by best, wino4_out 4-7%,
 * interleaved with the separate form).
 */

/** float32 bit patterns, for constant vectors (the builder has `i32x4.const`, not `f32x4`). */
const F32_2 = 0x40000000, F32_4 = 0x40800000, F32_8 = 0x41000000;
const F32_NEG_2 = 0xc0000000 | 0, F32_NEG_4 = 0xc0800000 | 0;

/** Emits `dst = [k, k, k, k]` for the float32 bit pattern `bits`. */
function splatConst(f: FuncBuilder, dst: number, bits: number): void {
  f.i32x4Const([bits, bits, bits, bits]).set(dst);
}

/**
 * Emits o = B^T d for six vectors d (locals) into six locals o, as 20 vector operations:
 * o0 = 4(d0 - d2) + (d4 - d2), o1 = (d3 + d4) - 4(d1 + d2), o2 = (d4 - d3) + 4(d1 - d2),
 * o3 = (d4 - d2) + 2(d3 - d1), o4 = (d4 - d2) - 2(d3 - d1), o5 = 4(d1 - d3) + (d5 - d3).
 */
function inputTransform(
  f: FuncBuilder,
  d: readonly number[],
  o: readonly number[],
  k: InputConstants,
  tmp: readonly [number, number],
  fma: boolean,
): void {
  const [a, b] = tmp;
  const [d0, d1, d2, d3, d4, d5] = d as [number, number, number, number, number, number];
  f.get(d4).get(d2).f32x4Sub().set(a);
  f.get(d3).get(d1).f32x4Sub().set(b);
  mulAdd(f, fma, () => f.get(d0).get(d2).f32x4Sub(), k.four, () => f.get(a));
  f.set(o[0]!);
  // (d3 + d4) - 4(d1 + d2) as -4(d1 + d2) + (d3 + d4): x - y and -y + x round alike
  mulAdd(f, fma, () => f.get(d1).get(d2).f32x4Add(), k.negFour, () => f.get(d3).get(d4).f32x4Add());
  f.set(o[1]!);
  mulAdd(f, fma, () => f.get(d1).get(d2).f32x4Sub(), k.four, () => f.get(d4).get(d3).f32x4Sub());
  f.set(o[2]!);
  mulAdd(f, fma, () => f.get(b), k.two, () => f.get(a));
  f.set(o[3]!);
  mulAdd(f, fma, () => f.get(b), k.negTwo, () => f.get(a));
  f.set(o[4]!);
  mulAdd(f, fma, () => f.get(d1).get(d3).f32x4Sub(), k.four, () => f.get(d5).get(d3).f32x4Sub());
  f.set(o[5]!);
}

/** The input transform's constant vectors (locals). */
interface InputConstants {
  two: number;
  four: number;
  negTwo: number;
  negFour: number;
}

/** Declares and fills the input transform's constant vectors. */
function inputConstants(f: FuncBuilder): InputConstants {
  const k = {
    two: f.local(V128),
    four: f.local(V128),
    negTwo: f.local(V128),
    negFour: f.local(V128),
  };
  splatConst(f, k.two, F32_2);
  splatConst(f, k.four, F32_4);
  splatConst(f, k.negTwo, F32_NEG_2);
  splatConst(f, k.negFour, F32_NEG_4);
  return k;
}

/**
 * Emits y = A^T m for six vectors m (locals) into four locals y: with s = m1 + m2, d = m1 - m2,
 * S = m3 + m4, D = m3 - m4: y0 = m0 + s + S, y1 = d + 2D, y2 = s + 4S, y3 = d + 8D + m5.
 */
function outputTransform(
  f: FuncBuilder,
  m: readonly number[],
  y: readonly number[],
  k: { two: number; four: number; eight: number },
  tmp: readonly [number, number, number, number],
  fma: boolean,
): void {
  const [s, d, S, D] = tmp;
  const [m0, m1, m2, m3, m4, m5] = m as [number, number, number, number, number, number];
  f.get(m1).get(m2).f32x4Add().set(s);
  f.get(m1).get(m2).f32x4Sub().set(d);
  f.get(m3).get(m4).f32x4Add().set(S);
  f.get(m3).get(m4).f32x4Sub().set(D);
  f.get(m0).get(s).f32x4Add().get(S).f32x4Add().set(y[0]!);
  mulAdd(f, fma, () => f.get(D), k.two, () => f.get(d));
  f.set(y[1]!);
  mulAdd(f, fma, () => f.get(S), k.four, () => f.get(s));
  f.set(y[2]!);
  mulAdd(f, fma, () => f.get(D), k.eight, () => f.get(d));
  f.get(m5).f32x4Add().set(y[3]!);
}

/**
 * wino4_in(V, x, t0, nT, posBytes, inH, inW, C, tH, tW, padT, padL, zp, tileBytes, blk,
 * blkExtra): the F(4x4, 3x3) input transform V = B^T d B of tiles [t0, t0 + nT) (flat over n,
 * th, tw with tH x tW tiles per image) of x (NHWC, C channels), vectorised over 4 channels. The
 * 6x6 patch of tile (th, tw) starts at input (4th - padT, 4tw - padL); taps outside the image
 * read the zeros at `zp` (at least 4C floats; an address select per tap and tile, no branches).
 * Layout as `wino_in`'s: position xi = 6i + k at `V + xi * posBytes`, tile t - t0 `tileBytes`
 * further, channel byte `o` at `o + floor(o / blk) * blkExtra` more: the forward GEMM's
 * [36][T][Cp] (blkExtra = 0) or the kernel gradient's [36][Cp/B][T][B]. Channels past C hold
 * garbage no kept result depends on.
 */
export function wino4In(fma: boolean): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(16).fill(I32));
  const [V, x, t0, nT, posBytes, inH, inW, C, tH, tW, padT, padL, zp, tileBytes, blk, blkExtra] =
    PARAMS;
  const tl = f.local(I32), t = f.local(I32), tw = f.local(I32), th = f.local(I32);
  const n = f.local(I32), q = f.local(I32), ih0 = f.local(I32), iw0 = f.local(I32);
  const base = f.local(I32), rowB = f.local(I32), pixB = f.local(I32), cv = f.local(I32);
  const off = f.local(I32), vout = f.local(I32), addr = f.local(I32);
  const cnt = f.local(I32), bo = f.local(I32), wrap = f.local(I32);
  const rowOk = Array.from({ length: 6 }, () => f.local(I32));
  const colOk = Array.from({ length: 6 }, () => f.local(I32));
  const tap = Array.from({ length: 36 }, () => f.local(I32));
  const d = Array.from({ length: 6 }, () => f.local(V128));
  const e = Array.from({ length: 36 }, () => f.local(V128));
  const o = Array.from({ length: 6 }, () => f.local(V128));
  const ta = f.local(V128), tb = f.local(V128);
  const k = inputConstants(f);
  f.get(inW).get(C).mul().i32(2).shl().set(rowB);
  f.get(C).i32(2).shl().set(pixB);
  f.get(C).i32(3).add().i32(2).shrU().i32(4).shl().set(cv); // channel bytes, whole vectors
  f.i32(0).set(tl);
  f.block().loop(); // over tiles
  f.get(tl).get(nT).geS().brIf(1);
  f.get(t0).get(tl).add().set(t);
  const locals = { x, inH, inW, padT, padL, tH, tW, zp, rowB, pixB, t, q, n, th, tw, ih0, iw0 };
  patchTaps(f, { ...locals, base, rowOk, colOk, tap }, 6, 2);
  f.get(V).get(tl).get(tileBytes).mul().add().set(vout);
  f.i32(0).set(off);
  f.i32(0).set(cnt);
  f.i32(0).set(bo);
  f.block().loop(); // over channel vectors
  f.get(off).get(cv).geS().brIf(1);
  // Columns first: e[i][j] = (B^T d)[i][j], column j of the patch loaded once; then rows,
  // V[i][k] = (e B)[i][k], so the stores go in position order xi = 6i + k, one add apart.
  for (let j = 0; j < 6; j++) {
    for (let i = 0; i < 6; i++) f.get(tap[i * 6 + j]!).get(off).add().v128Load().set(d[i]!);
    inputTransform(f, d, [0, 1, 2, 3, 4, 5].map((i) => e[i * 6 + j]!), k, [ta, tb], fma);
  }
  f.get(vout).get(off).add().get(bo).add().set(addr);
  for (let i = 0; i < 6; i++) {
    inputTransform(f, e.slice(i * 6, i * 6 + 6), o, k, [ta, tb], fma);
    for (let k = 0; k < 6; k++) {
      f.get(addr).get(o[k]!).v128Store();
      if (i < 5 || k < 5) f.get(addr).get(posBytes).add().set(addr);
    }
  }
  nextChannelVector(f, off, cnt, bo, wrap, blk, blkExtra);
  f.br(0).end().end();
  f.get(tl).i32(1).add().set(tl);
  f.br(0).end().end();
  return f;
}

/**
 * wino4_out(y, M, bias, t0, nT, T, outH, outW, N, Np, tH, tW, relu, pool, arg, mask): the F(4x4, 3x3)
 * output transform y = A^T m A + bias (then relu when `relu` is non-zero) of tiles [t0, t0 + nT),
 * from M ([36][T][Np] floats, the GEMM's result) into y (NHWC, N channels). Outputs past outH or
 * outW are not stored; a last partial channel vector is stored lane by lane. With `pool`
 * non-zero, y is instead the 2x2 stride-2 max pooling of the output (floor(outH/2) x
 * floor(outW/2)): each tile holds four whole windows, chosen as `maxpool_fwd` chooses (row-major,
 * a later value only when strictly greater), and with `arg` non-zero the flat NHWC index of each
 * chosen output goes to `arg` (int32, laid out as the pooled y), as `wino_out` writes it.
 * Without `pool`, a non-zero `mask` (floats laid out as y) keeps each output only where its mask
 * value is > 0, else stores 0: a relu's backward in the store of an input gradient, as in
 * `wino_out`.
 */
export function wino4Out(fma: boolean): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(16).fill(I32));
  const [y, M, bias, t0, nT, T, outH, outW, N, Np, tH, tW, relu, pool, arg, mask] = PARAMS;
  const tl = f.local(I32), t = f.local(I32), tw = f.local(I32), th = f.local(I32);
  const n = f.local(I32), q = f.local(I32), yb = f.local(I32), rowB = f.local(I32);
  const pixB = f.local(I32), nv = f.local(I32), nlast = f.local(I32), v = f.local(I32);
  const off = f.local(I32), mp = f.local(I32), xiB = f.local(I32), full = f.local(I32);
  const addr = f.local(I32), rowE = f.local(I32), allOk = f.local(I32), pRowB = f.local(I32);
  const rowOk = Array.from({ length: 4 }, () => f.local(I32));
  const colOk = Array.from({ length: 4 }, () => f.local(I32));
  const m = Array.from({ length: 36 }, () => f.local(V128));
  const a = Array.from({ length: 24 }, () => f.local(V128));
  const o = Array.from({ length: 16 }, () => f.local(V128));
  const tmp = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)] as const;
  const k = { two: f.local(V128), four: f.local(V128), eight: f.local(V128) };
  const b = f.local(V128), best = f.local(V128), mk = f.local(V128), ib = f.local(V128);
  const bi = f.local(V128), lanes = f.local(V128);
  splatConst(f, k.two, F32_2);
  splatConst(f, k.four, F32_4);
  splatConst(f, k.eight, F32_8);
  f.i32x4Const([0, 1, 2, 3]).set(lanes);
  f.get(outW).get(N).mul().set(rowE);
  f.get(rowE).i32(2).shl().set(rowB);
  f.get(outW).i32(1).shrU().get(N).mul().i32(2).shl().set(pRowB);
  f.get(N).i32(2).shl().set(pixB);
  f.get(T).get(Np).mul().i32(2).shl().set(xiB);
  f.get(N).i32(3).add().i32(2).shrU().set(nv);
  f.get(N).get(nv).i32(1).sub().i32(2).shl().sub().set(nlast);
  f.i32(0).set(tl);
  f.block().loop(); // over tiles
  f.get(tl).get(nT).geS().brIf(1);
  f.get(t0).get(tl).add().set(t);
  tileCoords(f, t, tH, tW, q, n, th, tw);
  f.get(pool).if_();
  // Pooled: window (wr, wc) of the tile is pooled output (2th + wr, 2tw + wc), which exists
  // when it is below floor(outH/2) x floor(outW/2).
  for (let i = 0; i < 2; i++) {
    f.get(th).i32(1).shl().i32(i).add().get(outH).i32(1).shrU().ltS().set(rowOk[i]!);
    f.get(tw).i32(1).shl().i32(i).add().get(outW).i32(1).shrU().ltS().set(colOk[i]!);
  }
  f.get(y).get(n).get(outH).i32(1).shrU().mul().get(th).i32(1).shl().add().get(outW).i32(1)
    .shrU().mul().get(tw).i32(1).shl().add().get(pixB).mul().add().set(yb);
  f.else_();
  for (let i = 0; i < 4; i++) {
    f.get(th).i32(2).shl().i32(i).add().get(outH).ltS().set(rowOk[i]!);
    f.get(tw).i32(2).shl().i32(i).add().get(outW).ltS().set(colOk[i]!);
  }
  f.get(rowOk[3]!).get(colOk[3]!).and().set(allOk);
  f.get(y).get(n).get(outH).mul().get(th).i32(2).shl().add().get(outW).mul().get(tw).i32(2).shl()
    .add().get(pixB).mul().add().set(yb);
  f.end();
  f.i32(0).set(v);
  f.block().loop(); // over channel vectors
  f.get(v).get(nv).geS().brIf(1);
  f.get(v).i32(4).shl().set(off);
  f.get(M).get(tl).get(Np).mul().i32(2).shl().add().get(off).add().set(mp);
  for (let xi = 0; xi < 36; xi++) {
    f.get(mp).v128Load().set(m[xi]!);
    if (xi < 35) f.get(mp).get(xiB).add().set(mp);
  }
  f.get(bias).get(off).add().v128Load().set(b);
  // Columns first: a[r][j] = (A^T m)[r][j]; then rows: o[r][c] = (a A)[r][c] + bias, relu.
  const col = Array.from({ length: 4 }, () => 0);
  for (let j = 0; j < 6; j++) {
    for (let r = 0; r < 4; r++) col[r] = a[r * 6 + j]!;
    outputTransform(f, [0, 1, 2, 3, 4, 5].map((i) => m[i * 6 + j]!), col, k, tmp, fma);
  }
  for (let r = 0; r < 4; r++) {
    const row = o.slice(r * 4, r * 4 + 4);
    outputTransform(f, a.slice(r * 6, r * 6 + 6), row, k, tmp, fma);
    for (const out of row) f.get(out).get(b).f32x4Add().set(out);
    reluIf(f, relu, row);
  }
  f.get(v).i32(1).add().get(nv).ne().get(nlast).i32(4).eq().or().set(full);
  const store = (vec: number) => storeTail(f, addr, vec, 0, () => f.get(full), nlast);
  f.get(pool).if_();
  for (let wr = 0; wr < 2; wr++) {
    for (let wc = 0; wc < 2; wc++) {
      const at = (dr: number, dc: number) => o[(2 * wr + dr) * 4 + 2 * wc + dc]!;
      f.get(rowOk[wr]!).get(colOk[wc]!).and().if_();
      f.get(yb).get(off).add();
      if (wr === 1) f.get(pRowB).add();
      if (wc === 1) f.get(pixB).add();
      f.set(addr);
      f.get(at(0, 0)).set(best);
      f.get(arg).eqz().if_();
      for (const [dr, dc] of [[0, 1], [1, 0], [1, 1]] as const) {
        f.get(at(dr, dc)).get(best).f32x4Gt().set(mk);
        f.get(at(dr, dc)).get(best).get(mk).v128Bitselect().set(best);
      }
      f.else_();
      // The flat NHWC index of output (4th + 2wr, 4tw + 2wc) of image n, channels off/4 + lane.
      f.get(n).get(outH).mul().get(th).i32(2).shl().i32(2 * wr).add().add().get(outW).mul()
        .get(tw).i32(2).shl().i32(2 * wc).add().add().get(N).mul().get(off).i32(2).shrU().add()
        .i32x4Splat().get(lanes).i32x4Add().tee(ib).set(bi);
      for (const [dr, dc] of [[0, 1], [1, 0], [1, 1]] as const) {
        f.get(at(dr, dc)).get(best).f32x4Gt().set(mk);
        f.get(at(dr, dc)).get(best).get(mk).v128Bitselect().set(best);
        f.get(ib);
        if (dr === 1 && dc === 1) f.get(rowE).get(N).add();
        else if (dr === 1) f.get(rowE);
        else f.get(N);
        f.i32x4Splat().i32x4Add().get(bi).get(mk).v128Bitselect().set(bi);
      }
      // The argmax at the same offset from `arg` as the pooled value from y.
      f.get(addr).get(arg).add().get(y).sub().set(addr);
      store(bi);
      f.get(addr).get(y).add().get(arg).sub().set(addr);
      f.end();
      store(best);
      f.end();
    }
  }
  f.else_();
  const emit = (r: number, c: number) => {
    f.get(yb).get(off).add();
    if (r > 0) f.get(rowB).i32(r).mul().add();
    if (c > 0) f.get(pixB).i32(c).mul().add();
    f.set(addr);
    const out = o[r * 4 + c]!;
    f.get(mask).if_();
    // (a partial last vector reads past the mask's end into the allocation's slack)
    f.get(out).get(mask).get(addr).add().get(y).sub().v128Load().v128Zero().f32x4Gt().v128And();
    f.set(out);
    f.end();
    store(out);
  };
  f.get(allOk).if_();
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) emit(r, c);
  f.else_();
  // A partial tile (outH or outW not a multiple of 4): only the outputs inside.
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      f.get(rowOk[r]!).get(colOk[c]!).and().if_();
      emit(r, c);
      f.end();
    }
  }
  f.end();
  f.end();
  f.get(v).i32(1).add().set(v);
  f.br(0).end().end();
  f.get(tl).i32(1).add().set(tl);
  f.br(0).end().end();
  return f;
}

/**
 * Emits G a for the f64x2 locals a = (a0, a1, a2) into six f64x2 locals, with the operations of
 * `winograd.ts`'s `transformG` in its order (so bitwise its float64 results): s = a0 + a2, then
 * a0/4, (s + a1)/-6, (s - a1)/-6, a0/24 + a1/12 + a2/6, a0/24 - a1/12 + a2/6, a2. (x/-6 is
 * -(x/6) exactly: division rounds symmetrically.)
 */
function filterTransform(
  f: FuncBuilder,
  a: readonly number[],
  out: readonly number[],
  k: Record<"q4" | "m6" | "q24" | "q12" | "q6", number>,
  s: number,
): void {
  const [a0, a1, a2] = a as [number, number, number];
  f.get(a0).get(a2).f64x2Add().set(s);
  f.get(a0).get(k.q4).f64x2Div().set(out[0]!);
  f.get(s).get(a1).f64x2Add().get(k.m6).f64x2Div().set(out[1]!);
  f.get(s).get(a1).f64x2Sub().get(k.m6).f64x2Div().set(out[2]!);
  f.get(a0).get(k.q24).f64x2Div().get(a1).get(k.q12).f64x2Div().f64x2Add();
  f.get(a2).get(k.q6).f64x2Div().f64x2Add().set(out[3]!);
  f.get(a0).get(k.q24).f64x2Div().get(a1).get(k.q12).f64x2Div().f64x2Sub();
  f.get(a2).get(k.q6).f64x2Div().f64x2Add().set(out[4]!);
  f.get(a2).set(out[5]!);
}

/**
 * wino4_filter(dst, w, C, N, cStride, nStride, flip, vecs, c0, c1, nEven): `winogradFilter4`
 * (winograd.ts) for the input channels [c0, c1) and the output channels [0, nEven) (nEven even),
 * two output channels at a time in float64 lanes, bitwise its result: U = G g G^T of each 3x3
 * filter into the forward GEMM's packed (36C) x N layout, in column blocks of `vecs` vectors.
 * Participants split the input channels, as for `wino_filter`.
 */
export function wino4Filter(): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(11).fill(I32));
  const [dst] = PARAMS;
  const l = filterPairLocals(f);
  const { c, width, col, stepB, at, g } = l;
  const gg = Array.from({ length: 18 }, () => f.local(V128)); // G g, 6 x 3
  const u = Array.from({ length: 6 }, () => f.local(V128));
  const s = f.local(V128);
  const k = {
    q4: f.local(V128),
    m6: f.local(V128),
    q24: f.local(V128),
    q12: f.local(V128),
    q6: f.local(V128),
  };
  const consts: [number, number][] = [[k.q4, 4], [k.m6, -6], [k.q24, 24], [k.q12, 12], [k.q6, 6]];
  for (const [local, v] of consts) f.i32x4Const(f64x2Bits(v)).set(local);
  filterPairLoop(f, l, 36, () => {
    for (let j = 0; j < 3; j++) {
      const column = [0, 1, 2, 3, 4, 5].map((i) => gg[i * 3 + j]!);
      filterTransform(f, [g[j]!, g[3 + j]!, g[6 + j]!], column, k, s);
    }
    f.get(dst).get(col).get(c).get(width).mul().add().i32(2).shl().add().set(at);
    for (let i = 0; i < 6; i++) {
      filterTransform(f, gg.slice(i * 3, i * 3 + 3), u, k, s);
      for (let j = 0; j < 6; j++) {
        f.get(at).get(u[j]!).f32x4DemoteF64x2Zero().v128Store64Lane(0);
        if (i < 5 || j < 5) f.get(at).get(stepB).add().set(at);
      }
    }
  });
  return f;
}

/**
 * Emits o = A y for four vectors y (locals) into six locals o (A = (A^T)^T, 6x4): o0 = y0,
 * o1 = (y0 + y2) + (y1 + y3), o2 = (y0 + y2) - (y1 + y3), o3 = (y0 + 4y2) + (2y1 + 8y3),
 * o4 = (y0 + 4y2) - (2y1 + 8y3), o5 = y3.
 */
function gradientTransform(
  f: FuncBuilder,
  y: readonly number[],
  o: readonly number[],
  k: { two: number; four: number; eight: number },
  tmp: readonly [number, number],
  fma: boolean,
): void {
  const [y0, y1, y2, y3] = y as [number, number, number, number];
  const [a, b] = tmp;
  f.get(y0).set(o[0]!);
  f.get(y0).get(y2).f32x4Add().set(a);
  f.get(y1).get(y3).f32x4Add().set(b);
  f.get(a).get(b).f32x4Add().set(o[1]!);
  f.get(a).get(b).f32x4Sub().set(o[2]!);
  // y0 + 4y2 and 2y1 + 8y3, each product exact
  mulAdd(f, fma, () => f.get(y2), k.four, () => f.get(y0));
  f.set(a);
  mulAdd(f, fma, () => f.get(y3), k.eight, () => f.get(y1).get(k.two).f32x4Mul());
  f.set(b);
  f.get(a).get(b).f32x4Add().set(o[3]!);
  f.get(a).get(b).f32x4Sub().set(o[4]!);
  f.get(y3).set(o[5]!);
}

/**
 * wino4_dy(dMT, dy, zp, t0, nT, T, outH, outW, N, Np, tH, tW, tmp): the transform of the output
 * gradient for the F(4x4, 3x3) kernel gradient, as `wino_dy` for F(2x2, 3x3): the forward
 * computes y = A^T m A per 4x4 output tile, so the gradient of the GEMM's output m is
 * A dy A^T (6x6 from the tile's 4x4 dy), stored transposed, dMT = [36][Np][T] (position,
 * channel, tile of the block), four tiles at a time. Per channel vector each tile's 36 values go
 * to `tmp` (4 x 36 vectors, 2,304 bytes of the caller's scratch) and are then transposed four
 * tiles by four channels in registers. Outputs past outH or outW, and tiles past nT (up to a
 * multiple of 4, which T must be), read the zero vector at `zp`; lanes past N hold garbage that
 * only the discarded columns of the result depend on.
 */
export function wino4Dy(fma: boolean): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(13).fill(I32));
  const [dMT, dy, zp, t0, nT, T, outH, outW, N, Np, tH, tW, tmp] = PARAMS;
  const g = f.local(I32), t = f.local(I32), q = f.local(I32), n = f.local(I32);
  const th = f.local(I32), tw = f.local(I32), rowB = f.local(I32), pixB = f.local(I32);
  const nv = f.local(I32), v = f.local(I32), off = f.local(I32), laneB = f.local(I32);
  const posB = f.local(I32), dst = f.local(I32), okT = f.local(I32), base = f.local(I32);
  const laneOff = [f.local(I32), f.local(I32), f.local(I32)]; // 1, 2, 3 channel rows of dMT
  const rowOk = Array.from({ length: 4 }, () => f.local(I32));
  const colOk = Array.from({ length: 4 }, () => f.local(I32));
  const src = Array.from({ length: 64 }, () => f.local(I32)); // [tile][4 x 4 outputs]
  const y = Array.from({ length: 16 }, () => f.local(V128));
  const c = Array.from({ length: 24 }, () => f.local(V128)); // A dy, 6 x 4
  const o = Array.from({ length: 6 }, () => f.local(V128));
  const e = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const tr = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const ta = f.local(V128), tb = f.local(V128);
  const k = { two: f.local(V128), four: f.local(V128), eight: f.local(V128) };
  splatConst(f, k.two, F32_2);
  splatConst(f, k.four, F32_4);
  splatConst(f, k.eight, F32_8);
  f.get(outW).get(N).mul().i32(2).shl().set(rowB);
  f.get(N).i32(2).shl().set(pixB);
  f.get(N).i32(3).add().i32(2).shrU().set(nv);
  f.get(T).i32(2).shl().set(laneB); // one channel row of dMT
  f.get(Np).get(laneB).mul().set(posB);
  for (let l = 1; l < 4; l++) f.get(laneB).i32(l).mul().set(laneOff[l - 1]!);
  f.i32(0).set(g);
  f.block().loop(); // over groups of 4 tiles
  f.get(g).get(nT).geS().brIf(1);
  for (let j = 0; j < 4; j++) {
    f.get(g).i32(j).add().get(nT).ltS().set(okT);
    f.get(t0).get(g).add().i32(j).add().set(t);
    tileCoords(f, t, tH, tW, q, n, th, tw);
    f.get(dy).get(n).get(outH).mul().get(th).i32(2).shl().add().get(outW).mul().get(tw).i32(2).shl()
      .add().get(pixB).mul().add().set(base);
    for (let i = 0; i < 4; i++) {
      f.get(okT).get(th).i32(2).shl().i32(i).add().get(outH).ltS().and().set(rowOk[i]!);
      f.get(tw).i32(2).shl().i32(i).add().get(outW).ltS().set(colOk[i]!);
    }
    // The tile's 16 dy addresses (or zp), once per group rather than per channel vector.
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) {
        f.get(base).get(rowB).i32(a).mul().add().get(pixB).i32(b).mul().add();
        f.get(zp).get(rowOk[a]!).get(colOk[b]!).and().select().set(src[j * 16 + a * 4 + b]!);
      }
    }
  }
  f.i32(0).set(v);
  f.block().loop(); // over channel vectors
  f.get(v).get(nv).geS().brIf(1);
  f.get(v).i32(4).shl().set(off);
  for (let j = 0; j < 4; j++) {
    for (let ab = 0; ab < 16; ab++) f.get(src[j * 16 + ab]!).get(off).add().v128Load().set(y[ab]!);
    // Columns: c[i][b] = (A dy)[i][b]; then rows: (c A^T)[i][k] into tmp[j][6i + k].
    for (let b = 0; b < 4; b++) {
      const col = [0, 1, 2, 3, 4, 5].map((i) => c[i * 4 + b]!);
      gradientTransform(f, [y[b]!, y[4 + b]!, y[8 + b]!, y[12 + b]!], col, k, [ta, tb], fma);
    }
    for (let i = 0; i < 6; i++) {
      gradientTransform(f, c.slice(i * 4, i * 4 + 4), o, k, [ta, tb], fma);
      for (let kk = 0; kk < 6; kk++) f.get(tmp).get(o[kk]!).v128Store((j * 36 + i * 6 + kk) * 16);
    }
  }
  // dMT row of position p, channel 4v + lane, tiles g..g+3: `dst` walks the positions.
  f.get(dMT).get(v).i32(2).shl().get(laneB).mul().add().get(g).i32(2).shl().add().set(dst);
  for (let p = 0; p < 36; p++) {
    for (let j = 0; j < 4; j++) f.get(tmp).v128Load((j * 36 + p) * 16).set(e[j]!);
    // 4 tiles x 4 channels -> 4 channels x 4 tiles.
    f.get(e[0]!).get(e[1]!).f32x4Shuffle([0, 4, 1, 5]).set(tr[0]!);
    f.get(e[0]!).get(e[1]!).f32x4Shuffle([2, 6, 3, 7]).set(tr[1]!);
    f.get(e[2]!).get(e[3]!).f32x4Shuffle([0, 4, 1, 5]).set(tr[2]!);
    f.get(e[2]!).get(e[3]!).f32x4Shuffle([2, 6, 3, 7]).set(tr[3]!);
    for (let lane = 0; lane < 4; lane++) {
      const [a, b] = lane < 2 ? [tr[0]!, tr[2]!] : [tr[1]!, tr[3]!];
      const lanes: [number, number, number, number] = lane % 2 === 0 ? [0, 1, 4, 5] : [2, 3, 6, 7];
      f.get(dst);
      if (lane > 0) f.get(laneOff[lane - 1]!).add();
      f.get(a).get(b).f32x4Shuffle(lanes).v128Store();
    }
    if (p < 35) f.get(dst).get(posB).add().set(dst);
  }
  f.get(v).i32(1).add().set(v);
  f.br(0).end().end();
  f.get(g).i32(4).add().set(g);
  f.br(0).end().end();
  return f;
}

/**
 * Emits G^T u for six f64x2 locals u into three f64x2 locals, with the operations of
 * `winograd.ts`'s `transformGT` in its order: s = u1 + u2, t = u3 + u4, then
 * (u0/4 - s/6) + t/24, (u2 - u1)/6 + (u3 - u4)/12, (t - s)/6 + u5.
 */
function gradientFilterTransform(
  f: FuncBuilder,
  u: readonly number[],
  out: readonly number[],
  k: Record<"q4" | "q6" | "q12" | "q24", number>,
  tmp: readonly [number, number],
): void {
  const [u0, u1, u2, u3, u4, u5] = u as [number, number, number, number, number, number];
  const [s, t] = tmp;
  f.get(u1).get(u2).f64x2Add().set(s);
  f.get(u3).get(u4).f64x2Add().set(t);
  f.get(u0).get(k.q4).f64x2Div().get(s).get(k.q6).f64x2Div().f64x2Sub();
  f.get(t).get(k.q24).f64x2Div().f64x2Add().set(out[0]!);
  f.get(u2).get(u1).f64x2Sub().get(k.q6).f64x2Div();
  f.get(u3).get(u4).f64x2Sub().get(k.q12).f64x2Div().f64x2Add().set(out[1]!);
  f.get(t).get(s).f64x2Sub().get(k.q6).f64x2Div().get(u5).f64x2Add().set(out[2]!);
}

/**
 * wino4_filter_grad(dw, acc, C, N, Np, B, c0, c1, nEven): `winogradFilterGradient4`
 * (winograd.ts) for the input channels [c0, c1) and the output channels [0, nEven) (nEven even),
 * two output channels at a time in float64 lanes, bitwise its result: dw += G^T dU G of each
 * channel pair, dU read from the F(4x4, 3x3) kernel-gradient accumulators (summed first).
 */
export function wino4FilterGrad(): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(9).fill(I32));
  const [dw, , , N] = PARAMS;
  const l = gradientPairLocals(f, 36);
  const { n, c, cnB, at, u } = l;
  const z = Array.from({ length: 18 }, () => f.local(V128)); // G^T dU, 3 x 6
  const r = [f.local(V128), f.local(V128), f.local(V128)];
  const tmp = [f.local(V128), f.local(V128)] as const;
  const k = { q4: f.local(V128), q6: f.local(V128), q12: f.local(V128), q24: f.local(V128) };
  const consts: [number, number][] = [[k.q4, 4], [k.q6, 6], [k.q12, 12], [k.q24, 24]];
  for (const [local, v] of consts) f.i32x4Const(f64x2Bits(v)).set(local);
  gradientPairLoop(f, l, () => {
    for (let col = 0; col < 6; col++) {
      const column = [0, 1, 2, 3, 4, 5].map((i) => u[6 * i + col]!);
      gradientFilterTransform(f, column, [z[col]!, z[6 + col]!, z[12 + col]!], k, tmp);
    }
    f.get(dw).get(c).get(N).mul().get(n).add().i32(2).shl().add().set(at);
    for (let kh = 0; kh < 3; kh++) {
      gradientFilterTransform(f, z.slice(kh * 6, kh * 6 + 6), r, k, tmp);
      for (let kw = 0; kw < 3; kw++) {
        // dw[at] += r[kw] for the pair: promote, add in float64, round once
        f.get(at).get(at).v128Load64Zero().f64x2PromoteLowF32x4();
        f.get(r[kw]!).f64x2Add().f32x4DemoteF64x2Zero().v128Store64Lane(0);
        if (kh < 2 || kw < 2) f.get(at).get(cnB).add().set(at);
      }
    }
  });
  return f;
}
