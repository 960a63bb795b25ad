/**
 * Generates the WebAssembly SIMD128 kernels. Every heavy kernel of the engine reduces to one
 * register-tiled GEMM loop: a tile of `rows` x `vecs` vectors of accumulators, per step one
 * broadcast load per row, one vector load per column vector and rows x vecs multiply-adds, with
 * both operands walked contiguously (unrolled 4 times: the loop's own overhead costs as much as
 * one step's arithmetic).
 *
 * - `conv_plan`: a direct convolution over a pixel plan (`plans.ts`): M = output pixels (each
 *   with its own input and output address, so any pixels with the same valid kernel rectangle
 *   share a tile), N = output channels, K = the taps of the rectangle walked kernel row by kernel
 *   row; the (kw, ci) taps of a kernel row are contiguous in the input and in the packed
 *   weights. Forward with any padding and stride, the input gradient (stride 1) and the dense
 *   layer are all plans.
 * - `conv_dw`: the kernel gradient as dW^T[co][tap] = sum over pixels of dY^T[co][p] X[p][tap],
 *   per chunk of pixels: dy transposed, the taps of each block of 4*vecs packed, then tiles of
 *   output channels; `conv_dw_taps` mirrors it (tap rows) for layers with few taps, and
 *   `conv_dw_direct` reduces in place over the pixel list with nothing packed, for one input
 *   channel (the first layer), where packing 9 taps per pixel costs as much as the arithmetic.
 * - `conv_c1`: the forward of a valid 3x3 stride-1 one-channel convolution, the 9 tap weight
 * vectors in registers and groups of pixels broadcast (the first layer: 1.4 -> 0.96 ms).
 * - `dense_dw`: a dense layer's kernel gradient split by rows of dw, each chunk's sum and the
 *   running sum of chunks in registers (bitwise the `conv_dw` route over the same chunks).
 * - `maxpool_fwd` / `maxpool_bwd`: max pooling with argmax, and its scatter; `maxpool_bwd2` the
 *   backward of a 2x2 stride-2 pooling writing each window once, a relu's backward folded in.
 * - `wino_in` / `wino_gemm` / `wino_out`: the Winograd F(2x2, 3x3) forward, transforms around a
 *   batched GEMM over the 16 transform positions (the `conv_dw` tiles); `wino_out` also pools
 *   (with the argmax when training) or masks an input gradient by a relu's output; `wino_in`,
 *   `wino_dy` and `wino_dw` the kernel gradient by the same algorithm (its GEMM on the `conv_dw`
 *   tiles); `wino_filter` / `wino_filter_grad` the filter transforms (float64 lanes, bitwise the
 *   TypeScript ones in `winograd.ts`). The F(4x4, 3x3) variants (`wino4_*`, in
 *   `winograd4_codegen.ts`) share `wino_gemm` and `wino_dw`, run over 36 positions.
 * - `relu_fwd` / `relu_bwd`, `colsum` (bias gradient), `vsum` (accumulator reduction),
 *   `rmsprop` (the optimizer's update, in float64 as the TypeScript one), `all_finite` (the
 *   training step's NaN check), `pack` and `pack_t` (weights into the drivers' layouts).
 *
 * The register tile is a parameter. With relaxed SIMD the accumulators, the weight vectors and
 * one broadcast input fit V8's 15 usable xmm registers at 6x8; with a separate multiply and add
 * one more temporary is live, so the default tile there is smaller.
 *
 * Tails: packed weights and bias are zero-padded to whole vectors, and the last vector of an
 * output row is written lane by lane when the channel count is not a multiple of 4; tiles with
 * fewer rows or vectors are separate generated functions, so every shape takes a full-speed path
 * for its bulk and a correct path for its edges.
 *
 * @module
 */

import { assembleModule, FuncBuilder, I32, type ModuleFunc, V128 } from "./assembler.ts";
import {
  filterPairLocals,
  filterPairLoop,
  firstOf,
  gradientPairLocals,
  gradientPairLoop,
  type Indices,
  madd,
  minDiff,
  nextChannelVector,
  PARAMS,
  patchTaps,
  reluIf,
  storeTail,
  tileCoords,
} from "./emit.ts";
import { wino4Dy, wino4Filter, wino4FilterGrad, wino4In, wino4Out } from "./winograd4_codegen.ts";

/** Register-tile sizes: `rows` output pixels (or taps) by `vecs` vectors of 4 output channels. */
export interface Tile {
  /** Output pixels (or taps) per tile. */
  readonly rows: number;
  /** 4-lane vectors of output channels per tile. */
  readonly vecs: number;
}

/** Options of {@linkcode generateKernelModule}. */
export interface KernelModuleOptions {
  /** Use `f32x4.relaxed_madd` (fused where the CPU has FMA) instead of mul + add. */
  readonly relaxed: boolean;
  /** Register tile of the forward / input-gradient GEMM. */
  readonly fwdTile: Tile;
  /** Register tile of the kernel-gradient GEMM. */
  readonly dwTile: Tile;
  /** Unroll factor of the forward kernel's inner (tap) loop. */
  readonly unroll: number;
  /** Limits of the imported shared memory, in 64 KiB pages. */
  readonly initialPages: number;
  readonly maximumPages: number;
}

/** Default tiles: 6x8 with relaxed FMA, 3x12 (no spill with a live product temporary) without. */
export function defaultTiles(relaxed: boolean): { fwdTile: Tile; dwTile: Tile } {
  return relaxed
    ? { fwdTile: { rows: 6, vecs: 2 }, dwTile: { rows: 6, vecs: 2 } }
    : { fwdTile: { rows: 3, vecs: 3 }, dwTile: { rows: 3, vecs: 3 } };
}

/**
 * One forward tile: `r` output pixels x `c` channel vectors over the taps of a rectangle of the
 * kernel. Every pixel comes with its own output and input address, so a tile can gather any
 * pixels that share the same valid kernel rectangle (the interior of an image, one border column
 * down all rows, ...): that is what lets padded convolutions and the input gradient skip the
 * zero taps instead of multiplying them, and keeps tiles full on narrow outputs.
 *
 * The taps of one kernel row, (kw, ci) for kw in the rectangle, are contiguous in the input and
 * in the packed weights, so the inner loop is one pointer walk of `L` floats; after each kernel
 * row the input pointers move to the next input row (`rowBytes`) and the weight pointer skips
 * the columns of the kernel outside the rectangle (`wSkip` bytes). `kH = 0` (a window entirely
 * in the padding) leaves the bias.
 *
 * The pixels' addresses are read from the plan's (yOffset, xOffset) pairs at `pp`: the output
 * addresses only after the loop, so they hold no registers while it runs (passing all of them as
 * parameters cost ~25% of the speed through spills).
 *
 * Params: pp, yb, x, wp, bp, nlast, kH, rowBytes, L, wSkip, relu (non-zero: relu the outputs).
 */
function fwdTile(r: number, c: number, relaxed: boolean, unroll: number): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(11).fill(I32));
  const [pp, yb, x, wp, bp, nlast, kH, rowBytes, L, wSkip, relu] = PARAMS;
  const a: number[] = [];
  for (let i = 0; i < r; i++) a.push(f.local(I32));
  const ya = f.local(I32);
  const acc: number[] = [];
  for (let k = 0; k < r * c; k++) acc.push(f.local(V128));
  const w: number[] = [];
  for (let j = 0; j < c; j++) w.push(f.local(V128));
  const xs = f.local(V128);
  const kh = f.local(I32), end = f.local(I32), mainEnd = f.local(I32), back = f.local(I32);
  for (let i = 0; i < r; i++) f.get(x).get(pp).i32Load(8 * i + 4).add().set(a[i]!);
  for (let j = 0; j < c; j++) {
    f.get(bp).v128Load(j * 16).set(acc[j]!);
    for (let i = 1; i < r; i++) f.get(acc[j]!).set(acc[i * c + j]!);
  }
  const body = (u: number) => {
    for (let j = 0; j < c; j++) f.get(wp).v128Load((u * c + j) * 16).set(w[j]!);
    for (let i = 0; i < r; i++) {
      f.get(a[i]!).v128Load32Splat(u * 4).set(xs);
      for (let j = 0; j < c; j++) madd(f, relaxed, acc[i * c + j]!, xs, w[j]!);
    }
  };
  const advance = (bytes: number) => {
    for (let i = 0; i < r; i++) f.get(a[i]!).i32(bytes).add().set(a[i]!);
    f.get(wp).i32((bytes / 4) * c * 16).add().set(wp);
  };
  // After a kernel row the pixel pointers have walked L floats: step to the next input row.
  f.get(rowBytes).get(L).i32(2).shl().sub().set(back);
  f.get(kH).set(kh);
  f.block();
  f.get(kh).eqz().brIf(0);
  f.loop(); // over kernel rows
  f.get(a[0]!).get(L).i32(2).shl().add().tee(end).i32(unroll * 4).sub().set(mainEnd);
  // Unrolled walk over the contiguous (kw, ci) taps of this kernel row.
  f.block().loop();
  f.get(a[0]!).get(mainEnd).gtS().brIf(1);
  for (let u = 0; u < unroll; u++) body(u);
  advance(unroll * 4);
  f.br(0).end().end();
  // Remainder taps, one at a time.
  f.block().loop();
  f.get(a[0]!).get(end).geS().brIf(1);
  body(0);
  advance(4);
  f.br(0).end().end();
  for (let i = 0; i < r; i++) f.get(a[i]!).get(back).add().set(a[i]!);
  f.get(wp).get(wSkip).add().set(wp);
  f.get(kh).i32(1).sub().tee(kh).brIf(0);
  f.end();
  f.end();
  reluIf(f, relu, acc);
  // Store; the last vector may be partial (channel count not a multiple of 4).
  for (let i = 0; i < r; i++) {
    f.get(yb).get(pp).i32Load(8 * i).add().set(ya);
    for (let j = 0; j < c - 1; j++) f.get(ya).get(acc[i * c + j]!).v128Store(j * 16);
    storeTail(f, ya, acc[i * c + c - 1]!, (c - 1) * 16, () => f.get(nlast).i32(4).eq(), nlast);
  }
  return f;
}

/** Pixels per chunk of the plan driver: all weight blocks run over one chunk at a time. */
const FWD_CHUNK_TILES = 16;

/** Int32 slots of a plan's header; class records follow it. */
export const PLAN_HEADER_INTS = 4;
/** Int32 slots per class record: tapStart, kH, L, skipTaps, count, listByteOffset, (2 unused). */
export const PLAN_CLASS_INTS = 8;

/**
 * The plan driver of `conv_plan`: runs participant `part` of `parts`'s share of every pixel class
 * of a plan (see `plans.ts`). A class is a set of output pixels whose valid kernel rectangle is
 * the same: `tapStart` (first tap of the rectangle in the K order), `kH` kernel rows of `L`
 * contiguous taps, `skipTaps` taps skipped per kernel row, and `count` (yOffset, xOffset) byte
 * pairs. Each class's list is split evenly between the participants, so every share has the same
 * mix of cheap border pixels and full interior ones.
 *
 * Params: plan, y, x, wp, bp, N (output channels), K (taps of the full kernel), rowBytes, part,
 * parts, relu (non-zero: the outputs go through relu). Packed weights: per block of `vecs`
 * vectors, K rows of `4*vecs` floats (the last block may be narrower). Per chunk of pixels, each
 * weight block sweeps the chunk in tiles of `rows`.
 */
function planDriver(tile: Tile, firstTile: number): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(11).fill(I32));
  const [plan, y, x, wp, bp, N, K, rowBytes, part, parts, relu] = PARAMS;
  const R = tile.rows, C = tile.vecs;
  const nVec = f.local(I32), nCls = f.local(I32), cls = f.local(I32), rec = f.local(I32);
  const count = f.local(I32), s1 = f.local(I32), list = f.local(I32);
  const tapStart = f.local(I32), nkh = f.local(I32), Lp = f.local(I32), skip = f.local(I32);
  const q0 = f.local(I32), chunkEnd = f.local(I32), cb = f.local(I32), cc = f.local(I32);
  const nlast = f.local(I32), wpb = f.local(I32), bpb = f.local(I32), skipB = f.local(I32);
  const q = f.local(I32), rr = f.local(I32), pp = f.local(I32), yb = f.local(I32);
  f.get(N).i32(3).add().i32(2).shrU().set(nVec);
  f.get(plan).i32Load().set(nCls);
  f.i32(0).set(cls);
  f.block().loop(); // over classes
  f.get(cls).get(nCls).geS().brIf(1);
  f.get(plan).i32(PLAN_HEADER_INTS * 4).add().get(cls).i32(PLAN_CLASS_INTS * 4).mul().add().set(
    rec,
  );
  f.get(rec).i32Load(0).set(tapStart);
  f.get(rec).i32Load(4).set(nkh);
  f.get(rec).i32Load(8).set(Lp);
  f.get(rec).i32Load(12).set(skip);
  f.get(rec).i32Load(16).set(count);
  f.get(plan).get(rec).i32Load(20).add().set(list);
  // This participant's share [q0, s1) of the class's pixels.
  f.get(count).get(part).mul().get(parts).divU().set(q0);
  f.get(count).get(part).i32(1).add().mul().get(parts).divU().set(s1);
  f.block().loop(); // over chunks
  f.get(q0).get(s1).geS().brIf(1);
  f.get(q0).i32(R * FWD_CHUNK_TILES).add().tee(chunkEnd).get(s1).get(chunkEnd).get(s1).ltS()
    .select().set(chunkEnd);
  f.i32(0).set(cb);
  f.block().loop(); // over weight blocks
  f.get(cb).get(nVec).geS().brIf(1);
  minDiff(f, cc, C, nVec, cb);
  f.i32(4).get(N).get(nVec).i32(1).sub().i32(2).shl().sub();
  f.get(cb).get(cc).add().get(nVec).ne().select().set(nlast);
  f.get(wp).get(cb).get(K).mul().i32(4).shl().add();
  f.get(tapStart).get(cc).mul().i32(4).shl().add().set(wpb);
  f.get(bp).get(cb).i32(4).shl().add().set(bpb);
  f.get(skip).get(cc).mul().i32(4).shl().set(skipB);
  f.get(y).get(cb).i32(4).shl().add().set(yb);
  f.get(q0).set(q);
  f.block().loop(); // over tiles of the chunk
  f.get(q).get(chunkEnd).geS().brIf(1);
  minDiff(f, rr, R, chunkEnd, q);
  f.get(list).get(q).i32(3).shl().add().set(pp);
  const shapes: { cond: () => void; body: () => void }[] = [];
  for (let r = R; r >= 1; r--) {
    for (let c = C; c >= 1; c--) {
      shapes.push({
        cond: () => f.get(rr).i32(r).eq().get(cc).i32(c).eq().and(),
        body: () => {
          f.get(pp).get(yb).get(x).get(wpb).get(bpb).get(nlast).get(nkh).get(rowBytes).get(Lp);
          f.get(skipB).get(relu);
          f.call(firstTile + (r - 1) * C + (c - 1));
        },
      });
    }
  }
  firstOf(f, shapes);
  f.get(q).i32(R).add().set(q);
  f.br(0).end().end();
  f.get(cb).i32(C).add().set(cb);
  f.br(0).end().end();
  f.get(chunkEnd).set(q0);
  f.br(0).end().end();
  f.get(cls).i32(1).add().set(cls);
  f.br(0).end().end();
  return f;
}

/**
 * One kernel-gradient tile, a GEMM tile of the transposed problem dW^T[co][tap] += sum over
 * pixels p of dY^T[co][p] * X[p][tap]: `r` output channels x `c` vectors of taps, the reduction
 * over the pixels of a chunk walking contiguous memory in both operands: `dyT` rows (one per
 * channel, `aStride` bytes apart, read as broadcasts) and the chunk's packed taps (`wp`, 4c floats
 * per pixel). It is the forward tile's loop, with the accumulators loaded from and stored back to
 * `y` (rows of 4c floats). An earlier version reduced over the pixels in place (x and dy read at
 * their pixel strides) and never passed ~57% of peak.
 * Params: a0, aStride, wp, y, L (pixels, >= 1).
 *
 * With `overwrite`, the same loop is the Winograd forward's GEMM tile (`wino_gemm`): `r` rows of
 * V (broadcast) times `c` vectors of the packed transformed filter over L taps, the
 * accumulators starting from zero and stored to `r` rows of M `yStride` bytes apart (an extra
 * parameter), or, when the last parameter `add` is non-zero, added to what M holds (the sum of
 * the earlier blocks of taps). Rows at a fixed stride need no pixel plan, and the 32-tap
 * reduction of conv2 spends less of the tile on its prologue and epilogue than `conv_plan`'s
 * tiles do.
 */
function dwTile(
  r: number,
  c: number,
  relaxed: boolean,
  unroll: number,
  overwrite = false,
): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(overwrite ? 7 : 5).fill(I32));
  const [a0, aStride, wp, y, L, yStride, add] = PARAMS;
  const a: number[] = [];
  for (let i = 0; i < r; i++) a.push(f.local(I32));
  const acc: number[] = [];
  for (let k = 0; k < r * c; k++) acc.push(f.local(V128));
  const w: number[] = [];
  for (let j = 0; j < c; j++) w.push(f.local(V128));
  const xs = f.local(V128);
  const end = f.local(I32), mainEnd = f.local(I32);
  f.get(a0).set(a[0]!);
  for (let i = 1; i < r; i++) f.get(a[i - 1]!).get(aStride).add().set(a[i]!);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c; j++) {
      if (overwrite) f.v128Zero().set(acc[i * c + j]!);
      else f.get(y).v128Load((i * c + j) * 16).set(acc[i * c + j]!);
    }
  }
  const body = (u: number) => {
    for (let j = 0; j < c; j++) f.get(wp).v128Load((u * c + j) * 16).set(w[j]!);
    for (let i = 0; i < r; i++) {
      f.get(a[i]!).v128Load32Splat(u * 4).set(xs);
      for (let j = 0; j < c; j++) madd(f, relaxed, acc[i * c + j]!, xs, w[j]!);
    }
  };
  const advance = (bytes: number) => {
    for (let i = 0; i < r; i++) f.get(a[i]!).i32(bytes).add().set(a[i]!);
    f.get(wp).i32((bytes / 4) * c * 16).add().set(wp);
  };
  f.get(a[0]!).get(L).i32(2).shl().add().tee(end).i32(unroll * 4).sub().set(mainEnd);
  f.block().loop();
  f.get(a[0]!).get(mainEnd).gtS().brIf(1);
  for (let u = 0; u < unroll; u++) body(u);
  advance(unroll * 4);
  f.br(0).end().end();
  f.block().loop();
  f.get(a[0]!).get(end).geS().brIf(1);
  body(0);
  advance(4);
  f.br(0).end().end();
  const store = (addTo: boolean) => {
    for (let i = 0; i < r; i++) {
      if (overwrite && i > 0) f.get(y).get(yStride).add().set(y);
      for (let j = 0; j < c; j++) {
        const at = overwrite ? j * 16 : (i * c + j) * 16;
        f.get(y);
        if (addTo) f.get(y).v128Load(at);
        f.get(acc[i * c + j]!);
        if (addTo) f.f32x4Add();
        f.v128Store(at);
      }
    }
  };
  if (overwrite) {
    f.get(add).if_();
    store(true);
    f.else_();
    store(false);
    f.end();
  } else store(false);
  return f;
}

/**
 * wino_gemm(M, V, wp, nT, T, C, Cp, N, Np, P): the batched GEMM of the Winograd forward, M[xi] =
 * V[xi] U[xi] for the P transform positions (16 for F(2x2, 3x3), 36 for F(4x4, 3x3)) over the
 * nT tiles of a block: V is [P][T][Cp] (`wino_in`, `wino4_in`), M [P][T][Np] (`wino_out` or
 * `wino4_out` reads it; its lanes past N are written and never read), U the transformed filter
 * packed as `conv_plan`'s weights for a (P*C) x N matrix. Tiles of
 * `rows` tiles x up to `vecs` channel vectors (`dwTile` with `overwrite`), the full tile first.
 */
function winoGemm(tile: Tile, firstTile: number): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(10).fill(I32));
  const [M, V, wp, nT, T, C, Cp, N, Np, P] = PARAMS;
  const R = tile.rows, CV = tile.vecs;
  const nVec = f.local(I32), K = f.local(I32), p = f.local(I32), cb = f.local(I32);
  const cc = f.local(I32), wpb = f.local(I32), t = f.local(I32), rr = f.local(I32);
  const aStride = f.local(I32), yStride = f.local(I32), aP = f.local(I32), yP = f.local(I32);
  const kb = f.local(I32), kl = f.local(I32);
  f.get(N).i32(3).add().i32(2).shrU().set(nVec);
  f.get(C).get(P).mul().set(K); // P*C taps
  f.get(Cp).i32(2).shl().set(aStride);
  f.get(Np).i32(2).shl().set(yStride);
  f.i32(0).set(p);
  f.block().loop(); // over transform positions
  f.get(p).get(P).geS().brIf(1);
  f.get(V).get(p).get(T).mul().get(aStride).mul().add().set(aP);
  f.get(M).get(p).get(T).mul().get(yStride).mul().add().set(yP);
  f.i32(0).set(cb);
  f.block().loop(); // over weight blocks
  f.get(cb).get(nVec).geS().brIf(1);
  minDiff(f, cc, CV, nVec, cb);
  // Block cb: K rows of 4*cc floats after cb vectors' worth of earlier blocks; position p's
  // rows start at row p*C.
  f.get(wp).get(cb).get(K).mul().i32(4).shl().add();
  f.get(p).get(C).mul().get(cc).mul().i32(4).shl().add().set(wpb);
  f.i32(0).set(t);
  f.block().loop(); // over tiles of rows
  f.get(t).get(nT).geS().brIf(1);
  minDiff(f, rr, R, nT, t);
  const shapes: { cond: () => void; body: () => void }[] = [];
  for (let r = R; r >= 1; r--) {
    for (let c = CV; c >= 1; c--) {
      shapes.push({
        cond: () => f.get(rr).i32(r).eq().get(cc).i32(c).eq().and(),
        body: () => {
          // The C taps in blocks of WINO_GEMM_K_BLOCK, each block's sum added to M's.
          f.i32(0).set(kb);
          f.block().loop();
          f.get(aP).get(t).get(aStride).mul().add().get(kb).i32(2).shl().add().get(aStride);
          f.get(wpb).get(kb).get(cc).mul().i32(4).shl().add();
          f.get(yP).get(t).get(yStride).mul().add().get(cb).i32(4).shl().add();
          minDiff(f, kl, WINO_GEMM_K_BLOCK, C, kb);
          f.get(kl).get(yStride).get(kb);
          f.call(firstTile + (r - 1) * CV + (c - 1));
          f.get(kb).i32(WINO_GEMM_K_BLOCK).add().tee(kb).get(C).ltS().brIf(0);
          f.end().end();
        },
      });
    }
  }
  firstOf(f, shapes);
  f.get(t).i32(R).add().set(t);
  f.br(0).end().end();
  f.get(cb).i32(CV).add().set(cb);
  f.br(0).end().end();
  f.get(p).i32(1).add().set(p);
  f.br(0).end().end();
  return f;
}

/** Function indices of the kernels `wino_blocks` calls. */
interface WinoBlockKernels {
  in2: number;
  in4: number;
  gemm: number;
  out2: number;
  out4: number;
}

/**
 * wino_blocks(V, M, x, y, wp, bz, bias, b0, b1, T, tiles, C, Cp, N, Np, inH, inW, tH, tW, padT,
 * padL, outH, outW, relu, pool, arg, mask, f4): a Winograd convolution's blocks [b0, b1) of T
 * tiles, each through the input transform (`wino_in`, or `wino4_in` when f4), `wino_gemm` and the
 * output transform (`wino_out` / `wino4_out`), with the arguments the task's TypeScript passed
 * them block by block before: a block of conv2 is 6 tiles, so a training step made ~3,700 calls
 * from TypeScript into WebAssembly, ~0.3 ms of the single-thread step.
 */
function winoBlocks(k: WinoBlockKernels): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(28).fill(I32));
  const [
    V,
    M,
    x,
    y,
    wp,
    bz,
    bias,
    b0,
    b1,
    T,
    tiles,
    C,
    Cp,
    N,
    Np,
    inH,
    inW,
    tH,
    tW,
    padT,
    padL,
    outH,
    outW,
    relu,
    pool,
    arg,
    mask,
    f4,
  ] = PARAMS;
  const b = f.local(I32), t0 = f.local(I32), nT = f.local(I32), P = f.local(I32);
  const posBytes = f.local(I32), cp4 = f.local(I32);
  f.i32(36).i32(16).get(f4).select().set(P);
  f.get(T).get(Cp).mul().i32(2).shl().set(posBytes);
  f.get(Cp).i32(2).shl().set(cp4);
  f.get(b0).set(b);
  f.block().loop();
  f.get(b).get(b1).geS().brIf(1);
  f.get(b).get(T).mul().set(t0);
  // nT = min(T, tiles - t0)
  f.get(tiles).get(t0).sub().tee(nT).get(T).get(nT).get(T).ltS().select().set(nT);
  const transformIn = (fn: number) => {
    f.get(V).get(x).get(t0).get(nT).get(posBytes).get(inH).get(inW).get(C).get(tH).get(tW);
    f.get(padT).get(padL).get(bz).get(cp4).get(cp4).i32(0).call(fn);
  };
  const transformOut = (fn: number) => {
    f.get(y).get(M).get(bias).get(t0).get(nT).get(T).get(outH).get(outW).get(N).get(Np);
    f.get(tH).get(tW).get(relu).get(pool).get(arg).get(mask).call(fn);
  };
  f.get(f4).if_();
  transformIn(k.in4);
  f.else_();
  transformIn(k.in2);
  f.end();
  f.get(M).get(V).get(wp).get(nT).get(T).get(C).get(Cp).get(N).get(Np).get(P).call(k.gemm);
  f.get(f4).if_();
  transformOut(k.out4);
  f.else_();
  transformOut(k.out2);
  f.end();
  f.get(b).i32(1).add().set(b);
  f.br(0).end().end();
  return f;
}

/**
 * Taps per block of `wino_gemm`'s sums: each block is summed from zero in registers and then
 * added to M, so a long reduction (64 input channels and more) is a short sum of short sums. Most
 * of F(4x4, 3x3)'s rounding error is in these float32 sums over the input channels; blocks of 32
 * cut it by ~1.5x at 64 channels and ~2x at 256 in a float32 simulation, and leave the seed
 * CNN's conv2 (32 channels) as it was.
 */
const WINO_GEMM_K_BLOCK = 32;

/** Taps per block of the kernel-gradient accumulators (the tile's `vecs` x 4). */
export function dwTapBlock(tile: Tile): number {
  return tile.vecs * 4;
}

/**
 * The kernel-gradient driver for a chunk of `npix` output pixels (see `dwTile`). It transposes
 * the chunk's dy into `dyT` (outC rows of npix floats), then for every block of B = 4*vecs taps
 * of the K = kH*kW*inC taps (in the kernel's (kh, kw, ci) order), packs those taps of every pixel
 * contiguously (npix x B floats; the pixels' windows come from the offset list `lp`, so any
 * rows, strides and images mix) and runs the tiles of `rows` output channels over them. A block
 * inside one kernel row (every block, when kW*inC is a multiple of B) is copied as vectors;
 * one that straddles kernel rows (the first layer, with one input channel) is gathered tap by
 * tap through a table of the taps' offsets.
 *
 * Accumulators `acc`: [tap block][co][B] floats, ceil(K/B) blocks; the lanes of taps past K in
 * the last block hold garbage and are never reduced.
 * Params: acc, x, dy (the chunk's first pixel), lp (the chunk's offset list), npix (>= 1), outC,
 * inC, kH, kW, rowBytes, work (dyT, the packed taps, the tap table: see `dwWorkFloats`).
 */
function dwDriver(tile: Tile, firstTile: number): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(11).fill(I32));
  const [acc, x, dy, lp, npix, outC, inC, kH, kW, rowBytes, work] = PARAMS;
  const R = tile.rows, C = tile.vecs, B = C * 4;
  const L = f.local(I32), K = f.local(I32), nTB = f.local(I32), tb = f.local(I32);
  const co = f.local(I32), rr = f.local(I32), p = f.local(I32), src = f.local(I32);
  const dst = f.local(I32), dstEnd = f.local(I32), bp = f.local(I32), rowT = f.local(I32);
  const accRow = f.local(I32), t0 = f.local(I32), kh = f.local(I32), rem = f.local(I32);
  const table = f.local(I32), j = f.local(I32), t = f.local(I32), pix = f.local(I32);
  const p4 = f.local(I32), n4 = f.local(I32);
  const rows = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const tr = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  f.get(kW).get(inC).mul().set(L);
  f.get(kH).get(L).mul().set(K);
  f.get(K).i32(B - 1).add().i32(B).divU().set(nTB);
  f.get(npix).i32(2).shl().set(rowT);
  f.get(work).get(outC).get(rowT).mul().add().set(bp);
  f.get(bp).get(npix).i32(B * 4).mul().add().set(table);
  // dyT[co][p] = dy[p][co]: 4x4 blocks transposed in registers, scalar copies for the tails.
  f.get(npix).i32(-4).and().set(p4);
  f.get(outC).i32(-4).and().set(n4);
  f.i32(0).set(p);
  f.block().loop();
  f.get(p).get(p4).geS().brIf(1);
  f.i32(0).set(co);
  f.block().loop();
  f.get(co).get(n4).geS().brIf(1);
  f.get(dy).get(p).get(outC).mul().get(co).add().i32(2).shl().add().set(src);
  for (let i = 0; i < 4; i++) {
    f.get(src).v128Load().set(rows[i]!);
    if (i < 3) f.get(src).get(outC).i32(2).shl().add().set(src);
  }
  f.get(rows[0]!).get(rows[1]!).f32x4Shuffle([0, 4, 1, 5]).set(tr[0]!);
  f.get(rows[0]!).get(rows[1]!).f32x4Shuffle([2, 6, 3, 7]).set(tr[1]!);
  f.get(rows[2]!).get(rows[3]!).f32x4Shuffle([0, 4, 1, 5]).set(tr[2]!);
  f.get(rows[2]!).get(rows[3]!).f32x4Shuffle([2, 6, 3, 7]).set(tr[3]!);
  f.get(work).get(co).get(rowT).mul().add().get(p).i32(2).shl().add().set(dst);
  for (let i = 0; i < 4; i++) {
    const [a, b] = i < 2 ? [tr[0]!, tr[2]!] : [tr[1]!, tr[3]!];
    const lanes: [number, number, number, number] = i % 2 === 0 ? [0, 1, 4, 5] : [2, 3, 6, 7];
    f.get(dst).get(a).get(b).f32x4Shuffle(lanes).v128Store();
    if (i < 3) f.get(dst).get(rowT).add().set(dst);
  }
  f.get(co).i32(4).add().set(co);
  f.br(0).end().end();
  f.get(p).i32(4).add().set(p);
  f.br(0).end().end();
  const scalarCopy = (p0: () => void, c0: () => void, c1: () => void) => {
    p0();
    f.set(p);
    f.block().loop();
    f.get(p).get(npix).geS().brIf(1);
    c0();
    f.set(co);
    f.block().loop();
    f.get(co);
    c1();
    f.geS().brIf(1);
    f.get(work).get(co).get(rowT).mul().add().get(p).i32(2).shl().add();
    f.get(dy).get(p).get(outC).mul().get(co).add().i32(2).shl().add().f32Load().f32Store();
    f.get(co).i32(1).add().set(co);
    f.br(0).end().end();
    f.get(p).i32(1).add().set(p);
    f.br(0).end().end();
  };
  scalarCopy(() => f.i32(0), () => f.get(n4), () => f.get(outC)); // channels past n4
  scalarCopy(() => f.get(p4), () => f.i32(0), () => f.get(n4)); // pixels past p4
  f.i32(0).set(tb);
  f.block().loop();
  f.get(tb).get(nTB).geS().brIf(1);
  f.get(tb).i32(B).mul().tee(t0).get(L).divU().tee(kh).get(L).mul().set(rem);
  f.get(t0).get(rem).sub().set(rem); // t0 = kh*L + rem
  f.get(bp).set(dst).get(lp).set(src);
  f.get(bp).get(npix).i32(B * 4).mul().add().set(dstEnd);
  f.get(rem).i32(B).add().get(L).leS().if_();
  // Inside one kernel row: vector copies.
  f.get(x).get(kh).get(rowBytes).mul().add().get(rem).i32(2).shl().add().set(t);
  f.loop();
  f.get(t).get(src).i32Load().add().set(pix);
  for (let v = 0; v < C; v++) f.get(dst).get(pix).v128Load(v * 16).v128Store(v * 16);
  f.get(src).i32(4).add().set(src);
  f.get(dst).i32(B * 4).add().tee(dst).get(dstEnd).ltS().brIf(0);
  f.end();
  f.else_();
  // Straddling kernel rows: the taps' offsets into a table, then a gather per pixel (taps past
  // K read the first tap: any finite value will do, their lanes are never reduced).
  f.i32(0).set(j);
  f.loop();
  f.get(t0).get(j).add().tee(t).get(K).geS().if_();
  f.i32(0).set(t);
  f.end();
  f.get(table).get(j).i32(2).shl().add();
  f.get(t).get(L).divU().tee(kh).get(rowBytes).mul().get(t).get(kh).get(L).mul().sub().i32(2).shl()
    .add();
  f.i32Store();
  f.get(j).i32(1).add().tee(j).i32(B).ltS().brIf(0);
  f.end();
  f.loop();
  f.get(x).get(src).i32Load().add().set(pix);
  for (let v = 0; v < B; v++) {
    f.get(dst).get(pix).get(table).i32Load(v * 4).add().f32Load().f32Store(v * 4);
  }
  f.get(src).i32(4).add().set(src);
  f.get(dst).i32(B * 4).add().tee(dst).get(dstEnd).ltS().brIf(0);
  f.end();
  f.end();
  f.get(acc).get(tb).get(outC).mul().i32(B * 4).mul().add().set(accRow);
  f.i32(0).set(co);
  f.block().loop();
  f.get(co).get(outC).geS().brIf(1);
  minDiff(f, rr, R, outC, co);
  firstOf(
    f,
    Array.from({ length: R }, (_, i) => R - i).map((r) => ({
      cond: () => f.get(rr).i32(r).eq(),
      body: () => {
        f.get(work).get(co).get(rowT).mul().add().get(rowT).get(bp);
        f.get(accRow).get(co).i32(B * 4).mul().add().get(npix);
        f.call(firstTile + r - 1);
      },
    })),
  );
  f.get(co).i32(R).add().set(co);
  f.br(0).end().end();
  f.get(tb).i32(1).add().set(tb);
  f.br(0).end().end();
  return f;
}

/**
 * The kernel-gradient driver for layers with fewer taps than output channels (the first layer:
 * 9 taps, 32 channels), the same GEMM with the roles mirrored: dW[tap][co] += sum over pixels of
 * xT[tap][p] * dY[p][co], tiles of `rows` taps x `vecs` channel vectors. It gathers the chunk's
 * K taps of every pixel into `xT` (K rows of npix floats, through a table of the taps' offsets),
 * then per block of B = 4*vecs channels packs the chunk's dy slice (npix x B floats) and runs
 * the tiles. Every lane does useful work here, where the channel-rows driver would pad 9 taps to
 * 16 and transpose 32 channels per pixel.
 *
 * Accumulators `acc`: [channel block][tap][B] floats (lanes past outC hold garbage).
 * Params: as `conv_dw`; work: xT, the packed dy, the tap table (see `dwWorkFloats`).
 */
function dwTapsDriver(tile: Tile, firstTile: number): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(11).fill(I32));
  const [acc, x, dy, lp, npix, outC, inC, kH, kW, rowBytes, work] = PARAMS;
  const R = tile.rows, C = tile.vecs, B = C * 4;
  const L = f.local(I32), K = f.local(I32), nCB = f.local(I32), cb = f.local(I32);
  const t = f.local(I32), rr = f.local(I32), p = f.local(I32), src = f.local(I32);
  const dst = f.local(I32), dstEnd = f.local(I32), dyP = f.local(I32), rowT = f.local(I32);
  const table = f.local(I32), kh = f.local(I32), pix = f.local(I32), accBlock = f.local(I32);
  f.get(kW).get(inC).mul().set(L);
  f.get(kH).get(L).mul().set(K);
  f.get(outC).i32(B - 1).add().i32(B).divU().set(nCB);
  f.get(npix).i32(2).shl().set(rowT);
  f.get(work).get(K).get(rowT).mul().add().set(dyP);
  f.get(dyP).get(npix).i32(B * 4).mul().add().set(table);
  // Offsets of the taps from a pixel's window start.
  f.i32(0).set(t);
  f.loop();
  f.get(table).get(t).i32(2).shl().add();
  f.get(t).get(L).divU().tee(kh).get(rowBytes).mul().get(t).get(kh).get(L).mul().sub().i32(2).shl()
    .add();
  f.i32Store();
  f.get(t).i32(1).add().tee(t).get(K).ltS().brIf(0);
  f.end();
  // xT[t][p] = the pixel's tap t.
  f.i32(0).set(p);
  f.loop();
  f.get(x).get(lp).get(p).i32(2).shl().add().i32Load().add().set(pix);
  f.get(work).get(p).i32(2).shl().add().set(dst);
  f.get(table).set(src);
  f.get(table).get(K).i32(2).shl().add().set(dstEnd);
  f.loop();
  f.get(dst).get(pix).get(src).i32Load().add().f32Load().f32Store();
  f.get(dst).get(rowT).add().set(dst);
  f.get(src).i32(4).add().tee(src).get(dstEnd).ltS().brIf(0);
  f.end();
  f.get(p).i32(1).add().tee(p).get(npix).ltS().brIf(0);
  f.end();
  f.i32(0).set(cb);
  f.block().loop();
  f.get(cb).get(nCB).geS().brIf(1);
  // Pack channels [cb*B, cb*B + B) of every pixel's dy (reading past outC is harmless).
  f.get(dy).get(cb).i32(B * 4).mul().add().set(src);
  f.get(dyP).tee(dst).get(npix).i32(B * 4).mul().add().set(dstEnd);
  f.loop();
  for (let v = 0; v < C; v++) f.get(dst).get(src).v128Load(v * 16).v128Store(v * 16);
  f.get(src).get(outC).i32(2).shl().add().set(src);
  f.get(dst).i32(B * 4).add().tee(dst).get(dstEnd).ltS().brIf(0);
  f.end();
  f.get(acc).get(cb).get(K).mul().i32(B * 4).mul().add().set(accBlock);
  f.i32(0).set(t);
  f.block().loop();
  f.get(t).get(K).geS().brIf(1);
  minDiff(f, rr, R, K, t);
  firstOf(
    f,
    Array.from({ length: R }, (_, i) => R - i).map((r) => ({
      cond: () => f.get(rr).i32(r).eq(),
      body: () => {
        f.get(work).get(t).get(rowT).mul().add().get(rowT).get(dyP);
        f.get(accBlock).get(t).i32(B * 4).mul().add().get(npix);
        f.call(firstTile + r - 1);
      },
    })),
  );
  f.get(t).i32(R).add().set(t);
  f.br(0).end().end();
  f.get(cb).i32(1).add().set(cb);
  f.br(0).end().end();
  return f;
}

/**
 * Taps per kernel row (`r`) and kernel rows (`kr`) of the largest `conv_dw_direct` tile whose
 * accumulators (kr x r taps x `vecs` vectors), dy vectors and broadcast fit V8's 15 usable xmm
 * registers (one fewer with a separate multiply and add).
 */
export function dwDirectTile(vecs: number, relaxed: boolean): { kr: number; r: number } {
  const maxTaps = Math.max(1, Math.floor((15 - (relaxed ? 1 : 2) - vecs) / vecs));
  const r = Math.min(3, maxTaps);
  return { kr: Math.max(1, Math.floor(maxTaps / r)), r };
}

/** Pixels per iteration of a `conv_dw_direct` tile's loop. */
const DW_DIRECT_UNROLL = 4;

/**
 * One `conv_dw_direct` tile: `kr` kernel rows x `r` consecutive taps of each row x `c` channel
 * vectors, summed over a list of pixels in place (x read at the pixels' windows, dy at their
 * rows), so nothing is gathered or packed. The accumulators of tap (k, i) live at
 * `accp + k*accRow + i*16c`.
 * Params: accp, x (the tile's first tap of the window at offset 0), dyp, lp, npix (>= 1),
 * dyStride, rowBytes, accRow.
 */
function dwDirectTileFn(kr: number, r: number, c: number, relaxed: boolean): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(8).fill(I32));
  const [accp, x, dyp, lp, npix, dyStride, rowBytes, accRow] = PARAMS;
  const acc: number[] = [];
  for (let k = 0; k < kr * r * c; k++) acc.push(f.local(V128));
  const d: number[] = [];
  for (let j = 0; j < c; j++) d.push(f.local(V128));
  const xs = f.local(V128);
  const aa = f.local(I32), end = f.local(I32), pix = f.local(I32), rp = f.local(I32);
  const mainEnd = f.local(I32);
  const at = (k: number, i: number, j: number) => acc[(k * r + i) * c + j]!;
  f.get(accp).set(aa);
  for (let k = 0; k < kr; k++) {
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < c; j++) f.get(aa).v128Load((i * c + j) * 16).set(at(k, i, j));
    }
    if (k < kr - 1) f.get(aa).get(accRow).add().set(aa);
  }
  const body = (lpOff: number) => {
    f.get(x).get(lp).i32Load(lpOff).add().set(pix);
    for (let j = 0; j < c; j++) f.get(dyp).v128Load(j * 16).set(d[j]!);
    for (let k = 0; k < kr; k++) {
      if (k === 1) f.get(pix).get(rowBytes).add().set(rp);
      if (k > 1) f.get(rp).get(rowBytes).add().set(rp);
      const row = k === 0 ? pix : rp;
      for (let i = 0; i < r; i++) {
        f.get(row).i32(i * 4).add().v128Load32Splat().set(xs);
        for (let j = 0; j < c; j++) madd(f, relaxed, at(k, i, j), xs, d[j]!);
      }
    }
    f.get(dyp).get(dyStride).add().set(dyp);
  };
  const U = DW_DIRECT_UNROLL;
  f.get(lp).get(npix).i32(2).shl().add().tee(end).i32(4 * (U - 1)).sub().set(mainEnd);
  f.block().loop();
  f.get(lp).get(mainEnd).geS().brIf(1);
  for (let u = 0; u < U; u++) body(u * 4);
  f.get(lp).i32(4 * U).add().set(lp);
  f.br(0).end().end();
  f.block().loop();
  f.get(lp).get(end).geS().brIf(1);
  body(0);
  f.get(lp).i32(4).add().set(lp);
  f.br(0).end().end();
  f.get(accp).set(aa);
  for (let k = 0; k < kr; k++) {
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < c; j++) f.get(aa).get(at(k, i, j)).v128Store((i * c + j) * 16);
    }
    if (k < kr - 1) f.get(aa).get(accRow).add().set(aa);
  }
  return f;
}

/**
 * The kernel-gradient driver for layers with few taps per kernel row and few input channels
 * (the first layer: one channel, 9 taps, 32 output channels): dW[tap][co] += sum over pixels of
 * x[window + tap] * dY[p][co] reduced in place over the chunk's pixel list, in tiles of
 * `kr` kernel rows x `r` taps x `vecs` channel vectors (`dwDirectTile`). Unlike `conv_dw_taps`
 * it copies nothing: with 9 taps, gathering and packing cost as much as the multiply-adds.
 *
 * Accumulators `acc`: [channel block][tap][B] floats, as `conv_dw_taps` (lanes past outC hold
 * garbage: the last block's dy vectors read past the pixel's row).
 * Params: as `conv_dw` (work unused).
 */
function dwDirectDriver(tile: Tile, relaxed: boolean, firstTile: number): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(11).fill(I32));
  const [acc, x, dy, lp, npix, outC, inC, kH, kW, rowBytes] = PARAMS;
  const C = tile.vecs, B = C * 4;
  const { kr: KR, r: R } = dwDirectTile(C, relaxed);
  const L = f.local(I32), K = f.local(I32), nCB = f.local(I32), cb = f.local(I32);
  const kh = f.local(I32), t0 = f.local(I32), krr = f.local(I32), rr = f.local(I32);
  f.get(kW).get(inC).mul().set(L);
  f.get(kH).get(L).mul().set(K);
  f.get(outC).i32(B - 1).add().i32(B).divU().set(nCB);
  f.i32(0).set(cb);
  f.block().loop();
  f.get(cb).get(nCB).geS().brIf(1);
  f.i32(0).set(kh);
  f.block().loop();
  f.get(kh).get(kH).geS().brIf(1);
  minDiff(f, krr, KR, kH, kh);
  f.i32(0).set(t0);
  f.block().loop();
  f.get(t0).get(L).geS().brIf(1);
  minDiff(f, rr, R, L, t0);
  for (let a = 1; a <= KR; a++) {
    for (let b = 1; b <= R; b++) {
      f.get(krr).i32(a).eq().get(rr).i32(b).eq().and().if_();
      f.get(acc).get(cb).get(K).mul().get(kh).get(L).mul().add().get(t0).add().i32(B * 4).mul()
        .add();
      f.get(x).get(kh).get(rowBytes).mul().add().get(t0).i32(2).shl().add();
      f.get(dy).get(cb).i32(B * 4).mul().add();
      f.get(lp).get(npix).get(outC).i32(2).shl().get(rowBytes).get(L).i32(B * 4).mul();
      f.call(firstTile + (a - 1) * R + (b - 1));
      f.end();
    }
  }
  f.get(t0).i32(R).add().set(t0);
  f.br(0).end().end();
  f.get(kh).i32(KR).add().set(kh);
  f.br(0).end().end();
  f.get(cb).i32(1).add().set(cb);
  f.br(0).end().end();
  return f;
}

/**
 * Output pixels per group of `conv_c1`: P accumulators + 3 weight vectors + a broadcast and a
 * quad of inputs (+ the product without FMA) in V8's 15 vector registers.
 */
function c1Group(relaxed: boolean): number {
  return relaxed ? 10 : 9;
}

/**
 * conv_c1(y, x, wp, bp, r0, r1, outH, outW, inH, inW, N, relu): the forward of a valid 3x3 stride-1
 * convolution of a one-channel input (the first layer) over output rows [r0, r1) (flat over
 * image and row), N a multiple of 4. Each row is cut in ceil(outW / P) groups of even sizes (at
 * most P pixels), and each group runs every vector of 4 output channels in turn, its p
 * outputs in p registers: per kernel row, the 3 tap weight vectors are loaded and each of the
 * P + 2 inputs under the group is broadcast once and multiplied into the (up to) 3 pixels whose
 * windows hold it; the inputs come 4 at a time in one load, broadcast lane by lane.
 *
 * Why (measured on the seed CNN's conv1 at batch 64, one thread, in one process against the
 * previous kernel): Deno runs WebAssembly without V8's trap handler, so every load carries a
 * bounds check, a compare and a branch. The previous kernel kept the 9 weights of one channel
 * vector in registers and paid one broadcast load per multiply-add, 0.95 ms (26 GFLOP/s; 12
 * independent FMA chains with a broadcast load each run at ~37 on this core, with none at ~51).
 * One load and 4 lane broadcasts per 4 inputs, each used 3 times, took it to 0.84 ms; running a
 * group's channel vectors back to back (so each pixel's outputs are written together, not in N/4
 * passes over the row) to 0.74 ms (34 GFLOP/s), at batch 1 as at 64 and 256, so not the memory;
 * the relu as one `pmax` (`reluIf`) to 0.69 ms; groups of 9, 9 and 8 pixels per 26-pixel row
 * instead of 10, 10 and 6 (whose 6 chains of multiply-adds leave the FMA units waiting on their
 * latency) 1-2% more (bests 0.672-0.677 -> 0.664-0.668 ms, bitwise the same). Broadcasting the
 * inputs from memory instead of lanes, for some or all of the quads, is as fast.
 *
 * wp: [N/4][9][4] floats; bp: N floats.
 */
function convC1(relaxed: boolean): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(12).fill(I32));
  const [y, x, wp, bp, r0, r1, outH, outW, inH, inW, N, relu] = PARAMS;
  const P = c1Group(relaxed);
  const acc: number[] = [];
  for (let q = 0; q < P; q++) acc.push(f.local(V128));
  const w = [f.local(V128), f.local(V128), f.local(V128)];
  const xs = f.local(V128), xq = f.local(V128);
  const row = f.local(I32), n = f.local(I32), xr = f.local(I32), yr = f.local(I32);
  const v = f.local(I32), nVec = f.local(I32), xp = f.local(I32), yp = f.local(I32);
  const rp = f.local(I32), ow = f.local(I32), rowX = f.local(I32), rest = f.local(I32);
  const N4 = f.local(I32), ys = f.local(I32), wv = f.local(I32), bv = f.local(I32);
  const yv = f.local(I32), g = f.local(I32), gBase = f.local(I32), gExtra = f.local(I32);
  f.get(N).i32(2).shrU().set(nVec);
  // groups = ceil(outW / P); gBase = floor(outW / groups); gExtra = outW - gBase * groups
  f.get(outW).i32(P - 1).add().i32(P).divU().tee(gExtra);
  f.i32(1).get(gExtra).select().set(gExtra); // (at least 1: no division by zero)
  f.get(outW).get(gExtra).divU().set(gBase);
  f.get(outW).get(gBase).get(gExtra).mul().sub().set(gExtra);
  f.get(N).i32(2).shl().set(N4);
  f.get(inW).i32(2).shl().set(rowX);
  f.get(r0).set(row);
  f.block().loop();
  f.get(row).get(r1).geS().brIf(1);
  f.get(row).get(outH).divU().set(n);
  // xr = x + ((n*inH + oh) * inW) * 4, oh = row - n*outH; yr = y + row*outW*N*4
  f.get(x).get(n).get(inH).mul().get(row).add().get(n).get(outH).mul().sub().get(rowX).mul().add()
    .set(xr);
  f.get(y).get(row).get(outW).mul().get(N4).mul().add().set(yr);
  f.get(xr).set(xp);
  f.get(yr).set(yp);
  f.i32(0).set(ow);
  f.i32(0).set(g);
  // A group of p pixels: input column j (of p + 2) feeds pixels j - kw for kw = 0..2. Whole
  // quads of columns are loaded as one vector and broadcast lane by lane (one bounds-checked
  // load instead of four); the last columns, if any, are broadcast from memory.
  const group = (p: number) => {
    f.get(wp).set(wv);
    f.get(bp).set(bv);
    f.get(yp).set(yv);
    f.i32(0).set(v);
    f.block().loop();
    f.get(v).get(nVec).geS().brIf(1);
    for (let q = 0; q < p; q++) f.get(bv).v128Load().set(acc[q]!);
    f.get(xp).set(rp);
    for (let kh = 0; kh < 3; kh++) {
      if (kh > 0) f.get(rp).get(rowX).add().set(rp);
      for (let kw = 0; kw < 3; kw++) f.get(wv).v128Load((kh * 3 + kw) * 16).set(w[kw]!);
      for (let j = 0; j < p + 2; j++) {
        const quad = j - (j % 4);
        if (quad + 3 < p + 2) {
          if (j === quad) f.get(rp).i32(j * 4).add().v128Load().set(xq);
          const l = j - quad;
          f.get(xq).get(xq).f32x4Shuffle([l, l, l, l]).set(xs);
        } else f.get(rp).i32(j * 4).add().v128Load32Splat().set(xs);
        for (let kw = 0; kw < 3; kw++) {
          const q = j - kw;
          if (q >= 0 && q < p) madd(f, relaxed, acc[q]!, xs, w[kw]!);
        }
      }
    }
    reluIf(f, relu, acc.slice(0, p));
    f.get(yv).set(ys);
    for (let q = 0; q < p; q++) {
      f.get(ys).get(acc[q]!).v128Store();
      if (q < p - 1) f.get(ys).get(N4).add().set(ys);
    }
    f.get(wv).i32(144).add().set(wv);
    f.get(bv).i32(16).add().set(bv);
    f.get(yv).i32(16).add().set(yv);
    f.get(v).i32(1).add().set(v);
    f.br(0).end().end();
    f.get(xp).i32(p * 4).add().set(xp);
    f.get(yp).get(N4).i32(p).mul().add().set(yp);
    f.get(ow).i32(p).add().set(ow);
  };
  // The row in ceil(outW / P) groups of even sizes (26 = 9 + 9 + 8, not 10 + 10 + 6): a group
  // of p pixels is p independent chains of 9 dependent multiply-adds, and fewer than 8 chains
  // leave the FMA units waiting on their latency.
  f.block().loop();
  f.get(ow).get(outW).geS().brIf(1);
  // p = base + (g < extra), g = the group's index in the row
  f.get(gBase).get(g).get(gExtra).ltS().add().set(rest);
  firstOf(
    f,
    Array.from({ length: P }, (_, i) => P - i).map((p) => ({
      cond: () => f.get(rest).i32(p).eq(),
      body: () => group(p),
    })),
  );
  f.get(g).i32(1).add().set(g);
  f.br(0).end().end();
  f.get(row).i32(1).add().set(row);
  f.br(0).end().end();
  return f;
}

/**
 * wino_in(V, x, t0, nT, posBytes, inH, inW, C, tH, tW, padT, padL, zp, tileBytes, blk, blkExtra):
 * the Winograd F(2x2, 3x3) input transform V = B^T d B of tiles [t0, t0 + nT) (flat over n, th,
 * tw with tH x tW tiles per image) of x (NHWC, C channels), vectorised over 4 channels. The 4x4
 * patch of tile (th, tw) starts at input (2th - padT, 2tw - padL); taps outside the image read
 * zeros at `zp` (at least 4C floats: an address select per tap and tile, no branches).
 *
 * Layout: transform position xi at `V + xi * posBytes`, tile t - t0 at `tileBytes` more, channel
 * byte `o` (a multiple of 16) at `o + floor(o / blk) * blkExtra` more. The forward's GEMM reads
 * [16][T][Cp] (tileBytes = 4Cp, blk >= 4Cp, blkExtra = 0); the kernel gradient's reads blocks of
 * B channels packed per tile, [16][Cp/B][T][B] (tileBytes = blk = 4B, blkExtra = 4B(T - 1)).
 * Channels past C (up to Cp) hold garbage that no GEMM result that is kept depends on.
 *
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
 */
function winoIn(): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(16).fill(I32));
  const [V, x, t0, nT, posBytes, inH, inW, C, tH, tW, padT, padL, zp, tileBytes, blk, blkExtra] =
    PARAMS;
  const tl = f.local(I32), t = f.local(I32), tw = f.local(I32), th = f.local(I32);
  const n = f.local(I32), ih0 = f.local(I32), iw0 = f.local(I32), base = f.local(I32);
  const rowB = f.local(I32), pixB = f.local(I32), cv = f.local(I32), off = f.local(I32);
  const vout = f.local(I32), xiB = f.local(I32), addr = f.local(I32), q = f.local(I32);
  const rowOk = [f.local(I32), f.local(I32), f.local(I32), f.local(I32)];
  const colOk = [f.local(I32), f.local(I32), f.local(I32), f.local(I32)];
  const tap: number[] = [];
  for (let k = 0; k < 16; k++) tap.push(f.local(I32));
  const d = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const r1 = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const r2 = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const cnt = f.local(I32), bo = f.local(I32), wrap = f.local(I32);
  f.get(inW).get(C).mul().i32(2).shl().set(rowB);
  f.get(C).i32(2).shl().set(pixB);
  f.get(posBytes).set(xiB);
  f.get(C).i32(3).add().i32(2).shrU().i32(4).shl().set(cv); // channel bytes, whole vectors
  f.i32(0).set(tl);
  f.block().loop(); // over tiles
  f.get(tl).get(nT).geS().brIf(1);
  f.get(t0).get(tl).add().set(t);
  const locals = { x, inH, inW, padT, padL, tH, tW, zp, rowB, pixB, t, q, n, th, tw, ih0, iw0 };
  patchTaps(f, { ...locals, base, rowOk, colOk, tap }, 4, 1);
  f.get(V).get(tl).get(tileBytes).mul().add().set(vout);
  f.i32(0).set(off);
  f.i32(0).set(cnt);
  f.i32(0).set(bo);
  f.block().loop(); // over channel vectors
  f.get(off).get(cv).geS().brIf(1);
  f.get(vout).get(off).add().get(bo).add().set(addr);
  // Row by row of B^T d (rows d0 - d2, d1 + d2, d2 - d1, d1 - d3 of the patch), then its column
  // transform stored at positions xi = 4i + k. Each patch row is loaded once: rows 2 and 1 stay
  // in registers (8 vectors) while rows 0 and 3 pass through d (loading both rows of every
  // combination, 32 loads instead of 16, was the first version).
  const combine = (op: "add" | "sub") => (op === "add" ? f.f32x4Add() : f.f32x4Sub());
  const load = (row: number, j: number) => f.get(tap[row * 4 + j]!).get(off).add().v128Load();
  const cols = () => {
    const pairs: [number, number, "add" | "sub"][] = [[0, 2, "sub"], [1, 2, "add"], [2, 1, "sub"], [
      1,
      3,
      "sub",
    ]];
    for (const [c0, c1, cop] of pairs) {
      f.get(addr).get(d[c0]!).get(d[c1]!);
      combine(cop).v128Store();
      f.get(addr).get(xiB).add().set(addr);
    }
  };
  for (let j = 0; j < 4; j++) load(2, j).set(r2[j]!);
  for (let j = 0; j < 4; j++) load(0, j).get(r2[j]!).f32x4Sub().set(d[j]!); // d0 - d2
  cols();
  for (let j = 0; j < 4; j++) load(1, j).tee(r1[j]!).get(r2[j]!).f32x4Add().set(d[j]!); // d1 + d2
  cols();
  for (let j = 0; j < 4; j++) f.get(r2[j]!).get(r1[j]!).f32x4Sub().set(d[j]!); // d2 - d1
  cols();
  for (let j = 0; j < 4; j++) {
    f.get(r1[j]!);
    load(3, j).f32x4Sub().set(d[j]!); // d1 - d3
  }
  cols();
  nextChannelVector(f, off, cnt, bo, wrap, blk, blkExtra);
  f.br(0).end().end();
  f.get(tl).i32(1).add().set(tl);
  f.br(0).end().end();
  return f;
}

/**
 * wino_out(y, M, bias, t0, nT, T, outH, outW, N, Np, tH, tW, relu, pool): the Winograd F(2x2, 3x3)
 * output transform y = A^T m A + bias (then relu when `relu` is non-zero) of tiles [t0, t0 + nT),
 * from M ([16][T][Np] floats, the batched GEMM's result) into y (NHWC, N channels). Outputs past
 * outH or outW (odd sizes) are not stored; a last partial channel vector is stored lane by lane.
 * With `pool` non-zero, y is instead the 2x2 stride-2 max pooling of that output
 * (floor(outH/2) x floor(outW/2)): each whole tile stores the maximum of its four outputs, and,
 * when `arg` is non-zero, at `arg` (int32, laid out as the pooled y) the flat index of the chosen
 * output in the unpooled NHWC output, as `maxpool_fwd` writes it (for the training backward).
 * Without `pool`, a non-zero `mask` points to floats laid out as y, and each output is stored
 * only where its mask value is > 0, else 0: the backward of a relu whose output is the mask, in
 * the store of an input gradient (bitwise `relu_bwd` after the transform).
 *
 * A^T = [1 1 1 0; 0 1 -1 -1].
 */
function winoOut(): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(16).fill(I32));
  const [y, M, bias, t0, nT, T, outH, outW, N, Np, tH, tW, relu, pool, arg, mask] = PARAMS;
  const tl = f.local(I32), t = f.local(I32), tw = f.local(I32), th = f.local(I32);
  const n = f.local(I32), q = f.local(I32), yb = f.local(I32), rowB = f.local(I32);
  const pixB = f.local(I32), nv = f.local(I32), nlast = f.local(I32), v = f.local(I32);
  const off = f.local(I32), mp = f.local(I32), xiB = f.local(I32), ok1 = f.local(I32);
  const ok2 = f.local(I32), full = f.local(I32), addr = f.local(I32);
  const m: number[] = [];
  for (let k = 0; k < 16; k++) m.push(f.local(V128));
  const a: number[] = [];
  for (let k = 0; k < 8; k++) a.push(f.local(V128));
  const b = f.local(V128), out = f.local(V128), best = f.local(V128), mk = f.local(V128);
  const ib = f.local(V128), bi = f.local(V128), lanes = f.local(V128);
  const rowE = f.local(I32);
  f.i32x4Const([0, 1, 2, 3]).set(lanes);
  f.get(outW).get(N).mul().set(rowE);
  f.get(outW).get(N).mul().i32(2).shl().set(rowB);
  f.get(N).i32(2).shl().set(pixB);
  f.get(T).get(Np).mul().i32(2).shl().set(xiB);
  f.get(N).i32(3).add().i32(2).shrU().set(nv);
  f.get(N).get(nv).i32(1).sub().i32(2).shl().sub().set(nlast);
  f.i32(0).set(tl);
  f.block().loop(); // over tiles
  f.get(tl).get(nT).geS().brIf(1);
  f.get(t0).get(tl).add().set(t);
  tileCoords(f, t, tH, tW, q, n, th, tw);
  f.get(th).i32(1).shl().i32(1).add().get(outH).ltS().set(ok1); // second row exists
  f.get(tw).i32(1).shl().i32(1).add().get(outW).ltS().set(ok2); // second column exists
  f.get(pool).if_();
  // The pooled output (outH/2 x outW/2, rounded down): one pixel per tile.
  f.get(y).get(n).get(outH).i32(1).shrU().mul().get(th).add().get(outW).i32(1).shrU().mul()
    .get(tw).add().get(pixB).mul().add().set(yb);
  f.else_();
  f.get(y).get(n).get(outH).mul().get(th).i32(1).shl().add().get(outW).mul().get(tw).i32(1).shl()
    .add().get(pixB).mul().add().set(yb);
  f.end();
  f.i32(0).set(v);
  f.block().loop(); // over channel vectors
  f.get(v).get(nv).geS().brIf(1);
  f.get(v).i32(4).shl().set(off);
  f.get(M).get(tl).get(Np).mul().i32(2).shl().add().get(off).add().set(mp);
  for (let k = 0; k < 16; k++) {
    f.get(mp).v128Load().set(m[k]!);
    if (k < 15) f.get(mp).get(xiB).add().set(mp);
  }
  f.get(bias).get(off).add().v128Load().set(b);
  // A^T m: a[0][j] = m0j + m1j + m2j, a[1][j] = m1j - m2j - m3j.
  for (let j = 0; j < 4; j++) {
    f.get(m[j]!).get(m[4 + j]!).f32x4Add().get(m[8 + j]!).f32x4Add().set(a[j]!);
    f.get(m[4 + j]!).get(m[8 + j]!).f32x4Sub().get(m[12 + j]!).f32x4Sub().set(a[4 + j]!);
  }
  f.get(v).i32(1).add().get(nv).ne().get(nlast).i32(4).eq().or().set(full);
  /** out = output (row, col) of the tile: (A^T m A) + bias, then relu. */
  const value = (row: number, col: number) => {
    const r = row * 4;
    if (col === 0) {
      f.get(a[r]!).get(a[r + 1]!).f32x4Add().get(a[r + 2]!).f32x4Add();
    } else {
      f.get(a[r + 1]!).get(a[r + 2]!).f32x4Sub().get(a[r + 3]!).f32x4Sub();
    }
    f.get(b).f32x4Add().set(out);
    reluIf(f, relu, [out]);
  };
  const store = (vec: number) => storeTail(f, addr, vec, 0, () => f.get(full), nlast);
  const emit = (row: number, col: number) => {
    value(row, col);
    f.get(yb).get(off).add();
    if (row === 1) f.get(rowB).add();
    if (col === 1) f.get(pixB).add();
    f.set(addr);
    f.get(mask).if_();
    // (a partial last vector reads past the mask's end into the allocation's slack)
    f.get(out).get(mask).get(addr).add().get(y).sub().v128Load().v128Zero().f32x4Gt().v128And();
    f.set(out);
    f.end();
    store(out);
  };
  // Fused 2x2 max pooling: the tile is the window. The maxima are chosen as maxpool_fwd chooses
  // them (row-major, a later value only when strictly greater), so the result is bitwise its
  // result; a partial tile (odd outH or outW) is the row or column valid pooling drops.
  f.get(pool).if_();
  f.get(ok1).get(ok2).and().if_();
  value(0, 0);
  f.get(out).set(best);
  f.get(arg).eqz().if_();
  for (const [row, col] of [[0, 1], [1, 0], [1, 1]] as const) {
    value(row, col);
    f.get(out).get(best).f32x4Gt().set(mk);
    f.get(out).get(best).get(mk).v128Bitselect().set(best);
  }
  f.else_();
  // The argmax too: the flat NHWC index of output (2 th, 2 tw) of image n, channels off/4 + lane.
  f.get(n).get(outH).mul().get(th).i32(1).shl().add().get(outW).mul().get(tw).i32(1).shl().add()
    .get(N).mul().get(off).i32(2).shrU().add().i32x4Splat().get(lanes).i32x4Add().tee(ib).set(bi);
  for (const [row, col] of [[0, 1], [1, 0], [1, 1]] as const) {
    value(row, col);
    f.get(out).get(best).f32x4Gt().set(mk);
    f.get(out).get(best).get(mk).v128Bitselect().set(best);
    f.get(ib);
    if (row === 1 && col === 1) f.get(rowE).get(N).add();
    else if (row === 1) f.get(rowE);
    else f.get(N);
    f.i32x4Splat().i32x4Add().get(bi).get(mk).v128Bitselect().set(bi);
  }
  f.get(arg).get(yb).get(y).sub().add().get(off).add().set(addr);
  store(bi);
  f.end();
  f.get(yb).get(off).add().set(addr);
  store(best);
  f.end();
  f.else_();
  emit(0, 0);
  f.get(ok2).if_();
  emit(0, 1);
  f.end();
  f.get(ok1).if_();
  emit(1, 0);
  f.get(ok2).if_();
  emit(1, 1);
  f.end();
  f.end();
  f.end();
  f.get(v).i32(1).add().set(v);
  f.br(0).end().end();
  f.get(tl).i32(1).add().set(tl);
  f.br(0).end().end();
  return f;
}

/**
 * wino_dy(dMT, dy, zp, t0, nT, T, outH, outW, N, Np, tH, tW): the transform of the output
 * gradient for the Winograd kernel gradient. The forward computes y = A^T m A per 2x2 output
 * tile, so the gradient of the GEMM's output m is A dy A^T (4x4 from the tile's 2x2 dy): every
 * entry a sum of +-dy values. It is stored transposed, dMT = [16][Np][T] (position, channel,
 * tile of the block), the operand the kernel-gradient tiles broadcast from, four tiles at a time
 * (their vectors transposed in registers). Outputs past outH or outW, and tiles past nT (up to a
 * multiple of 4, which T must be), read the zero vector at `zp`; lanes past N hold garbage that
 * only the discarded columns of the result depend on.
 *
 * A = [1 0; 1 1; 1 -1; 0 -1].
 */
function winoDy(): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(12).fill(I32));
  const [dMT, dy, zp, t0, nT, T, outH, outW, N, Np, tH, tW] = PARAMS;
  const g = f.local(I32), t = f.local(I32), q = f.local(I32), n = f.local(I32);
  const th = f.local(I32), tw = f.local(I32), rowB = f.local(I32), pixB = f.local(I32);
  const nv = f.local(I32), v = f.local(I32), off = f.local(I32), laneB = f.local(I32);
  const posB = f.local(I32), dst = f.local(I32), okT = f.local(I32);
  const laneOff = [f.local(I32), f.local(I32), f.local(I32)]; // 1, 2, 3 channel rows of dMT
  const src: number[] = [];
  for (let k = 0; k < 16; k++) src.push(f.local(I32));
  const base: number[] = [], ok: number[][] = [];
  for (let j = 0; j < 4; j++) {
    base.push(f.local(I32));
    ok.push([f.local(I32), f.local(I32), f.local(I32), f.local(I32)]);
  }
  // y[j][ab]: tile j's dy at row a, column b of its 2x2.
  const y: number[][] = [];
  for (let j = 0; j < 4; j++) y.push([f.local(V128), f.local(V128), f.local(V128), f.local(V128)]);
  const c0 = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const c1 = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const e = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const tr = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
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
    f.get(dy).get(n).get(outH).mul().get(th).i32(1).shl().add().get(outW).mul().get(tw).i32(1).shl()
      .add().get(pixB).mul().add().set(base[j]!);
    const [o00, o01, o10, o11] = ok[j]!;
    f.get(okT).set(o00!);
    f.get(okT).get(tw).i32(1).shl().i32(1).add().get(outW).ltS().and().set(o01!);
    f.get(okT).get(th).i32(1).shl().i32(1).add().get(outH).ltS().and().set(o10!);
    f.get(o01!).get(o10!).and().set(o11!);
    // The tile's 4 dy addresses (or zp), once per group rather than per channel vector.
    for (let ab = 0; ab < 4; ab++) {
      f.get(base[j]!);
      if (ab >= 2) f.get(rowB).add();
      if (ab % 2 === 1) f.get(pixB).add();
      f.get(zp).get(ok[j]![ab]!).select().set(src[j * 4 + ab]!);
    }
  }
  f.i32(0).set(v);
  f.block().loop(); // over channel vectors
  f.get(v).get(nv).geS().brIf(1);
  f.get(v).i32(4).shl().set(off);
  for (let j = 0; j < 4; j++) {
    for (let ab = 0; ab < 4; ab++) {
      f.get(src[j * 4 + ab]!).get(off).add().v128Load().set(y[j]![ab]!);
    }
  }
  // dMT row of position p = 4i + k, channel 4v + lane, tiles g..g+3: `dst` walks the positions.
  f.get(dMT).get(v).i32(2).shl().get(laneB).mul().add().get(g).i32(2).shl().add().set(dst);
  for (let i = 0; i < 4; i++) {
    // Row i of A dy: (c0, c1) per tile.
    for (let j = 0; j < 4; j++) {
      const [y00, y01, y10, y11] = y[j]!;
      if (i === 0) {
        f.get(y00!).set(c0[j]!);
        f.get(y01!).set(c1[j]!);
      } else if (i === 1) {
        f.get(y00!).get(y10!).f32x4Add().set(c0[j]!);
        f.get(y01!).get(y11!).f32x4Add().set(c1[j]!);
      } else if (i === 2) {
        f.get(y00!).get(y10!).f32x4Sub().set(c0[j]!);
        f.get(y01!).get(y11!).f32x4Sub().set(c1[j]!);
      } else {
        f.get(y10!).f32x4Neg().set(c0[j]!);
        f.get(y11!).f32x4Neg().set(c1[j]!);
      }
    }
    for (let k = 0; k < 4; k++) {
      // Column k of (A dy) A^T, per tile.
      for (let j = 0; j < 4; j++) {
        if (k === 0) f.get(c0[j]!);
        else if (k === 1) f.get(c0[j]!).get(c1[j]!).f32x4Add();
        else if (k === 2) f.get(c0[j]!).get(c1[j]!).f32x4Sub();
        else f.get(c1[j]!).f32x4Neg();
        f.set(e[j]!);
      }
      // 4 tiles x 4 channels -> 4 channels x 4 tiles.
      f.get(e[0]!).get(e[1]!).f32x4Shuffle([0, 4, 1, 5]).set(tr[0]!);
      f.get(e[0]!).get(e[1]!).f32x4Shuffle([2, 6, 3, 7]).set(tr[1]!);
      f.get(e[2]!).get(e[3]!).f32x4Shuffle([0, 4, 1, 5]).set(tr[2]!);
      f.get(e[2]!).get(e[3]!).f32x4Shuffle([2, 6, 3, 7]).set(tr[3]!);
      for (let lane = 0; lane < 4; lane++) {
        const [a, b] = lane < 2 ? [tr[0]!, tr[2]!] : [tr[1]!, tr[3]!];
        const lanes: [number, number, number, number] = lane % 2 === 0
          ? [0, 1, 4, 5]
          : [2, 3, 6, 7];
        f.get(dst);
        if (lane > 0) f.get(laneOff[lane - 1]!).add();
        f.get(a).get(b).f32x4Shuffle(lanes).v128Store();
      }
      f.get(dst).get(posB).add().set(dst);
    }
  }
  f.get(v).i32(1).add().set(v);
  f.br(0).end().end();
  f.get(g).i32(4).add().set(g);
  f.br(0).end().end();
  return f;
}

/**
 * wino_dw(acc, V, dMT, nT, T, Cp, Np, P): the batched GEMM of the Winograd kernel gradient,
 * dU[xi] += V[xi]^T dM[xi] for the P transform positions (16 for F(2x2, 3x3), 36 for
 * F(4x4, 3x3)), over the nT tiles of a block: the kernel gradient's own tiles (`dwTile`, `rows`
 * channels of dMT broadcast x B = 4*vecs packed channels of V), so it runs at the speed of the
 * direct kernel gradient on 2.25x (4x) fewer multiply-adds. V is `wino_in`'s (`wino4_in`'s)
 * packed layout [P][ceil(Cp/B)][T][B], dMT `wino_dy`'s (`wino4_dy`'s) [P][Np][T]; `acc` is
 * [P][ceil(Cp/B)][Np][B] floats (lanes past Cp hold garbage).
 */
function winoDw(tile: Tile, firstTile: number): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(8).fill(I32));
  const [acc, V, dMT, nT, T, Cp, Np, P] = PARAMS;
  const R = tile.rows, B = tile.vecs * 4;
  const nTB = f.local(I32), p = f.local(I32), tb = f.local(I32), co = f.local(I32);
  const rr = f.local(I32), wp = f.local(I32), accRow = f.local(I32), aP = f.local(I32);
  const rowT = f.local(I32), blockV = f.local(I32), accBlock = f.local(I32);
  f.get(Cp).i32(B - 1).add().i32(B).divU().set(nTB);
  f.get(T).i32(2).shl().set(rowT);
  f.get(T).i32(B * 4).mul().set(blockV);
  f.get(Np).i32(B * 4).mul().set(accBlock);
  f.i32(0).set(p);
  f.block().loop();
  f.get(p).get(P).geS().brIf(1);
  f.get(dMT).get(p).get(Np).mul().get(rowT).mul().add().set(aP);
  f.i32(0).set(tb);
  f.block().loop();
  f.get(tb).get(nTB).geS().brIf(1);
  f.get(p).get(nTB).mul().get(tb).add().tee(wp).get(blockV).mul().get(V).add().set(wp);
  f.get(p).get(nTB).mul().get(tb).add().get(accBlock).mul().get(acc).add().set(accRow);
  f.i32(0).set(co);
  f.block().loop();
  f.get(co).get(Np).geS().brIf(1);
  minDiff(f, rr, R, Np, co);
  firstOf(
    f,
    Array.from({ length: R }, (_, i) => R - i).map((r) => ({
      cond: () => f.get(rr).i32(r).eq(),
      body: () => {
        f.get(aP).get(co).get(rowT).mul().add().get(rowT).get(wp);
        f.get(accRow).get(co).i32(B * 4).mul().add().get(nT);
        f.call(firstTile + r - 1);
      },
    })),
  );
  f.get(co).i32(R).add().set(co);
  f.br(0).end().end();
  f.get(tb).i32(1).add().set(tb);
  f.br(0).end().end();
  f.get(p).i32(1).add().set(p);
  f.br(0).end().end();
  return f;
}

/**
 * vsum(dst, src, nvec): dst += src over nvec vectors (nvec >= 1): the reduction of the kernel
 * gradient's per-chunk accumulators, called in chunk order.
 */
function vsum(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32]);
  const [dst, src, nvec] = PARAMS;
  const end = f.local(I32);
  f.get(dst).get(nvec).i32(4).shl().add().set(end);
  f.loop();
  f.get(dst).get(dst).v128Load().get(src).v128Load().f32x4Add().v128Store();
  f.get(src).i32(16).add().set(src);
  f.get(dst).i32(16).add().tee(dst).get(end).ltS().brIf(0);
  f.end();
  return f;
}

/**
 * colsum(acc, dy, npix, outC): acc[0 .. ceil(outC/4)*4) += column sums of dy (npix >= 1). Four
 * channel vectors at a time, even and odd pixels into separate accumulators: one dependent add
 * chain per vector (the first version) ran at the add's latency, ~0.4 ms per call on the first
 * layer's 43k pixels.
 */
function colsum(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32]);
  const [acc, dy, npix, outC] = PARAMS;
  const nVec = f.local(I32), j = f.local(I32), p = f.local(I32), pEnd = f.local(I32);
  const stride = f.local(I32), a = f.local(V128), q = f.local(I32), last = f.local(I32);
  const ev = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const od = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  f.get(outC).i32(3).add().i32(2).shrU().set(nVec);
  f.get(outC).i32(2).shl().set(stride);
  f.i32(0).set(j);
  // Blocks of 4 vectors.
  f.block().loop();
  f.get(j).i32(4).add().get(nVec).gtS().brIf(1);
  for (let i = 0; i < 4; i++) {
    f.v128Zero().set(ev[i]!);
    f.v128Zero().set(od[i]!);
  }
  f.get(dy).get(j).i32(4).shl().add().tee(p).get(npix).get(stride).mul().add().tee(pEnd);
  f.get(stride).sub().set(last);
  f.block().loop();
  f.get(p).get(last).geS().brIf(1);
  f.get(p).get(stride).add().set(q);
  for (let i = 0; i < 4; i++) {
    f.get(ev[i]!).get(p).v128Load(i * 16).f32x4Add().set(ev[i]!);
    f.get(od[i]!).get(q).v128Load(i * 16).f32x4Add().set(od[i]!);
  }
  f.get(q).get(stride).add().set(p);
  f.br(0).end().end();
  f.get(p).get(pEnd).ltS().if_();
  for (let i = 0; i < 4; i++) f.get(ev[i]!).get(p).v128Load(i * 16).f32x4Add().set(ev[i]!);
  f.end();
  for (let i = 0; i < 4; i++) {
    f.get(acc).get(j).i32(4).shl().add();
    f.get(acc).get(j).i32(4).shl().add().v128Load(i * 16).get(ev[i]!).get(od[i]!).f32x4Add()
      .f32x4Add();
    f.v128Store(i * 16);
  }
  f.get(j).i32(4).add().set(j);
  f.br(0).end().end();
  // The remaining vectors one at a time.
  f.block().loop();
  f.get(j).get(nVec).geS().brIf(1);
  f.get(acc).get(j).i32(4).shl().add().v128Load().set(a);
  f.get(dy).get(j).i32(4).shl().add().tee(p).get(npix).get(stride).mul().add().set(pEnd);
  f.loop();
  f.get(a).get(p).v128Load().f32x4Add().set(a);
  f.get(p).get(stride).add().tee(p).get(pEnd).ltS().brIf(0);
  f.end();
  f.get(acc).get(j).i32(4).shl().add().get(a).v128Store();
  f.get(j).i32(1).add().set(j);
  f.br(0).end().end();
  return f;
}

/** Emits `dst = a > b ? a : b` (max) or the min, for i32 locals or stack values. */
function selectMax(f: FuncBuilder, dst: number, a: () => void, b: () => void, max: boolean): void {
  a();
  b();
  a();
  b();
  if (max) f.gtS();
  else f.ltS();
  f.select().set(dst);
}

/** Bit pattern of -Infinity as an f32, for the lanes of an empty pooling window. */
const F32_NEG_INF = -8388608; // 0xff800000

/**
 * maxpool_fwd(y, arg, x, p0, p1, inH, inW, C, outH, outW, kH, kW, sH, sW, padT, padL): output
 * pixels [p0, p1) (flat over n, oh, ow) of max pooling, with `arg` the flat index into x of the
 * chosen element. Vectorised over 4 channels; the window is clipped to the image (`same`
 * padding), and ties and NaNs resolve as in `kernels/pooling.ts`: a later tap replaces the best
 * only if strictly greater, so the first maximum wins and a NaN never replaces (an f32x4.gt per
 * tap and two bitselects, which also makes the result bitwise equal to the TypeScript kernel).
 * An empty window (never for Keras shapes) gives -Infinity and -1.
 */
function maxPoolFwd(): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(16).fill(I32));
  const [y, arg, x, p0, p1, inH, inW, C, outH, outW, kH, kW, sH, sW, padT, padL] = PARAMS;
  const p = f.local(I32), ow = f.local(I32), oh = f.local(I32), t = f.local(I32);
  const n = f.local(I32), h0 = f.local(I32), hs = f.local(I32), he = f.local(I32);
  const w0 = f.local(I32), ws = f.local(I32), we = f.local(I32), nG = f.local(I32);
  const rem = f.local(I32), g = f.local(I32), base = f.local(I32), i0 = f.local(I32);
  const h = f.local(I32), w = f.local(I32), rowI = f.local(I32), i = f.local(I32);
  const yo = f.local(I32), empty = f.local(I32), rowStep = f.local(I32);
  const best = f.local(V128), bi = f.local(V128), v = f.local(V128), m = f.local(V128);
  const lanes = f.local(V128);
  f.i32x4Const([0, 1, 2, 3]).set(lanes);
  f.get(C).i32(3).add().i32(2).shrU().set(nG);
  f.get(C).get(nG).i32(1).sub().i32(2).shl().sub().set(rem);
  f.get(inW).get(C).mul().set(rowStep);
  f.get(p0).set(p);
  f.block().loop(); // over output pixels
  f.get(p).get(p1).geS().brIf(1);
  f.get(p).get(outW).divU().set(t);
  f.get(p).get(t).get(outW).mul().sub().set(ow);
  f.get(t).get(outH).divU().set(n);
  f.get(t).get(n).get(outH).mul().sub().set(oh);
  f.get(oh).get(sH).mul().get(padT).sub().set(h0);
  selectMax(f, hs, () => f.get(h0), () => f.i32(0), true);
  selectMax(f, he, () => f.get(h0).get(kH).add(), () => f.get(inH), false);
  f.get(ow).get(sW).mul().get(padL).sub().set(w0);
  selectMax(f, ws, () => f.get(w0), () => f.i32(0), true);
  selectMax(f, we, () => f.get(w0).get(kW).add(), () => f.get(inW), false);
  f.get(hs).get(he).geS().get(ws).get(we).geS().or().set(empty); // i32.or
  f.get(n).get(inH).mul().get(hs).add().get(inW).mul().get(ws).add().get(C).mul().set(base);
  f.get(p).get(C).mul().i32(2).shl().set(yo);
  f.i32(0).set(g);
  f.block().loop(); // over channel groups
  f.get(g).get(nG).geS().brIf(1);
  f.get(base).get(g).i32(2).shl().add().set(i0);
  f.get(empty).if_();
  f.i32x4Const([F32_NEG_INF, F32_NEG_INF, F32_NEG_INF, F32_NEG_INF]).set(best);
  f.i32x4Const([-1, -1, -1, -1]).set(bi);
  f.else_();
  f.get(x).get(i0).i32(2).shl().add().v128Load().set(best);
  f.get(i0).i32x4Splat().get(lanes).i32x4Add().set(bi);
  f.end();
  f.get(hs).set(h).get(i0).set(rowI);
  f.block().loop(); // window rows
  f.get(h).get(he).geS().brIf(1);
  f.get(ws).set(w).get(rowI).set(i);
  f.block().loop(); // window columns
  f.get(w).get(we).geS().brIf(1);
  f.get(x).get(i).i32(2).shl().add().v128Load().set(v);
  f.get(v).get(best).f32x4Gt().set(m);
  f.get(v).get(best).get(m).v128Bitselect().set(best);
  f.get(i).i32x4Splat().get(lanes).i32x4Add().get(bi).get(m).v128Bitselect().set(bi);
  f.get(i).get(C).add().set(i);
  f.get(w).i32(1).add().set(w);
  f.br(0).end().end();
  f.get(rowI).get(rowStep).add().set(rowI);
  f.get(h).i32(1).add().set(h);
  f.br(0).end().end();
  // Store: whole vectors except a partial last group, written lane by lane.
  f.get(g).i32(1).add().get(nG).ne().get(rem).i32(4).eq().or().if_();
  f.get(y).get(yo).add().get(best).v128Store();
  f.get(arg).get(yo).add().get(bi).v128Store();
  f.else_();
  for (let lane = 0; lane < 3; lane++) {
    f.get(rem).i32(lane).gtS().if_();
    f.get(y).get(yo).add().get(best).f32x4ExtractLane(lane).f32Store(lane * 4);
    f.get(arg).get(yo).add().get(bi).i32x4ExtractLane(lane).i32Store(lane * 4);
    f.end();
  }
  f.end();
  f.get(yo).i32(16).add().set(yo);
  f.get(g).i32(1).add().set(g);
  f.br(0).end().end();
  f.get(p).i32(1).add().set(p);
  f.br(0).end().end();
  return f;
}

/**
 * maxpool_bwd2(dx, dy, arg, mask, n0, n1, inH, inW, C, outH, outW): the backward of a 2x2
 * stride-2 `valid` max pooling for images [n0, n1), C a multiple of 4: every window's four
 * inputs are written at once, dy at its argmax and 0 elsewhere (as 0 + dy, the generic kernel's
 * zero fill then `+=`, so bitwise its result), and the row and column a window never covers
 * (odd sizes) zeroed: dx is written once instead of filled and then scattered into. With `mask`
 * non-zero (the pooling's output, the output of a relu), dy counts only where mask > 0: that
 * relu's backward, folded in.
 */
function maxPoolBwd2(): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(11).fill(I32));
  const [dx, dy, arg, mask, n0, n1, inH, inW, C, outH, outW] = PARAMS;
  const n = f.local(I32), oh = f.local(I32), ow = f.local(I32), g = f.local(I32);
  const j = f.local(I32), base = f.local(I32), rowE = f.local(I32), h = f.local(I32);
  const a = f.local(V128), d = f.local(V128), idx = f.local(V128), zero = f.local(V128);
  const lanes = f.local(V128);
  f.v128Zero().set(zero);
  f.i32x4Const([0, 1, 2, 3]).set(lanes);
  f.get(inW).get(C).mul().set(rowE);
  f.get(n0).set(n);
  f.block().loop(); // images
  f.get(n).get(n1).geS().brIf(1);
  f.i32(0).set(oh);
  f.block().loop(); // window rows
  f.get(oh).get(outH).geS().brIf(1);
  f.i32(0).set(ow);
  f.block().loop(); // windows
  f.get(ow).get(outW).geS().brIf(1);
  f.get(n).get(outH).mul().get(oh).add().get(outW).mul().get(ow).add().get(C).mul().set(j);
  f.get(n).get(inH).mul().get(oh).i32(1).shl().add().get(inW).mul().get(ow).i32(1).shl().add()
    .get(C).mul().set(base);
  f.i32(0).set(g);
  f.block().loop(); // channel vectors
  f.get(g).get(C).geS().brIf(1);
  f.get(arg).get(j).get(g).add().i32(2).shl().add().v128Load().set(a);
  f.get(dy).get(j).get(g).add().i32(2).shl().add().v128Load().set(d);
  f.get(mask).if_();
  f.get(d).get(mask).get(j).get(g).add().i32(2).shl().add().v128Load().get(zero).f32x4Gt();
  f.v128And().set(d);
  f.end();
  f.get(zero).get(d).f32x4Add().set(d);
  f.get(base).get(g).add().i32x4Splat().get(lanes).i32x4Add().set(idx);
  for (const [r, c] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
    const off = () => {
      f.i32(0);
      if (r === 1) f.get(rowE).add();
      if (c === 1) f.get(C).add();
    };
    f.get(dx).get(base).get(g).add();
    off();
    f.add().i32(2).shl().add(); // the address
    f.get(d).get(zero).get(a).get(idx);
    off();
    f.i32x4Splat().i32x4Add().i32x4Eq().v128Bitselect().v128Store();
  }
  f.get(g).i32(4).add().set(g);
  f.br(0).end().end();
  f.get(ow).i32(1).add().set(ow);
  f.br(0).end().end();
  // an odd last column: never in a window
  f.get(inW).get(outW).i32(1).shl().gtS().if_();
  f.get(oh).i32(1).shl().set(h);
  f.get(dx).get(n).get(inH).mul().get(h).add().get(inW).mul().get(outW).i32(1).shl().add()
    .get(C).mul().i32(2).shl().add().i32(0).get(C).i32(2).shl().memoryFill();
  f.get(dx).get(n).get(inH).mul().get(h).add().i32(1).add().get(inW).mul().get(outW).i32(1).shl()
    .add().get(C).mul().i32(2).shl().add().i32(0).get(C).i32(2).shl().memoryFill();
  f.end();
  f.get(oh).i32(1).add().set(oh);
  f.br(0).end().end();
  // an odd last row: never in a window
  f.get(inH).get(outH).i32(1).shl().gtS().if_();
  f.get(dx).get(n).get(inH).mul().get(inH).add().i32(1).sub().get(inW).mul().get(C).mul().i32(2)
    .shl().add().i32(0).get(rowE).i32(2).shl().memoryFill();
  f.end();
  f.get(n).i32(1).add().set(n);
  f.br(0).end().end();
  return f;
}

/**
 * maxpool_bwd(dx, dy, arg, z0, z1, i0, i1): zeroes dx floats [z0, z1), then scatters
 * dx[arg[i]] += dy[i] for i in [i0, i1) in ascending order (the TypeScript kernel's order, so the
 * sums of overlapping windows are bitwise the same). A participant owns whole images: the indices
 * of an image's windows point into that image only.
 */
function maxPoolBwd(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32]);
  const [dx, dy, arg, z0, z1, i0, i1] = PARAMS;
  const pa = f.local(I32), pd = f.local(I32), end = f.local(I32), at = f.local(I32);
  f.get(dx).get(z0).i32(2).shl().add().i32(0).get(z1).get(z0).sub().i32(2).shl().memoryFill();
  f.get(arg).get(i0).i32(2).shl().add().set(pa);
  f.get(dy).get(i0).i32(2).shl().add().set(pd);
  f.get(arg).get(i1).i32(2).shl().add().set(end);
  f.block().loop();
  f.get(pa).get(end).geS().brIf(1);
  f.get(pa).i32Load().tee(at).i32(0).geS().if_();
  f.get(dx).get(at).i32(2).shl().add().tee(at);
  f.get(at).f32Load().get(pd).f32Load().f32Add().f32Store();
  f.end();
  f.get(pa).i32(4).add().set(pa);
  f.get(pd).i32(4).add().set(pd);
  f.br(0).end().end();
  return f;
}

/**
 * relu_fwd(y, x, nvec): y = x < 0 ? 0 : x over nvec vectors, as the TypeScript kernel (NaN and
 * -0 pass through, as TensorFlow's relu): x & ~(x < 0), branch-free.
 * relu_bwd(dx, dy, y, nvec): dx = y > 0 ? dy : 0.
 */
function relu(backward: boolean): FuncBuilder {
  const f = new FuncBuilder(backward ? [I32, I32, I32, I32] : [I32, I32, I32]);
  const out = 0, a = 1, yv = 2, nvec = backward ? 3 : 2;
  const end = f.local(I32), zero = f.local(V128);
  f.v128Zero().set(zero);
  f.get(out).get(nvec).i32(4).shl().add().set(end);
  f.get(out).get(end).geS().if_().else_(); // nothing to do for nvec = 0
  f.loop();
  if (backward) f.get(out).get(a).v128Load().get(yv).v128Load().get(zero).f32x4Gt().v128And();
  else f.get(out).get(a).v128Load().get(zero).f32x4Pmax();
  f.v128Store();
  f.get(a).i32(16).add().set(a);
  if (backward) f.get(yv).i32(16).add().set(yv);
  f.get(out).i32(16).add().tee(out).get(end).ltS().brIf(0);
  f.end();
  f.end();
  return f;
}

/**
 * dense_dw(dw, x, dy, bounds, nb, K, N, k0, k1, xT, batch): a dense layer's kernel gradient for
 * rows [k0, k1) of dw (K x N, k1 - k0 even, N a multiple of 8): dw[k][n] += sum over the pixel
 * chunks c < nb (pixels [bounds[c], bounds[c + 1]) of x (batch x K) and dy (batch x N)) of the
 * chunk's sum over its pixels in order, the chunks' sums added in chunk order. Bitwise the
 * `conv_dw` route over those chunks (each chunk's accumulators from zero, summed by `vsum` in
 * chunk order, added to dw), with neither accumulators in memory nor a reduction after: register
 * tiles of 2 rows x 8 columns, the chunks' running sum in registers too. Columns k0..k1 of x are
 * first transposed into rows of xT (K x batch floats), so that the pixel loop reads consecutive
 * floats: x's rows are a page apart at K = 1024, and walking down a column missed the TLB at
 * every pixel (0.8 ms for the seed CNN's dense1 on one core, where the multiply-adds take ~0.2).
 */
function denseDw(relaxed: boolean): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(11).fill(I32));
  const [dw, x, dy, bounds, nb, K, N, k0, k1, xT, batch] = PARAMS;
  const k = f.local(I32), co = f.local(I32), c = f.local(I32), p = f.local(I32);
  const pEnd = f.local(I32), xp = f.local(I32), dp = f.local(I32), rowX = f.local(I32);
  const rowD = f.local(I32), at = f.local(I32), rowT = f.local(I32);
  const acc = [0, 1, 2, 3].map(() => f.local(V128));
  const tot = [0, 1, 2, 3].map(() => f.local(V128));
  const d0 = f.local(V128), d1 = f.local(V128), xs = f.local(V128);
  f.get(K).i32(2).shl().set(rowX);
  f.get(N).i32(2).shl().set(rowD);
  f.get(batch).i32(2).shl().set(rowT);
  // xT[k][p] = x[p][k] for k in [k0, k1): row by row of x, a float at a time
  f.i32(0).set(p);
  f.block().loop();
  f.get(p).get(batch).geS().brIf(1);
  f.get(x).get(p).get(rowX).mul().add().get(k0).i32(2).shl().add().set(xp);
  f.get(xT).get(k0).get(rowT).mul().add().get(p).i32(2).shl().add().set(at);
  f.get(k0).set(k);
  f.block().loop();
  f.get(k).get(k1).geS().brIf(1);
  f.get(at).get(xp).f32Load().f32Store();
  f.get(xp).i32(4).add().set(xp);
  f.get(at).get(rowT).add().set(at);
  f.get(k).i32(1).add().set(k);
  f.br(0).end().end();
  f.get(p).i32(1).add().set(p);
  f.br(0).end().end();
  f.get(k0).set(k);
  f.block().loop(); // rows, two at a time
  f.get(k).get(k1).geS().brIf(1);
  f.i32(0).set(co);
  f.block().loop(); // columns, eight at a time
  f.get(co).get(N).geS().brIf(1);
  f.i32(0).set(c);
  f.block().loop(); // pixel chunks
  f.get(c).get(nb).geS().brIf(1);
  for (const a of acc) f.v128Zero().set(a);
  f.get(bounds).get(c).i32(2).shl().add().tee(at).i32Load().set(p);
  f.get(at).i32Load(4).set(pEnd);
  f.get(xT).get(k).get(rowT).mul().add().get(p).i32(2).shl().add().set(xp);
  f.get(dy).get(p).get(rowD).mul().add().get(co).i32(2).shl().add().set(dp);
  f.block().loop(); // the chunk's pixels, in order
  f.get(p).get(pEnd).geS().brIf(1);
  f.get(dp).v128Load().set(d0);
  f.get(dp).v128Load(16).set(d1);
  f.get(xp).v128Load32Splat().set(xs);
  madd(f, relaxed, acc[0]!, xs, d0);
  madd(f, relaxed, acc[1]!, xs, d1);
  f.get(xp).get(rowT).add().v128Load32Splat().set(xs);
  madd(f, relaxed, acc[2]!, xs, d0);
  madd(f, relaxed, acc[3]!, xs, d1);
  f.get(xp).i32(4).add().set(xp);
  f.get(dp).get(rowD).add().set(dp);
  f.get(p).i32(1).add().set(p);
  f.br(0).end().end();
  // the running sum of the chunks: the first chunk's sum as it is (0 + -0 would be +0)
  f.get(c).eqz().if_();
  for (let i = 0; i < 4; i++) f.get(acc[i]!).set(tot[i]!);
  f.else_();
  for (let i = 0; i < 4; i++) f.get(tot[i]!).get(acc[i]!).f32x4Add().set(tot[i]!);
  f.end();
  f.get(c).i32(1).add().set(c);
  f.br(0).end().end();
  f.get(dw).get(k).get(rowD).mul().add().get(co).i32(2).shl().add().set(at);
  for (let i = 0; i < 4; i++) {
    const off = (i & 1) * 16;
    if (i === 2) f.get(at).get(rowD).add().set(at);
    f.get(at).get(at).v128Load(off).get(tot[i]!).f32x4Add().v128Store(off);
  }
  f.get(co).i32(8).add().set(co);
  f.br(0).end().end();
  f.get(k).i32(2).add().set(k);
  f.br(0).end().end();
  return f;
}

/** Bit pattern of the f64x2 vector (0.5, 0.5), as i32 lanes: dividing by 2 exactly. */
const F64X2_HALF: [number, number, number, number] = [0, 0x3fe00000, 0, 0x3fe00000];

/**
 * wino_filter(dst, w, C, N, cStride, nStride, flip, vecs, c0, c1, nEven): `winogradFilter`
 * (winograd.ts) for the input channels [c0, c1) and the output channels [0, nEven) (nEven even),
 * two output channels at a time in float64 lanes with its operations in its order, so bitwise
 * its result: U = G g G^T of each 3x3 filter into the forward GEMM's packed (16C) x N layout, in
 * column blocks of `vecs` vectors. (Participants split the input channels: their outputs are
 * rows apart, where a split of the output channels had them write the same cache lines.)
 */
function winoFilter(): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(11).fill(I32));
  const [dst] = PARAMS;
  const l = filterPairLocals(f);
  const { c, width, col, stepB, at, g } = l;
  const a = [f.local(V128), f.local(V128), f.local(V128)];
  const half = f.local(V128);
  f.i32x4Const(F64X2_HALF).set(half);
  filterPairLoop(f, l, 16, () => {
    f.get(dst).get(col).get(c).get(width).mul().add().i32(2).shl().add().set(at);
    /** Row i of G g (a0, a1, a2) times G^T: positions 4i .. 4i + 3, `stepB` apart. */
    const row = (i: number) => {
      const store = (k: number, value: () => void) => {
        f.get(at);
        value();
        f.f32x4DemoteF64x2Zero().v128Store64Lane(0);
        if (i < 3 || k < 3) f.get(at).get(stepB).add().set(at);
      };
      store(0, () => f.get(a[0]!));
      store(1, () => f.get(a[0]!).get(a[1]!).f64x2Add().get(a[2]!).f64x2Add().get(half).f64x2Mul());
      store(2, () => f.get(a[0]!).get(a[1]!).f64x2Sub().get(a[2]!).f64x2Add().get(half).f64x2Mul());
      store(3, () => f.get(a[2]!));
    };
    for (let j = 0; j < 3; j++) f.get(g[j]!).set(a[j]!);
    row(0);
    for (let j = 0; j < 3; j++) {
      f.get(g[j]!).get(g[3 + j]!).f64x2Add().get(g[6 + j]!).f64x2Add().get(half).f64x2Mul();
      f.set(a[j]!);
    }
    row(1);
    for (let j = 0; j < 3; j++) {
      f.get(g[j]!).get(g[3 + j]!).f64x2Sub().get(g[6 + j]!).f64x2Add().get(half).f64x2Mul();
      f.set(a[j]!);
    }
    row(2);
    for (let j = 0; j < 3; j++) f.get(g[6 + j]!).set(a[j]!);
    row(3);
  });
  return f;
}

/**
 * wino_filter_grad(dw, acc, C, N, Np, B, c0, c1, nEven): `winogradFilterGradient` (winograd.ts)
 * for the input channels [c0, c1) and the output channels [0, nEven) (nEven even), two output
 * channels at a time in float64 lanes with its operations in its order, so bitwise its result:
 * dw += G^T dU G of each channel pair, dU read from the Winograd kernel-gradient accumulators
 * (summed by `vsum` first: summing the chunks here, in the gathers, was 2-3x slower).
 */
function winoFilterGrad(): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(9).fill(I32));
  const [dw, , , N] = PARAMS;
  const l = gradientPairLocals(f, 16);
  const { n, c, cnB, at, u } = l;
  const sj = [0, 1, 2, 3].map(() => f.local(V128));
  const m = [0, 1, 2, 3].map(() => f.local(V128));
  const half = f.local(V128);
  f.i32x4Const(F64X2_HALF).set(half);
  gradientPairLoop(f, l, () => {
    for (let j = 0; j < 4; j++) {
      f.get(u[4 + j]!).get(u[8 + j]!).f64x2Add().get(half).f64x2Mul().set(sj[j]!);
    }
    f.get(dw).get(c).get(N).mul().get(n).add().i32(2).shl().add().set(at);
    /** dw[at + kw planes] += the kernel row from (m0..m3) (G^T dU's row times G). */
    const gradRow = () => {
      const add = (value: () => void) => {
        f.get(at).get(at).v128Load64Zero().f64x2PromoteLowF32x4();
        value();
        f.f64x2Add().f32x4DemoteF64x2Zero().v128Store64Lane(0);
        f.get(at).get(cnB).add().set(at);
      };
      add(() => f.get(m[0]!).get(m[1]!).get(m[2]!).f64x2Add().get(half).f64x2Mul().f64x2Add());
      add(() => f.get(m[1]!).get(m[2]!).f64x2Sub().get(half).f64x2Mul());
      add(() => f.get(m[1]!).get(m[2]!).f64x2Add().get(half).f64x2Mul().get(m[3]!).f64x2Add());
    };
    for (let j = 0; j < 4; j++) f.get(u[j]!).get(sj[j]!).f64x2Add().set(m[j]!);
    gradRow();
    for (let j = 0; j < 4; j++) {
      f.get(u[4 + j]!).get(u[8 + j]!).f64x2Sub().get(half).f64x2Mul().set(m[j]!);
    }
    gradRow();
    for (let j = 0; j < 4; j++) f.get(sj[j]!).get(u[12 + j]!).f64x2Add().set(m[j]!);
    gradRow();
  });
  return f;
}

/**
 * pack(dst, src, rows, nn, width, rowStep, colStride): the weight packing of the drivers (a
 * copy, bit for bit). Row r of `width` floats at dst + r * width * 4 gets src[r * rowStep +
 * j * colStride] for j < nn (floats from the byte pointer src), then zeros up to `width`. With
 * colStride 1 the row is copied a vector at a time.
 */
function pack(): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(7).fill(I32));
  const [dst, src, rows, nn, width, rowStep, colStride] = PARAMS;
  const r = f.local(I32), j = f.local(I32), sp = f.local(I32), body = f.local(I32);
  f.get(nn).i32(3).sub().set(body); // j < nn - 3: a whole vector left
  f.i32(0).set(r);
  f.block().loop(); // rows
  f.get(r).get(rows).geS().brIf(1);
  f.get(src).get(r).get(rowStep).mul().i32(2).shl().add().set(sp);
  f.i32(0).set(j);
  f.get(colStride).i32(1).eq().if_();
  f.block().loop(); // whole vectors
  f.get(j).get(body).geS().brIf(1);
  f.get(dst).get(j).i32(2).shl().add().get(sp).get(j).i32(2).shl().add().v128Load().v128Store();
  f.get(j).i32(4).add().set(j);
  f.br(0).end().end();
  f.end();
  f.block().loop(); // the rest, one float at a time
  f.get(j).get(nn).geS().brIf(1);
  f.get(dst).get(j).i32(2).shl().add();
  f.get(sp).get(j).get(colStride).mul().i32(2).shl().add().f32Load().f32Store();
  f.get(j).i32(1).add().set(j);
  f.br(0).end().end();
  f.block().loop(); // zeros up to the row's width
  f.get(j).get(width).geS().brIf(1);
  f.get(dst).get(j).i32(2).shl().add().i32(0).i32Store();
  f.get(j).i32(1).add().set(j);
  f.br(0).end().end();
  f.get(dst).get(width).i32(2).shl().add().set(dst);
  f.get(r).i32(1).add().set(r);
  f.br(0).end().end();
  return f;
}

/**
 * pack_t(dst, src, rows, nn, width, colStride): `pack` with rowStep 1 (the input gradient's
 * transposed weights), `rows` and `nn` multiples of 4: 4x4 blocks transposed in registers (four
 * vector loads, eight shuffles, four vector stores instead of 16 scalar loads and stores).
 */
function packTransposed(): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(6).fill(I32));
  const [dst, src, rows, nn, width, colStride] = PARAMS;
  const r = f.local(I32), j = f.local(I32), a = f.local(I32), o = f.local(I32);
  const csB = f.local(I32), wB = f.local(I32);
  const v = [0, 1, 2, 3].map(() => f.local(V128));
  const t = [0, 1, 2, 3].map(() => f.local(V128));
  f.get(colStride).i32(2).shl().set(csB);
  f.get(width).i32(2).shl().set(wB);
  f.i32(0).set(r);
  f.block().loop(); // rows, four at a time
  f.get(r).get(rows).geS().brIf(1);
  f.i32(0).set(j);
  f.block().loop(); // columns, four at a time
  f.get(j).get(nn).geS().brIf(1);
  f.get(src).get(j).get(colStride).mul().get(r).add().i32(2).shl().add().set(a);
  for (let i = 0; i < 4; i++) {
    f.get(a).v128Load().set(v[i]!); // column j + i of rows r .. r + 3
    if (i < 3) f.get(a).get(csB).add().set(a);
  }
  f.get(v[0]!).get(v[1]!).f32x4Shuffle([0, 4, 1, 5]).set(t[0]!);
  f.get(v[0]!).get(v[1]!).f32x4Shuffle([2, 6, 3, 7]).set(t[1]!);
  f.get(v[2]!).get(v[3]!).f32x4Shuffle([0, 4, 1, 5]).set(t[2]!);
  f.get(v[2]!).get(v[3]!).f32x4Shuffle([2, 6, 3, 7]).set(t[3]!);
  f.get(dst).get(r).get(width).mul().get(j).add().i32(2).shl().add().set(o);
  for (let i = 0; i < 4; i++) {
    const [x, y] = i < 2 ? [t[0]!, t[2]!] : [t[1]!, t[3]!];
    const lanes: [number, number, number, number] = i % 2 === 0 ? [0, 1, 4, 5] : [2, 3, 6, 7];
    f.get(o).get(x).get(y).f32x4Shuffle(lanes).v128Store(); // row r + i
    if (i < 3) f.get(o).get(wB).add().set(o);
  }
  f.get(j).i32(4).add().set(j);
  f.br(0).end().end();
  // zeros past nn, up to the width, in the four rows
  f.get(nn).get(width).ltS().if_();
  for (let i = 0; i < 4; i++) {
    f.get(dst).get(r).i32(i).add().get(width).mul().get(nn).add().i32(2).shl().add();
    f.i32(0).get(width).get(nn).sub().i32(2).shl().memoryFill();
  }
  f.end();
  f.get(r).i32(4).add().set(r);
  f.br(0).end().end();
  return f;
}

/**
 * zero(at, bytes): `bytes` zero bytes at `at` (`memory.fill`). A TypedArray `fill` on a shared
 * buffer stores element by element: 0.43 ms for 2.4 MB here against 0.05 for an unshared one, and
 * on 2 participants the Winograd kernel gradients zero ~2.4 MB of chunk accumulators per call of
 * conv2 and of conv4 (16 x 147 KB, 4 x 590 KB).
 */
function zero(): FuncBuilder {
  const f = new FuncBuilder([I32, I32]);
  f.get(0).i32(0).get(1).memoryFill();
  return f;
}

/**
 * all_finite(a, nvec) -> i32: 1 when the nvec vectors at `a` hold no NaN and no infinity. Sums
 * v - v (0 for a finite v, NaN otherwise) into four accumulators, NaN staying NaN.
 */
function allFinite(): FuncBuilder {
  const f = new FuncBuilder([I32, I32], [I32]);
  const [a, nvec] = [0, 1];
  const end = f.local(I32), body = f.local(I32);
  const s = [0, 1, 2, 3].map(() => f.local(V128));
  for (const v of s) f.v128Zero().set(v);
  f.get(a).get(nvec).i32(4).shl().add().set(end);
  f.get(end).i32(48).sub().set(body); // a < end - 48: four whole vectors left
  f.block().loop();
  f.get(a).get(body).geS().brIf(1);
  for (let i = 0; i < 4; i++) {
    f.get(s[i]!).get(a).v128Load(16 * i).get(a).v128Load(16 * i).f32x4Sub().f32x4Add().set(s[i]!);
  }
  f.get(a).i32(64).add().set(a);
  f.br(0).end().end();
  f.block().loop();
  f.get(a).get(end).geS().brIf(1);
  f.get(s[0]!).get(a).v128Load().get(a).v128Load().f32x4Sub().f32x4Add().set(s[0]!);
  f.get(a).i32(16).add().set(a);
  f.br(0).end().end();
  f.get(s[0]!).get(s[1]!).f32x4Add().get(s[2]!).get(s[3]!).f32x4Add().f32x4Add().set(s[0]!);
  f.get(s[0]!).get(s[0]!).f32x4Ne().v128AnyTrue().eqz();
  return f;
}

/**
 * rmsprop(w, g, v, c, nvec): RMSprop without momentum over nvec vectors of 4 parameters, in
 * float64 as the TypeScript optimizer computes it, so the result is bitwise the same:
 * v' = rho v + ((1 - rho) g) g, then w' = w - (lr g) / (sqrt(v') + eps), each rounded once to
 * float32 when stored. `c` points to four f64x2 constants: rho, 1 - rho, lr, eps.
 */
function rmsprop(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32]);
  const [w, g, v, c, nvec] = PARAMS;
  const end = f.local(I32);
  const [rho, omr, lr, eps] = [0, 1, 2, 3].map((i) => {
    const l = f.local(V128);
    f.get(c).v128Load(16 * i).set(l);
    return l;
  }) as [number, number, number, number];
  const locals = Array.from({ length: 9 }, () => f.local(V128)) as unknown as Indices;
  const [G, V, W, gd, vi, vLo, wLo, vHi, wHi] = locals;
  // lanes 0-1 (or 2-3) of a float32 vector, widened exactly to float64
  const half = (x: number, high: boolean) => {
    f.get(x);
    if (high) f.get(x).f32x4Shuffle([2, 3, 2, 3]);
    f.f64x2PromoteLowF32x4();
  };
  f.get(w).get(nvec).i32(4).shl().add().set(end);
  f.get(w).get(end).geS().if_().else_(); // nothing to do for nvec = 0
  f.loop();
  f.get(g).v128Load().set(G).get(v).v128Load().set(V).get(w).v128Load().set(W);
  for (const high of [false, true]) {
    half(G, high);
    f.set(gd);
    f.get(rho);
    half(V, high);
    f.f64x2Mul().get(omr).get(gd).f64x2Mul().get(gd).f64x2Mul().f64x2Add().set(vi);
    half(W, high);
    f.get(lr).get(gd).f64x2Mul().get(vi).f64x2Sqrt().get(eps).f64x2Add().f64x2Div().f64x2Sub();
    f.f32x4DemoteF64x2Zero().set(high ? wHi : wLo);
    f.get(vi).f32x4DemoteF64x2Zero().set(high ? vHi : vLo);
  }
  f.get(v).get(vLo).get(vHi).f32x4Shuffle([0, 1, 4, 5]).v128Store();
  f.get(w).get(wLo).get(wHi).f32x4Shuffle([0, 1, 4, 5]).v128Store();
  f.get(g).i32(16).add().set(g);
  f.get(v).i32(16).add().set(v);
  f.get(w).i32(16).add().tee(w).get(end).ltS().brIf(0);
  f.end();
  f.end();
  return f;
}

/**
 * Assembles the kernel module. Exports `conv_plan`, `conv_dw`, `conv_dw_taps`,
 * `conv_dw_direct`, `conv_c1`, `colsum`, `wino_in`, `wino_out`, `wino_dy`, `wino_dw`,
 * `wino_gemm`, `wino4_in`, `wino4_out`, `wino4_dy`, `wino4_filter`, `wino4_filter_grad`
 * (`winograd4_codegen.ts`), `wino_blocks`,
 * `relu_fwd`, `relu_bwd`, `maxpool_fwd`, `maxpool_bwd`, `maxpool_bwd2`, `vsum`, `rmsprop`, `zero`,
 * `pack`,
 * `dense_dw`,
 * `wino_filter` and `wino_filter_grad` (see the drivers' docs above
 * for their parameters); it imports `env.memory` (shared).
 */
export function generateKernelModule(options: KernelModuleOptions): Uint8Array<ArrayBuffer> {
  const { relaxed, fwdTile: ft, dwTile: dt, unroll } = options;
  for (const t of [ft, dt]) {
    if (t.rows < 1 || t.vecs < 1 || !Number.isInteger(t.rows) || !Number.isInteger(t.vecs)) {
      throw new RangeError(`Bad register tile ${t.rows}x${t.vecs}`);
    }
  }
  const funcs: ModuleFunc[] = [];
  for (let r = 1; r <= ft.rows; r++) {
    for (let c = 1; c <= ft.vecs; c++) funcs.push({ body: fwdTile(r, c, relaxed, unroll) });
  }
  const firstDw = funcs.length;
  for (let r = 1; r <= dt.rows; r++) funcs.push({ body: dwTile(r, dt.vecs, relaxed, unroll) });
  const firstGemm = funcs.length;
  for (let r = 1; r <= ft.rows; r++) {
    for (let c = 1; c <= ft.vecs; c++) funcs.push({ body: dwTile(r, c, relaxed, unroll, true) });
  }
  const firstDirect = funcs.length;
  const { kr: dKR, r: dR } = dwDirectTile(dt.vecs, relaxed);
  for (let a = 1; a <= dKR; a++) {
    for (let b = 1; b <= dR; b++) funcs.push({ body: dwDirectTileFn(a, b, dt.vecs, relaxed) });
  }
  funcs.push({ body: planDriver(ft, 0), exportName: "conv_plan" });
  funcs.push({ body: dwDriver(dt, firstDw), exportName: "conv_dw" });
  funcs.push({ body: dwTapsDriver(dt, firstDw), exportName: "conv_dw_taps" });
  funcs.push({ body: dwDirectDriver(dt, relaxed, firstDirect), exportName: "conv_dw_direct" });
  funcs.push({ body: convC1(relaxed), exportName: "conv_c1" });
  funcs.push({ body: colsum(), exportName: "colsum" });
  funcs.push({ body: vsum(), exportName: "vsum" });
  const in2 = funcs.length;
  funcs.push({ body: winoIn(), exportName: "wino_in" });
  const out2 = funcs.length;
  funcs.push({ body: winoOut(), exportName: "wino_out" });
  funcs.push({ body: winoDy(), exportName: "wino_dy" });
  funcs.push({ body: winoDw(dt, firstDw), exportName: "wino_dw" });
  const gemm = funcs.length;
  funcs.push({ body: winoGemm(ft, firstGemm), exportName: "wino_gemm" });
  const in4 = funcs.length;
  funcs.push({ body: wino4In(relaxed), exportName: "wino4_in" });
  const out4 = funcs.length;
  funcs.push({ body: wino4Out(relaxed), exportName: "wino4_out" });
  funcs.push({ body: winoBlocks({ in2, in4, gemm, out2, out4 }), exportName: "wino_blocks" });
  funcs.push({ body: wino4Filter(), exportName: "wino4_filter" });
  funcs.push({ body: wino4Dy(relaxed), exportName: "wino4_dy" });
  funcs.push({ body: wino4FilterGrad(), exportName: "wino4_filter_grad" });
  funcs.push({ body: relu(false), exportName: "relu_fwd" });
  funcs.push({ body: relu(true), exportName: "relu_bwd" });
  funcs.push({ body: maxPoolFwd(), exportName: "maxpool_fwd" });
  funcs.push({ body: maxPoolBwd(), exportName: "maxpool_bwd" });
  funcs.push({ body: maxPoolBwd2(), exportName: "maxpool_bwd2" });
  funcs.push({ body: rmsprop(), exportName: "rmsprop" });
  funcs.push({ body: allFinite(), exportName: "all_finite" });
  funcs.push({ body: zero(), exportName: "zero" });
  funcs.push({ body: pack(), exportName: "pack" });
  funcs.push({ body: packTransposed(), exportName: "pack_t" });
  funcs.push({ body: denseDw(relaxed), exportName: "dense_dw" });
  funcs.push({ body: winoFilter(), exportName: "wino_filter" });
  funcs.push({ body: winoFilterGrad(), exportName: "wino_filter_grad" });
  return assembleModule(
    { initialPages: options.initialPages, maximumPages: options.maximumPages, shared: true },
    funcs,
  );
}

/** A tiny module whose validation tells whether an opcode family is supported. */
function probe(op: (f: FuncBuilder) => void): boolean {
  const f = new FuncBuilder([], [V128]);
  f.v128Zero().v128Zero().v128Zero();
  op(f);
  const bytes = assembleModule({ initialPages: 1, maximumPages: 1, shared: false }, [
    { body: f, exportName: "p" },
  ]);
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

/** Whether this runtime validates WebAssembly SIMD128 (f32x4.mul / add). */
export function simdSupported(): boolean {
  return probe((f) => f.f32x4Mul().f32x4Add());
}

/** Whether this runtime validates relaxed SIMD (`f32x4.relaxed_madd`). */
export function relaxedSimdSupported(): boolean {
  return probe((f) => f.f32x4RelaxedMadd());
}

/** Whether shared WebAssembly memory (threads) is available. */
export function sharedMemorySupported(): boolean {
  if (typeof SharedArrayBuffer !== "function") return false;
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}
