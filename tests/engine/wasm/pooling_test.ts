/**
 * Max pooling in WebAssembly against the TypeScript kernels (bitwise: values, argmax indices and
 * the scattered gradient) and the naive twin, on a grid of shapes with odd sizes, `same`
 * padding, overlapping windows (stride < pool), stride != pool size, channel tails, ties, NaN
 * and -0; on 1 and 2 participants. Also the pixel plans of `conv_plan`.
 *
 * Run: deno test -A tests/engine/wasm/
 */

import assert from "node:assert/strict";
import { conv2dInfo, type Padding } from "../../../engine/conv_info.ts";
import { activationBackward } from "../../../engine/kernels/activations.ts";
import { maxPoolBackward, maxPoolForward, maxPoolNaive } from "../../../engine/kernels/pooling.ts";
import { simdSupported } from "../../../engine/wasm/codegen.ts";
import { buildPlan, type PlanGeometry } from "../../../engine/wasm/plans.ts";
import { createWasmBackend, isWasmBackend } from "../../../engine/wasm/wasm_backend.ts";

const available = simdSupported();

interface PoolCase {
  n: number;
  h: number;
  w: number;
  c: number;
  pool: [number, number];
  s: [number, number];
  pad: Padding;
}

const POOL_CASES: PoolCase[] = [
  { n: 3, h: 7, w: 9, c: 5, pool: [2, 2], s: [2, 2], pad: "valid" },
  { n: 2, h: 7, w: 9, c: 3, pool: [3, 3], s: [2, 2], pad: "same" },
  { n: 1, h: 5, w: 6, c: 17, pool: [2, 3], s: [1, 2], pad: "same" },
  { n: 2, h: 9, w: 7, c: 4, pool: [3, 2], s: [3, 1], pad: "valid" },
  { n: 1, h: 3, w: 3, c: 1, pool: [3, 3], s: [1, 1], pad: "same" },
  { n: 3, h: 6, w: 5, c: 2, pool: [2, 2], s: [1, 1], pad: "valid" },
  { n: 5, h: 11, w: 11, c: 6, pool: [3, 3], s: [3, 3], pad: "same" },
  { n: 4, h: 24, w: 24, c: 32, pool: [2, 2], s: [2, 2], pad: "valid" },
  { n: 3, h: 8, w: 8, c: 64, pool: [2, 2], s: [2, 2], pad: "valid" },
  { n: 1, h: 1, w: 1, c: 7, pool: [2, 2], s: [2, 2], pad: "same" },
  // 2x2 stride-2 valid with channels in vectors (its own backward kernel): odd sizes leave a row
  // or a column that no window covers
  { n: 3, h: 7, w: 9, c: 8, pool: [2, 2], s: [2, 2], pad: "valid" },
  { n: 2, h: 6, w: 7, c: 4, pool: [2, 2], s: [2, 2], pad: "valid" },
  { n: 1, h: 5, w: 4, c: 12, pool: [2, 2], s: [2, 2], pad: "valid" },
];

/** Values on a coarse grid (so windows have ties), with a NaN and a -0 planted. */
function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    a[i] = Math.round((s / 2 ** 32) * 6 - 3) / 2;
  }
  if (n > 3) {
    a[1] = NaN;
    a[Math.floor(n / 2)] = -0;
  }
  return a;
}

/** Bit patterns, with every NaN mapped to one pattern (NaN payloads are not part of the contract). */
function bits(a: Float32Array): Uint32Array {
  const out = new Uint32Array(a.length);
  const view = new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number.isNaN(a[i]) ? 0x7fc00000 : view[i]!;
  return out;
}

for (const workers of [1, 2]) {
  Deno.test({
    name: `wasm max pooling equals the TypeScript kernels bitwise (workers=${workers})`,
    ignore: !available,
    fn: async () => {
      // Split every call between the participants, however small.
      const be = await createWasmBackend({ workers, parallelMinMacs: 0, parallelMinElements: 0 });
      assert.ok(isWasmBackend(be));
      try {
        POOL_CASES.forEach((c, k) => {
          const info = conv2dInfo([c.n, c.h, c.w, c.c], {
            kernelSize: c.pool,
            strides: c.s,
            padding: c.pad,
            outChannels: c.c,
          });
          const label = `${be.name} ${JSON.stringify(c)}`;
          const xSize = c.n * c.h * c.w * c.c, ySize = c.n * info.outH * info.outW * c.c;
          // Shared buffers (from alloc) take the WASM kernels; poison the outputs first.
          const x = be.alloc(xSize), y = be.alloc(ySize).fill(7), dy = be.alloc(ySize);
          const arg = be.allocInt32(ySize).fill(-7), dx = be.alloc(xSize).fill(7);
          x.set(values(xSize, 100 + k));
          dy.set(values(ySize, 200 + k).map((v) => (Number.isNaN(v) ? 0.25 : v)));
          const yRef = new Float32Array(ySize), argRef = new Int32Array(ySize);
          be.maxPoolForward(y, arg, x, info);
          maxPoolForward(yRef, argRef, x, info);
          assert.deepEqual(bits(y), bits(yRef), `${label}: y`);
          assert.deepEqual(Array.from(arg), Array.from(argRef), `${label}: argmax`);
          const dxRef = new Float32Array(xSize);
          be.maxPoolBackward(dx, dy, arg, info);
          maxPoolBackward(dxRef, dy, argRef, info);
          assert.deepEqual(bits(dx), bits(dxRef), `${label}: dx`);
          // And the naive twin, which searches each window again (same tie and NaN rules).
          const yNaive = new Float32Array(ySize), dxNaive = new Float32Array(xSize);
          maxPoolNaive(yNaive, dxNaive, dy, x, info);
          assert.deepEqual(bits(y), bits(yNaive), `${label}: y vs naive`);
          assert.deepEqual(bits(dx), bits(dxNaive), `${label}: dx vs naive`);
          // With the relu's backward folded in (reluOf = the pooled output, negatives and zeros
          // included): the relu backward on dy, then the scatter.
          const masked = new Float32Array(ySize);
          activationBackward("relu", masked, dy, y, ySize, c.c);
          const dxRelu = new Float32Array(xSize);
          maxPoolBackward(dxRelu, masked, argRef, info);
          dx.fill(7);
          be.maxPoolBackward(dx, dy, arg, info, y);
          assert.deepEqual(bits(dx), bits(dxRelu), `${label}: dx with reluOf`);
          assert.ok(dxRelu.some((v, i) => v !== dxRef[i]), `${label}: the relu masked something`);
        });
        // Arrays outside the shared memory take the TypeScript kernels: same results.
        const c = POOL_CASES[1]!;
        const info = conv2dInfo([c.n, c.h, c.w, c.c], {
          kernelSize: c.pool,
          strides: c.s,
          padding: c.pad,
          outChannels: c.c,
        });
        const x = values(c.n * c.h * c.w * c.c, 5);
        const y = new Float32Array(c.n * info.outH * info.outW * c.c),
          arg = new Int32Array(y.length);
        const yRef = y.slice(), argRef = arg.slice();
        be.maxPoolForward(y, arg, x, info);
        maxPoolForward(yRef, argRef, x, info);
        assert.deepEqual(bits(y), bits(yRef));
      } finally {
        be.dispose();
      }
    },
  });
}

Deno.test("conv plans cover every output pixel once, with its window clipped to the input", () => {
  const geometries: PlanGeometry[] = [
    {
      batch: 2,
      inH: 7,
      inW: 9,
      C: 3,
      outH: 7,
      outW: 9,
      N: 5,
      kH: 3,
      kW: 3,
      sH: 1,
      sW: 1,
      padT: 1,
      padL: 1,
    },
    {
      batch: 1,
      inH: 7,
      inW: 9,
      C: 2,
      outH: 4,
      outW: 5,
      N: 3,
      kH: 3,
      kW: 3,
      sH: 2,
      sW: 2,
      padT: 1,
      padL: 1,
    },
    {
      batch: 3,
      inH: 24,
      inW: 24,
      C: 4,
      outH: 26,
      outW: 26,
      N: 2,
      kH: 3,
      kW: 3,
      sH: 1,
      sW: 1,
      padT: 2,
      padL: 2,
    },
    {
      batch: 1,
      inH: 3,
      inW: 3,
      C: 1,
      outH: 3,
      outW: 3,
      N: 1,
      kH: 5,
      kW: 5,
      sH: 1,
      sW: 1,
      padT: 2,
      padL: 2,
    },
    {
      batch: 2,
      inH: 5,
      inW: 4,
      C: 1,
      outH: 3,
      outW: 2,
      N: 1,
      kH: 3,
      kW: 3,
      sH: 1,
      sW: 1,
      padT: 0,
      padL: 0,
    },
  ];
  for (const g of geometries) {
    const plan = buildPlan(g);
    const seen = new Map<number, { x: number; tap: number; kh: number; L: number }>();
    for (let k = 0; k < plan[0]!; k++) {
      const rec = 4 + 8 * k;
      const [tapStart, kh, L, skip, count, off] = Array.from(
        plan.subarray(rec, rec + 6),
      ) as number[];
      assert.equal((L! + skip!) % g.C, 0);
      for (let p = 0; p < count!; p++) {
        const yOff = plan[off! / 4 + 2 * p]!, xOff = plan[off! / 4 + 2 * p + 1]!;
        assert.ok(!seen.has(yOff), `pixel at ${yOff} listed twice`);
        seen.set(yOff, { x: xOff, tap: tapStart!, kh: kh!, L: L! });
      }
    }
    assert.equal(seen.size, g.batch * g.outH * g.outW);
    for (let n = 0; n < g.batch; n++) {
      for (let oh = 0; oh < g.outH; oh++) {
        for (let ow = 0; ow < g.outW; ow++) {
          const e = seen.get(((n * g.outH + oh) * g.outW + ow) * g.N * 4)!;
          const h0 = oh * g.sH - g.padT, w0 = ow * g.sW - g.padL;
          const lo = Math.max(0, -h0), hi = Math.min(g.kH, g.inH - h0);
          const loW = Math.max(0, -w0), hiW = Math.min(g.kW, g.inW - w0);
          if (hi <= lo || hiW <= loW) {
            assert.equal(e.kh, 0);
            continue;
          }
          assert.equal(e.kh, hi - lo);
          assert.equal(e.L, (hiW - loW) * g.C);
          assert.equal(e.tap, (lo * g.kW + loW) * g.C);
          assert.equal(e.x, ((n * g.inH + h0 + lo) * g.inW + w0 + loW) * g.C * 4);
        }
      }
    }
  }
});
