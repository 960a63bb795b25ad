/**
 * The Winograd filter transforms in WebAssembly, F(2x2, 3x3)'s and F(4x4, 3x3)'s (`wino_filter`,
 * `wino4_filter`, `wino_filter_grad`, `wino4_filter_grad`: float64 lanes, two output channels at
 * a time) against the TypeScript ones (`winogradFilter`, `winogradFilter4`,
 * `winogradFilterGradient`, `winogradFilterGradient4`), which they must equal bitwise: on odd and
 * even channel counts (the kernels take the pairs, TypeScript the last odd channel), both filter
 * layouts (the forward's and the input gradient's flipped, transposed one), column blocks of 1-3
 * vectors, and values of every magnitude.
 *
 * Run: deno test -A tests/engine/wasm/winograd_filter_test.ts
 */

import assert from "node:assert/strict";
import { defaultTiles, generateKernelModule, simdSupported } from "../../../engine/wasm/codegen.ts";
import type { KernelExports } from "../../../engine/wasm/tasks.ts";
import {
  winogradFilter,
  winogradFilter4,
  winogradFilterGradient,
  winogradFilterGradient4,
} from "../../../engine/wasm/winograd.ts";

const available = simdSupported();

/** Values of all magnitudes (zeros, subnormals, tiny, ordinary, large), both signs. */
function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const u = (s >>> 8) / 2 ** 24 - 0.5;
    a[i] = s % 9 === 0 ? 0 : s % 9 === 1 ? u * 1e-40 : u * 10 ** ((s % 11) - 5);
  }
  return a;
}

async function kernels(): Promise<{ k: KernelExports; memory: WebAssembly.Memory }> {
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 256, shared: true });
  const bytes = generateKernelModule({
    relaxed: false,
    ...defaultTiles(false),
    unroll: 4,
    initialPages: 256,
    maximumPages: 256,
  });
  const { instance } = await WebAssembly.instantiate(bytes, { env: { memory } });
  return { k: instance.exports as unknown as KernelExports, memory };
}

/** Channel counts (C in, N out): the seed CNN's, odd N (a channel left to TypeScript), tiny. */
const SHAPES: [number, number][] = [[32, 32], [17, 18], [16, 17], [5, 9], [64, 64], [3, 2]];

function firstDifference(a: Float32Array, b: Float32Array): number {
  return a.findIndex((v, i) => !Object.is(v, b[i]));
}

for (const m of [2, 4] as const) {
  const kernel = m === 4 ? "wino4_filter" : "wino_filter";
  const reference = m === 4 ? winogradFilter4 : winogradFilter;
  const P = m === 4 ? 36 : 16;
  Deno.test({
    name: `${kernel} equals ${reference.name} bitwise (odd N, both layouts, 1-3 vector blocks)`,
    ignore: !available,
    async fn() {
      const { k, memory } = await kernels();
      for (const [C, N] of SHAPES) {
        for (const flip of [false, true]) {
          for (const vecs of [1, 2, 3]) {
            const Np = Math.ceil(N / 4) * 4, size = P * C * Np;
            const w = values(9 * C * N, C * 100 + N);
            // the forward reads w[tap][c][n]; the input gradient the flipped w[tap][n][c]
            const [cStride, nStride] = flip ? [1, C] : [N, 1];
            const expected = new Float32Array(size).fill(NaN);
            reference(expected, C, N, w, cStride, nStride, flip, vecs);
            const wAt = 64, dst = wAt + w.length * 4 + 64;
            new Float32Array(memory.buffer, wAt, w.length).set(w);
            const got = new Float32Array(memory.buffer, dst, size).fill(NaN);
            const even = N & ~1;
            // in two ranges of input channels, as two participants would
            const half = C >> 1;
            for (const [c0, c1] of [[0, half], [half, C]]) {
              k[kernel](dst, wAt, C, N, cStride, nStride, flip ? 1 : 0, vecs, c0!, c1!, even);
            }
            reference(got, C, N, w, cStride, nStride, flip, vecs, even);
            const bad = firstDifference(got, expected);
            assert.equal(bad, -1, `C=${C} N=${N} flip=${flip} vecs=${vecs}: element ${bad}`);
          }
        }
      }
    },
  });
}

for (const m of [2, 4] as const) {
  const kernel = m === 4 ? "wino4_filter_grad" : "wino_filter_grad";
  const reference = m === 4 ? winogradFilterGradient4 : winogradFilterGradient;
  const P = m === 4 ? 36 : 16;
  Deno.test({
    name: `${kernel} equals ${reference.name} bitwise (odd N, blocks of 4-12)`,
    ignore: !available,
    async fn() {
      const { k, memory } = await kernels();
      for (const [C, N] of SHAPES) {
        for (const B of [4, 8, 12]) {
          const Np = Math.ceil(N / 4) * 4, nTB = Math.ceil(Math.ceil(C / 4) * 4 / B);
          const acc = values(P * nTB * Np * B, C * 7 + N * 3 + B);
          const start = values(9 * C * N, 5);
          const expected = start.slice();
          reference(expected, acc, C, N, Np, B);
          const accAt = 64, dwAt = accAt + acc.length * 4 + 64;
          new Float32Array(memory.buffer, accAt, acc.length).set(acc);
          const got = new Float32Array(memory.buffer, dwAt, start.length);
          got.set(start);
          const even = N & ~1;
          // in two ranges of input channels, as two participants would
          k[kernel](dwAt, accAt, C, N, Np, B, 0, C >> 1, even);
          k[kernel](dwAt, accAt, C, N, Np, B, C >> 1, C, even);
          reference(got, acc, C, N, Np, B, even);
          const bad = firstDifference(got, expected);
          const label = `C=${C} N=${N} B=${B}`;
          assert.equal(bad, -1, `${label}: element ${bad}: ${got[bad]} vs ${expected[bad]}`);
          assert.ok(got.some((v, i) => v !== start[i]), "dw changed");
        }
      }
    },
  });
}
