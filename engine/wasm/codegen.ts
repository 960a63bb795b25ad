/**
 * Generates the WebAssembly SIMD128 convolution kernels. Every heavy kernel of the engine reduces
 * to two register-tiled loops over NHWC data read in place (an implicit im2col):
 *
 * - `conv_fwd`: a *valid* convolution of any stride, as a GEMM with M = output pixels of one output
 *   row, N = output channels (vectorised by 4), K = kH x kW x inC walked row of taps by row of
 *   taps; for a fixed kernel row the taps (kw, ci) are contiguous in both the input and the packed
 *   weights, so the inner loop is one pointer walk. Padding, the transposed convolution of the
 *   input gradient and the dense layer are all expressed as calls of it on prepared operands.
 * - `conv_dw`: the kernel gradient of a *valid* convolution, tiled over (tap row slice, output
 *   channels) with the reduction over all pixels of one image innermost; every load has a static
 *   offset, so the loop body is loads and multiply-adds only.
 * - `colsum`: column sums of `dy` for the bias gradient.
 *
 * The register tile (`rows x 4*vecs`) is a parameter. With relaxed SIMD the accumulators, the
 * weight vectors and one broadcast input fit V8's 15 usable xmm registers at 6x8; with a separate
 * multiply and add one more temporary is live, so the default tile there is smaller.
 *
 * Tails: packed weights and bias are zero-padded to whole vectors, and the last vector of an
 * output row is written lane by lane when the channel count is not a multiple of 4; tiles with
 * fewer rows or vectors are separate generated functions, so every shape takes a full-speed path
 * for its bulk and a correct path for its edges.
 *
 * @module
 */

import { assembleModule, FuncBuilder, I32, type ModuleFunc, V128 } from "./assembler.ts";

/** Register-tile sizes: `rows` output pixels (or taps) by `vecs` vectors of 4 output channels. */
export interface Tile {
  readonly rows: number;
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

/** Emits acc = x * w + acc with the chosen multiply-add. */
function madd(f: FuncBuilder, relaxed: boolean, acc: number, x: number, w: number): void {
  if (relaxed) f.get(x).get(w).get(acc).f32x4RelaxedMadd().set(acc);
  else f.get(acc).get(x).get(w).f32x4Mul().f32x4Add().set(acc);
}

/** Emits `dst = min(cap, a - b)` for i32 locals. */
function minDiff(f: FuncBuilder, dst: number, cap: number, a: number, b: number): void {
  f.get(a).get(b).sub().set(dst);
  f.i32(cap).get(dst).get(dst).i32(cap).gtS().select().set(dst);
}

/** Emits a call of `funcs[(r-1)*maxC + (c-1)]` chosen by the runtime values of locals rr, cc. */
function dispatch(
  f: FuncBuilder,
  tile: Tile,
  firstFunc: number,
  rr: number,
  cc: number,
  pushArgs: () => void,
): void {
  for (let r = tile.rows; r >= 1; r--) {
    for (let c = tile.vecs; c >= 1; c--) {
      f.get(rr).i32(r).eq().get(cc).i32(c).eq().and().if_();
      pushArgs();
      f.call(firstFunc + (r - 1) * tile.vecs + (c - 1));
      f.end();
    }
  }
}

/**
 * One forward tile: `r` output pixels x `c` channel vectors over the whole K. The pixels are
 * consecutive in the output but may span output rows (and images), so each comes with its own
 * input address; that keeps the tile full on narrow outputs (8 or 10 pixels wide).
 * Params: yp, a_0 .. a_{r-1}, wp, bp, nlast, kH, rowBytes, L (= kW*inC), yPixBytes.
 */
function fwdTile(r: number, c: number, relaxed: boolean, unroll: number): FuncBuilder {
  const params: (typeof I32)[] = new Array<typeof I32>(r + 8).fill(I32);
  const f = new FuncBuilder(params);
  const yp = 0;
  const a: number[] = [];
  for (let i = 0; i < r; i++) a.push(1 + i);
  const [wp, bp, nlast, kH, rowBytes, L, yPixBytes] = [
    r + 1,
    r + 2,
    r + 3,
    r + 4,
    r + 5,
    r + 6,
    r + 7,
  ];
  const acc: number[] = [];
  for (let k = 0; k < r * c; k++) acc.push(f.local(V128));
  const w: number[] = [];
  for (let j = 0; j < c; j++) w.push(f.local(V128));
  const xs = f.local(V128);
  const kh = f.local(I32), end = f.local(I32), mainEnd = f.local(I32), back = f.local(I32);
  const ya = f.local(I32);
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
  f.get(kh).i32(1).sub().tee(kh).brIf(0);
  f.end();
  // Store; the last vector may be partial (channel count not a multiple of 4).
  f.get(yp).set(ya);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c - 1; j++) f.get(ya).get(acc[i * c + j]!).v128Store(j * 16);
    const last = acc[i * c + c - 1]!;
    const off = (c - 1) * 16;
    f.get(nlast).i32(4).eq().if_();
    f.get(ya).get(last).v128Store(off);
    f.else_();
    f.get(ya).get(last).f32x4ExtractLane(0).f32Store(off);
    f.get(nlast).i32(1).gtS().if_();
    f.get(ya).get(last).f32x4ExtractLane(1).f32Store(off + 4);
    f.end();
    f.get(nlast).i32(2).gtS().if_();
    f.get(ya).get(last).f32x4ExtractLane(2).f32Store(off + 8);
    f.end();
    f.end();
    if (i < r - 1) f.get(ya).get(yPixBytes).add().set(ya);
  }
  return f;
}

/** Output pixels per chunk of the forward driver: all weight blocks run over one chunk at a time. */
const FWD_CHUNK_TILES = 16;

/**
 * The forward driver: output rows [row0, row1) of a valid convolution (row = n * outH + oh).
 * Params: y, x, wp, bp, row0, row1, outH, outW, outC, inC, kH, kW, strideH, strideW, rowBytes,
 * xImgBytes. Packed weights: per block of `vecs` vectors, K rows of `4*vecs` floats (the last
 * block may be narrower). The pixels of the range are cut into chunks; per chunk, each weight
 * block sweeps the chunk's pixels in tiles of `rows` consecutive pixels.
 */
function fwdDriver(tile: Tile, firstTile: number): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(16).fill(I32));
  const [y, x, wp, bp, row0, row1, outH, outW, outC, inC, kH, kW, sH, sW, rowBytes, xImgBytes] = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
  ];
  const R = tile.rows, C = tile.vecs;
  const L = f.local(I32), K = f.local(I32), nVec = f.local(I32);
  const pixBytes = f.local(I32), yPixBytes = f.local(I32), rowStep = f.local(I32);
  const p = f.local(I32), p1 = f.local(I32), chunkEnd = f.local(I32), q = f.local(I32);
  const n = f.local(I32), oh = f.local(I32), ow = f.local(I32), addr = f.local(I32);
  const c0h = f.local(I32), c0w = f.local(I32), c0a = f.local(I32);
  const cb = f.local(I32), cc = f.local(I32), nlast = f.local(I32);
  const wpb = f.local(I32), bpb = f.local(I32), rr = f.local(I32);
  const ad: number[] = [];
  for (let i = 0; i < R; i++) ad.push(f.local(I32));
  f.get(outC).i32(3).add().i32(2).shrU().set(nVec);
  f.get(kW).get(inC).mul().set(L);
  f.get(kH).get(L).mul().set(K);
  f.get(sW).get(inC).mul().i32(2).shl().set(pixBytes);
  f.get(outC).i32(2).shl().set(yPixBytes);
  f.get(sH).get(rowBytes).mul().set(rowStep);
  f.get(row0).get(outW).mul().set(p);
  f.get(row1).get(outW).mul().set(p1);
  f.block().loop(); // over chunks
  f.get(p).get(p1).geS().brIf(1);
  f.get(p).i32(R * FWD_CHUNK_TILES).add().tee(chunkEnd).get(p1).get(chunkEnd).get(p1).ltS().select()
    .set(chunkEnd);
  // Position (n, oh, ow) and input address of the chunk's first pixel.
  f.get(p).get(outW).divU().set(oh); // oh holds the global row for now
  f.get(p).get(oh).get(outW).mul().sub().set(c0w);
  f.get(oh).get(outH).divU().set(n);
  f.get(oh).get(n).get(outH).mul().sub().set(c0h);
  f.get(x).get(n).get(xImgBytes).mul().add().get(c0h).get(rowStep).mul().add();
  f.get(c0w).get(pixBytes).mul().add().set(c0a);
  f.i32(0).set(cb);
  f.block().loop(); // over weight blocks
  f.get(cb).get(nVec).geS().brIf(1);
  minDiff(f, cc, C, nVec, cb);
  f.i32(4).get(outC).get(nVec).i32(1).sub().i32(2).shl().sub();
  f.get(cb).get(cc).add().get(nVec).ne().select().set(nlast);
  f.get(wp).get(cb).get(K).mul().i32(4).shl().add().set(wpb);
  f.get(bp).get(cb).i32(4).shl().add().set(bpb);
  f.get(c0h).set(oh).get(c0w).set(ow).get(c0a).set(addr).get(p).set(q);
  f.block().loop(); // over tiles of the chunk
  f.get(q).get(chunkEnd).geS().brIf(1);
  minDiff(f, rr, R, chunkEnd, q);
  for (let i = 0; i < R; i++) {
    f.get(addr).set(ad[i]!);
    // Advance to the next pixel: along the row, else to the next row, else to the next image.
    f.get(ow).i32(1).add().tee(ow).get(outW).ltS().if_();
    f.get(addr).get(pixBytes).add().set(addr);
    f.else_();
    f.i32(0).set(ow);
    f.get(oh).i32(1).add().tee(oh).get(outH).ltS().if_();
    f.get(addr).get(rowStep).add().get(outW).i32(1).sub().get(pixBytes).mul().sub().set(addr);
    f.else_();
    f.i32(0).set(oh);
    f.get(addr).get(xImgBytes).add().get(outH).i32(1).sub().get(rowStep).mul().sub();
    f.get(outW).i32(1).sub().get(pixBytes).mul().sub().set(addr);
    f.end();
    f.end();
  }
  for (let r = R; r >= 1; r--) {
    for (let c = C; c >= 1; c--) {
      f.get(rr).i32(r).eq().get(cc).i32(c).eq().and().if_();
      f.get(y).get(q).get(yPixBytes).mul().add().get(cb).i32(4).shl().add();
      for (let i = 0; i < r; i++) f.get(ad[i]!);
      f.get(wpb).get(bpb).get(nlast).get(kH).get(rowBytes).get(L).get(yPixBytes);
      f.call(firstTile + (r - 1) * C + (c - 1));
      f.end();
    }
  }
  f.get(q).i32(R).add().set(q);
  f.br(0).end().end();
  f.get(cb).i32(C).add().set(cb);
  f.br(0).end().end();
  f.get(chunkEnd).set(p);
  f.br(0).end().end();
  return f;
}

/**
 * One kernel-gradient tile: `r` consecutive taps of a kernel row x `c` channel vectors, summed
 * over all pixels of one image into a padded accumulator.
 * Params: accp, xp, dyp, outH, outW, rowStepX, pixBytes, dyPixBytes, accRowBytes.
 */
function dwTile(r: number, c: number, relaxed: boolean): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [accp, xp, dyp, outH, outW, rowStepX, pixBytes, dyPixBytes, accRowBytes] = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
  ];
  const acc: number[] = [];
  for (let k = 0; k < r * c; k++) acc.push(f.local(V128));
  const d: number[] = [];
  for (let j = 0; j < c; j++) d.push(f.local(V128));
  const xs = f.local(V128);
  const oh = f.local(I32), px = f.local(I32), pd = f.local(I32), pdEnd = f.local(I32);
  const xr = f.local(I32), aa = f.local(I32), rowDy = f.local(I32);
  f.get(accp).set(aa);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c; j++) f.get(aa).v128Load(j * 16).set(acc[i * c + j]!);
    if (i < r - 1) f.get(aa).get(accRowBytes).add().set(aa);
  }
  f.get(outW).get(dyPixBytes).mul().set(rowDy);
  f.get(xp).set(xr).get(dyp).set(pd).get(outH).set(oh);
  f.loop();
  f.get(xr).set(px).get(pd).get(rowDy).add().set(pdEnd);
  f.loop();
  for (let j = 0; j < c; j++) f.get(pd).v128Load(j * 16).set(d[j]!);
  for (let i = 0; i < r; i++) {
    f.get(px).v128Load32Splat(i * 4).set(xs);
    for (let j = 0; j < c; j++) madd(f, relaxed, acc[i * c + j]!, xs, d[j]!);
  }
  f.get(px).get(pixBytes).add().set(px);
  f.get(pd).get(dyPixBytes).add().tee(pd).get(pdEnd).ltS().brIf(0);
  f.end();
  f.get(xr).get(rowStepX).add().set(xr);
  f.get(oh).i32(1).sub().tee(oh).brIf(0);
  f.end();
  f.get(accp).set(aa);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c; j++) f.get(aa).get(acc[i * c + j]!).v128Store(j * 16);
    if (i < r - 1) f.get(aa).get(accRowBytes).add().set(aa);
  }
  return f;
}

/**
 * The kernel-gradient driver for one image of a valid convolution (outH, outW >= 1).
 * Params: acc, x, dy, outH, outW, outC, inC, kH, kW, strideH, strideW, rowBytes. `acc` is
 * (kH*kW*inC) rows of ceil(outC/4)*4 floats; `dy` rows are outC floats (the last vector's extra
 * lanes read the next pixel and land in the padding lanes of `acc`, never in a result).
 */
function dwDriver(tile: Tile, firstTile: number): FuncBuilder {
  const f = new FuncBuilder(new Array<typeof I32>(12).fill(I32));
  const [acc, x, dy, outH, outW, outC, inC, kH, kW, sH, sW, rowBytes] = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
  ];
  const nVec = f.local(I32), L = f.local(I32), kh = f.local(I32), t0 = f.local(I32);
  const rr = f.local(I32), cb = f.local(I32), cc = f.local(I32);
  f.get(outC).i32(3).add().i32(2).shrU().set(nVec);
  f.get(kW).get(inC).mul().set(L);
  f.i32(0).set(kh);
  f.block().loop();
  f.get(kh).get(kH).geS().brIf(1);
  f.i32(0).set(t0);
  f.block().loop();
  f.get(t0).get(L).geS().brIf(1);
  minDiff(f, rr, tile.rows, L, t0);
  f.i32(0).set(cb);
  f.block().loop();
  f.get(cb).get(nVec).geS().brIf(1);
  minDiff(f, cc, tile.vecs, nVec, cb);
  dispatch(f, tile, firstTile, rr, cc, () => {
    f.get(acc).get(kh).get(L).mul().get(t0).add().get(nVec).mul().get(cb).add().i32(4).shl().add();
    f.get(x).get(kh).get(rowBytes).mul().add().get(t0).i32(2).shl().add();
    f.get(dy).get(cb).i32(4).shl().add();
    f.get(outH).get(outW).get(sH).get(rowBytes).mul();
    f.get(sW).get(inC).mul().i32(2).shl();
    f.get(outC).i32(2).shl();
    f.get(nVec).i32(4).shl();
  });
  f.get(cb).i32(tile.vecs).add().set(cb);
  f.br(0).end().end();
  f.get(t0).i32(tile.rows).add().set(t0);
  f.br(0).end().end();
  f.get(kh).i32(1).add().set(kh);
  f.br(0).end().end();
  return f;
}

/** colsum(acc, dy, npix, outC): acc[0 .. ceil(outC/4)*4) += column sums of dy (npix >= 1). */
function colsum(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32]);
  const [acc, dy, npix, outC] = [0, 1, 2, 3];
  const nVec = f.local(I32), j = f.local(I32), p = f.local(I32), pEnd = f.local(I32);
  const stride = f.local(I32), a = f.local(V128);
  f.get(outC).i32(3).add().i32(2).shrU().set(nVec);
  f.get(outC).i32(2).shl().set(stride);
  f.i32(0).set(j);
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

/**
 * relu_fwd(y, x, nvec): y = x > 0 ? x : 0 over nvec vectors (pmax(0, x) maps NaN to 0 as the
 * TypeScript kernel does). relu_bwd(dx, dy, y, nvec): dx = y > 0 ? dy : 0.
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
  else f.get(out).get(zero).get(a).v128Load().f32x4Pmax();
  f.v128Store();
  f.get(a).i32(16).add().set(a);
  if (backward) f.get(yv).i32(16).add().set(yv);
  f.get(out).i32(16).add().tee(out).get(end).ltS().brIf(0);
  f.end();
  f.end();
  return f;
}

/**
 * Assembles the kernel module. Exports `conv_fwd`, `conv_dw`, `colsum`, `relu_fwd` and `relu_bwd` (see the drivers'
 * docs above for their parameters); it imports `env.memory` (shared).
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
  for (let r = 1; r <= dt.rows; r++) {
    for (let c = 1; c <= dt.vecs; c++) funcs.push({ body: dwTile(r, c, relaxed) });
  }
  funcs.push({ body: fwdDriver(ft, 0), exportName: "conv_fwd" });
  funcs.push({ body: dwDriver(dt, firstDw), exportName: "conv_dw" });
  funcs.push({ body: colsum(), exportName: "colsum" });
  funcs.push({ body: relu(false), exportName: "relu_fwd" });
  funcs.push({ body: relu(true), exportName: "relu_bwd" });
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
