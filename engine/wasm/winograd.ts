/**
 * The Winograd F(2x2, 3x3) and F(4x4, 3x3) filter transforms, in TypeScript (once per layer
 * call, not per pixel): U = G g G^T of the 3x3 kernel into the packed weights of the forward's
 * GEMM, and the kernel gradient dw += G^T dU G from the GEMM of the kernel-gradient task. The
 * WebAssembly kernels equal them bitwise and do most of the work; these do the odd output channel
 * and serve as the tests' references. The tile transforms are generated in `codegen.ts`
 * (`wino_in`, `wino_out`, `wino_dy`) and `winograd4_codegen.ts` (`wino4_*`).
 *
 * @module
 */

/**
 * The Winograd F(2x2, 3x3) transform of 3x3 filters, U = G g G^T, written straight into the
 * forward kernel's packed weight layout: a (16*C) x N matrix (row xi*C + c for transform position
 * xi and input channel c, column n for output channel n) cut into column blocks of `vecs`
 * vectors, each block K = 16C rows of its width (the last block may be narrower), columns past
 * N zero. Tap t = kh*3 + kw of the filter from channel c to channel n is read at
 * `w[t' * C * N + c * cStride + n * nStride]`, with t' = 8 - t when `flip` (the input gradient's
 * flipped kernel) and t otherwise. Computed in float64, rounded once. Only the output channels
 * (columns) in [n0, n1) are written; the wasm backend runs the even part of the range in
 * WebAssembly (`wino_filter`, bitwise this function) and the rest here.
 *
 * G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { winogradFilter } from "./winograd.ts";
 * // One channel in and out, the filter 1 at the centre tap only (kh = kw = 1).
 * const w = new Float32Array(9);
 * w[4] = 1;
 * const u = new Float32Array(16 * 4);
 * winogradFilter(u, 1, 1, w, 1, 1, false, 2);
 * // U = G g G^T: row 1 of G g is (0, 1/2, 0), so U[1][1] = 1/4 (position xi = 5, column 0).
 * assert.equal(u[5 * 4], 0.25);
 * ```
 */
export function winogradFilter(
  dst: Float32Array,
  C: number,
  N: number,
  w: Float32Array,
  cStride: number,
  nStride: number,
  flip: boolean,
  vecs: number,
  n0 = 0,
  n1 = Math.ceil(N / 4) * 4,
): void {
  const K = 16 * C;
  const [t0, t1, t2, t3, t4, t5, t6, t7, t8] = tapOffsets(C, N, flip);
  for (let n = n0; n < n1; n++) {
    const { col, width } = packedColumn(n, N, K, vecs);
    if (n >= N) {
      for (let k = 0; k < K; k++) dst[col + k * width] = 0;
      continue;
    }
    for (let c = 0; c < C; c++) {
      const b = c * cStride + n * nStride;
      const g00 = w[b + t0]!, g01 = w[b + t1]!, g02 = w[b + t2]!;
      const g10 = w[b + t3]!, g11 = w[b + t4]!, g12 = w[b + t5]!;
      const g20 = w[b + t6]!, g21 = w[b + t7]!, g22 = w[b + t8]!;
      // G g (4 x 3): rows g0, (g0 + g1 + g2)/2, (g0 - g1 + g2)/2, g2 of the kernel rows.
      const step = C * width, at = col + c * width;
      row(dst, at, step, g00, g01, g02);
      row(
        dst,
        at + 4 * step,
        step,
        (g00 + g10 + g20) / 2,
        (g01 + g11 + g21) / 2,
        (g02 + g12 + g22) / 2,
      );
      row(
        dst,
        at + 8 * step,
        step,
        (g00 - g10 + g20) / 2,
        (g01 - g11 + g21) / 2,
        (g02 - g12 + g22) / 2,
      );
      row(dst, at + 12 * step, step, g20, g21, g22);
    }
  }
}

/**
 * Where output channel `n` of a (K rows) x N matrix packed as the forward GEMM's weights starts:
 * column blocks of `vecs` vectors, each K rows of its width (the last block may be narrower),
 * so element (k, n) is at `col + k * width`.
 */
function packedColumn(
  n: number,
  N: number,
  K: number,
  vecs: number,
): { col: number; width: number } {
  const cb = Math.floor(n / (4 * vecs)) * vecs;
  const width = Math.min(vecs, Math.ceil(N / 4) - cb) * 4;
  return { col: K * cb * 4 + (n - cb * 4), width };
}

/** Offsets of the 9 taps t = kh*3 + kw in a filter of C x N planes, flipped (8 - t) when asked. */
function tapOffsets(C: number, N: number, flip: boolean): Tuple9 {
  return [0, 1, 2, 3, 4, 5, 6, 7, 8].map((t) => (flip ? 8 - t : t) * C * N) as unknown as Tuple9;
}

type Tuple9 = [number, number, number, number, number, number, number, number, number];

/** One row (a0, a1, a2) of G g times G^T: the 4 positions xi = 4i + k, `step` apart. */
function row(dst: Float32Array, at: number, step: number, a0: number, a1: number, a2: number) {
  dst[at] = a0;
  dst[at + step] = (a0 + a1 + a2) / 2;
  dst[at + 2 * step] = (a0 - a1 + a2) / 2;
  dst[at + 3 * step] = a2;
}

/**
 * The kernel gradient from the gradient of the transformed filter: dw += G^T dU G per channel
 * pair (the transpose of `winogradFilter`'s U = G g G^T). dU[xi][c][n] is read from the
 * accumulators of the Winograd kernel-gradient task, `acc[((xi * ceil(Cp/B) + floor(c/B)) * Np
 * + n) * B + c % B]` (Cp = C rounded up to 4); dw is the layer's [3][3][C][N]. Computed in
 * float64, rounded once per element. Only the output channels in [n0, n1) are updated (the wasm
 * backend runs the even part in WebAssembly, `wino_filter_grad`, bitwise this function).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { winogradFilterGradient } from "./winograd.ts";
 * // C = N = 1 (Np = 4), B = 4: dU = 1 at position xi = 5 only, so dw = outer product of G's row 1.
 * const acc = new Float32Array(16 * 4 * 4);
 * acc[5 * 16] = 1;
 * const dw = new Float32Array(9);
 * winogradFilterGradient(dw, acc, 1, 1, 4, 4);
 * assert.deepEqual([...dw], [0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]);
 * ```
 */
export function winogradFilterGradient(
  dw: Float32Array,
  acc: Float32Array,
  C: number,
  N: number,
  Np: number,
  B: number,
  n0 = 0,
  n1 = N,
): void {
  const nTB = Math.ceil(Math.ceil(C / 4) * 4 / B), pos = nTB * Np * B, CN = C * N;
  for (let c = 0; c < C; c++) {
    const cOff = Math.floor(c / B) * Np * B + (c % B);
    for (let n = n0; n < n1; n++) {
      const u = cOff + n * B, at = c * N + n;
      // Row xi = 4i + k of dU at u + xi * pos; G^T dU's rows are u0 + (u1 + u2)/2, (u1 - u2)/2,
      // (u1 + u2)/2 + u3 of dU's rows u0..u3, each then times G into a kernel row of dw.
      const u00 = acc[u]!, u01 = acc[u + pos]!, u02 = acc[u + 2 * pos]!, u03 = acc[u + 3 * pos]!;
      const u10 = acc[u + 4 * pos]!, u11 = acc[u + 5 * pos]!;
      const u12 = acc[u + 6 * pos]!, u13 = acc[u + 7 * pos]!;
      const u20 = acc[u + 8 * pos]!, u21 = acc[u + 9 * pos]!;
      const u22 = acc[u + 10 * pos]!, u23 = acc[u + 11 * pos]!;
      const u30 = acc[u + 12 * pos]!, u31 = acc[u + 13 * pos]!;
      const u32 = acc[u + 14 * pos]!, u33 = acc[u + 15 * pos]!;
      const s0 = (u10 + u20) / 2, s1 = (u11 + u21) / 2, s2 = (u12 + u22) / 2, s3 = (u13 + u23) / 2;
      gradRow(dw, at, CN, u00 + s0, u01 + s1, u02 + s2, u03 + s3);
      gradRow(
        dw,
        at + 3 * CN,
        CN,
        (u10 - u20) / 2,
        (u11 - u21) / 2,
        (u12 - u22) / 2,
        (u13 - u23) / 2,
      );
      gradRow(dw, at + 6 * CN, CN, s0 + u30, s1 + u31, s2 + u32, s3 + u33);
    }
  }
}

/** One row (m0..m3) of G^T dU times G: adds kernel row (kw = 0, 1, 2) of dw, `step` apart. */
function gradRow(
  dw: Float32Array,
  at: number,
  step: number,
  m0: number,
  m1: number,
  m2: number,
  m3: number,
) {
  dw[at]! += m0 + (m1 + m2) / 2;
  dw[at + step]! += (m1 - m2) / 2;
  dw[at + 2 * step]! += (m1 + m2) / 2 + m3;
}

/**
 * The Winograd F(4x4, 3x3) transform of 3x3 filters, U = G g G^T (6x6 per channel pair), into
 * the packed layout of the forward's GEMM as `winogradFilter` writes F(2x2, 3x3)'s: a (36*C) x N
 * matrix, row xi*C + c for position xi = 6i + k, in column blocks of `vecs` vectors, columns
 * past N zero. The taps are read as `winogradFilter` reads them (`cStride`, `nStride`, `flip`).
 * Computed in float64, rounded once. Only the output channels (columns) in [n0, n1) are written;
 * the wasm backend runs the even part of the range in WebAssembly (`wino4_filter`, bitwise this
 * function) and the rest here.
 *
 * G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { winogradFilter4 } from "./winograd.ts";
 * // One channel in and out, the filter 1 at the centre tap only (kh = kw = 1).
 * const w = new Float32Array(9);
 * w[4] = 1;
 * const u = new Float32Array(36 * 4);
 * winogradFilter4(u, 1, 1, w, 1, 1, false, 2);
 * // G's column 1 is (0, -1/6, 1/6, 1/12, -1/12, 0): U[1][3] = -1/6 * 1/12 (xi = 9, column 0).
 * assert.equal(u[9 * 4], Math.fround(-1 / 72));
 * ```
 */
export function winogradFilter4(
  dst: Float32Array,
  C: number,
  N: number,
  w: Float32Array,
  cStride: number,
  nStride: number,
  flip: boolean,
  vecs: number,
  n0 = 0,
  n1 = Math.ceil(N / 4) * 4,
): void {
  const K = 36 * C;
  const taps = tapOffsets(C, N, flip);
  const gg = new Float64Array(18); // G g, 6 x 3
  const g = new Float64Array(9);
  for (let n = n0; n < n1; n++) {
    const { col, width } = packedColumn(n, N, K, vecs), step = C * width;
    for (let c = 0; c < C; c++) {
      const at = col + c * width;
      if (n >= N) {
        for (let xi = 0; xi < 36; xi++) dst[at + xi * step] = 0;
        continue;
      }
      const b = c * cStride + n * nStride;
      for (let t = 0; t < 9; t++) g[t] = w[b + taps[t]!]!;
      for (let j = 0; j < 3; j++) transformG(g[j]!, g[3 + j]!, g[6 + j]!, gg, j, 3);
      for (let i = 0; i < 6; i++) {
        const r = i * 3;
        transformG(gg[r]!, gg[r + 1]!, gg[r + 2]!, U_ROW, 0, 1);
        for (let k = 0; k < 6; k++) dst[at + (6 * i + k) * step] = U_ROW[k]!;
      }
    }
  }
}

/** One row of U, reused by `winogradFilter4`. */
const U_ROW = new Float64Array(6);

/** G times the 3-vector (a0, a1, a2): six values into `out` at `at`, `step` apart. */
function transformG(
  a0: number,
  a1: number,
  a2: number,
  out: Float64Array,
  at: number,
  step: number,
): void {
  const s = a0 + a2;
  out[at] = a0 / 4;
  out[at + step] = -(s + a1) / 6;
  out[at + 2 * step] = -(s - a1) / 6;
  out[at + 3 * step] = a0 / 24 + a1 / 12 + a2 / 6;
  out[at + 4 * step] = a0 / 24 - a1 / 12 + a2 / 6;
  out[at + 5 * step] = a2;
}

/**
 * The kernel gradient from the gradient of the F(4x4, 3x3)-transformed filter: dw += G^T dU G
 * per channel pair (the transpose of `winogradFilter4`), as `winogradFilterGradient` does for
 * F(2x2, 3x3): dU[xi][c][n] read from the accumulators of the kernel-gradient task at
 * `acc[((xi * ceil(Cp/B) + floor(c/B)) * Np + n) * B + c % B]` for the 36 positions xi = 6i + k.
 * Computed in float64, rounded once per element; only the output channels in [n0, n1) (the wasm
 * backend runs the even part in WebAssembly, `wino4_filter_grad`, bitwise this function).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { winogradFilterGradient4 } from "./winograd.ts";
 * // C = N = 1 (Np = 4), B = 4: dU = 1 at position xi = 35 only (i = k = 5), so dw = the outer
 * // product of G's row 5, (0, 0, 1): only the tap kh = kw = 2.
 * const acc = new Float32Array(36 * 16);
 * acc[35 * 16] = 1;
 * const dw = new Float32Array(9);
 * winogradFilterGradient4(dw, acc, 1, 1, 4, 4);
 * assert.deepEqual([...dw], [0, 0, 0, 0, 0, 0, 0, 0, 1]);
 * ```
 */
export function winogradFilterGradient4(
  dw: Float32Array,
  acc: Float32Array,
  C: number,
  N: number,
  Np: number,
  B: number,
  n0 = 0,
  n1 = N,
): void {
  const nTB = Math.ceil(Math.ceil(C / 4) * 4 / B), pos = nTB * Np * B, CN = C * N;
  const z = new Float64Array(18); // G^T dU, 3 x 6
  const r = new Float64Array(3);
  for (let c = 0; c < C; c++) {
    const cOff = Math.floor(c / B) * Np * B + (c % B);
    for (let n = n0; n < n1; n++) {
      const u = cOff + n * B, at = c * N + n;
      for (let k = 0; k < 6; k++) {
        const a = (i: number) => acc[u + (6 * i + k) * pos]!;
        transformGT(a(0), a(1), a(2), a(3), a(4), a(5), r);
        z[k] = r[0]!;
        z[6 + k] = r[1]!;
        z[12 + k] = r[2]!;
      }
      for (let kh = 0; kh < 3; kh++) {
        const o = kh * 6;
        transformGT(z[o]!, z[o + 1]!, z[o + 2]!, z[o + 3]!, z[o + 4]!, z[o + 5]!, r);
        for (let kw = 0; kw < 3; kw++) dw[at + (kh * 3 + kw) * CN]! += r[kw]!;
      }
    }
  }
}

/**
 * G^T times the 6-vector u into `out` (3 values): with s = u1 + u2 and t = u3 + u4,
 * u0/4 - s/6 + t/24, (u2 - u1)/6 + (u3 - u4)/12 and (t - s)/6 + u5.
 */
function transformGT(
  u0: number,
  u1: number,
  u2: number,
  u3: number,
  u4: number,
  u5: number,
  out: Float64Array,
): void {
  const s = u1 + u2, t = u3 + u4;
  out[0] = u0 / 4 - s / 6 + t / 24;
  out[1] = (u2 - u1) / 6 + (u3 - u4) / 12;
  out[2] = (t - s) / 6 + u5;
}
