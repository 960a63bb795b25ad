/**
 * The WASM SIMD128 backend against the naive TypeScript twins, on a grid of shapes that exercises
 * every tail path (odd spatial sizes, channel counts not multiples of 4, rectangular kernels,
 * stride 2, same/valid, batch 1 and 3), with relaxed FMA and plain mul + add, on 1 and 2
 * participants; plus determinism, shared-memory allocation and failure reporting of the pool.
 *
 * Run: deno test --allow-read --allow-env --allow-sys tests/engine/wasm/
 */

import assert from "node:assert/strict";
import { type Backend, cpuBackend, KernelFaultError } from "../../../engine/backend.ts";
import { conv2dInfo, type Padding } from "../../../engine/conv_info.ts";
import {
  conv2dBackwardInputNaive,
  conv2dBackwardKernelNaive,
  conv2dForwardNaive,
} from "../../../engine/kernels/conv2d.ts";
import {
  denseBackwardInputNaive,
  denseBackwardKernelNaive,
  denseForwardNaive,
} from "../../../engine/kernels/dense.ts";
import { sleb, uleb } from "../../../engine/wasm/assembler.ts";
import { relaxedSimdSupported, simdSupported } from "../../../engine/wasm/codegen.ts";
import {
  createWasmBackend,
  isWasmBackend,
  type WasmBackend,
  type WasmBackendOptions,
} from "../../../engine/wasm/wasm_backend.ts";
import { dwFloat64 } from "./_float64.ts";

/** Deterministic values in [-1, 1), with some exact zeros (as after a relu). */
function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const v = s / 2 ** 31 - 1;
    a[i] = v < -0.8 ? 0 : v;
  }
  return a;
}

/** Max |a - b| over max |b|: a relative error on a max-abs-normalised basis. */
function relErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let scale = 0, diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  return diff / (scale || 1);
}

function close(a: Float32Array, b: Float32Array, what: string): void {
  const e = relErr(a, b);
  assert.ok(e < 1e-5, `${what}: relative error ${e}`);
}

/**
 * A WASM backend that splits every call, however small, between its participants (the default
 * runs small calls on the main thread alone, which would leave the split untested here).
 */
async function wasm(
  workers: number,
  relaxed: boolean,
  timeoutMs?: number,
  options: WasmBackendOptions = {},
): Promise<WasmBackend> {
  const split = { parallelMinMacs: 0, parallelMinElements: 0, ...options };
  const be = await createWasmBackend(
    timeoutMs === undefined
      ? { workers, relaxed, ...split }
      : { workers, relaxed, timeoutMs, ...split },
  );
  assert.ok(isWasmBackend(be), `expected the wasm backend, got ${be.name}`);
  return be;
}

const available = simdSupported();

/**
 * The backends a fused store is checked on, each against its own unfused calls: the TypeScript
 * one, the wasm one on 1 and 2 participants, and on 2 with F(2x2, 3x3) only (`winograd4: false`:
 * the F(4x4, 3x3) stores are the default).
 */
async function fusionBackends(): Promise<Backend[]> {
  return [
    cpuBackend,
    await wasm(1, true),
    await wasm(2, true),
    await wasm(2, true, undefined, { winograd4: false }),
  ];
}

interface ConvCase {
  n: number;
  h: number;
  w: number;
  inC: number;
  outC: number;
  k: [number, number];
  s: [number, number];
  pad: Padding;
}

/** The conv grid: tails in every dimension, both paddings, both strides. */
const CONV_CASES: ConvCase[] = [
  { n: 1, h: 7, w: 9, inC: 1, outC: 3, k: [3, 3], s: [1, 1], pad: "valid" },
  { n: 3, h: 7, w: 9, inC: 3, outC: 5, k: [3, 2], s: [1, 1], pad: "same" },
  { n: 3, h: 7, w: 9, inC: 5, outC: 17, k: [3, 3], s: [2, 2], pad: "same" },
  { n: 1, h: 9, w: 7, inC: 17, outC: 1, k: [5, 5], s: [2, 2], pad: "valid" },
  { n: 3, h: 7, w: 9, inC: 17, outC: 8, k: [1, 1], s: [1, 1], pad: "valid" },
  { n: 1, h: 7, w: 9, inC: 4, outC: 12, k: [1, 1], s: [2, 2], pad: "same" },
  { n: 3, h: 9, w: 7, inC: 1, outC: 32, k: [3, 3], s: [1, 1], pad: "valid" },
  { n: 1, h: 7, w: 9, inC: 3, outC: 17, k: [5, 5], s: [1, 1], pad: "same" },
  { n: 3, h: 8, w: 8, inC: 8, outC: 16, k: [2, 2], s: [2, 1], pad: "valid" },
  { n: 1, h: 3, w: 3, inC: 5, outC: 3, k: [5, 5], s: [1, 1], pad: "same" },
  // More output pixels than one kernel-gradient chunk (256), across images and within one.
  { n: 5, h: 12, w: 13, inC: 6, outC: 10, k: [3, 3], s: [1, 1], pad: "valid" },
  { n: 2, h: 17, w: 17, inC: 3, outC: 8, k: [3, 3], s: [1, 1], pad: "same" },
  { n: 4, h: 11, w: 9, inC: 2, outC: 33, k: [3, 3], s: [1, 1], pad: "same" },
  // Winograd (3x3, stride 1, >= 16 channels in and out; F(4x4, 3x3) where its tiles fit,
  // F(2x2, 3x3) elsewhere and with winograd4 false): odd
  // outputs (partial tiles), channel tails, a tiny image, several blocks with a partial last.
  { n: 2, h: 9, w: 11, inC: 16, outC: 20, k: [3, 3], s: [1, 1], pad: "valid" },
  { n: 3, h: 8, w: 7, inC: 17, outC: 18, k: [3, 3], s: [1, 1], pad: "same" },
  { n: 1, h: 4, w: 3, inC: 16, outC: 16, k: [3, 3], s: [1, 1], pad: "same" },
  { n: 5, h: 14, w: 13, inC: 24, outC: 16, k: [3, 3], s: [1, 1], pad: "valid" },
  // One input channel: the forward's conv_c1 (valid 3x3 stride 1, outC a multiple of 4; rows
  // with a partial pixel group) and the kernel gradient's conv_dw_direct (tiles of 1-2 kernel
  // rows x 1-3 taps, channel tails, padded and strided).
  { n: 3, h: 6, w: 15, inC: 1, outC: 12, k: [3, 3], s: [1, 1], pad: "valid" },
  { n: 2, h: 5, w: 8, inC: 1, outC: 4, k: [3, 3], s: [1, 1], pad: "valid" },
  { n: 4, h: 17, w: 19, inC: 1, outC: 36, k: [3, 3], s: [1, 1], pad: "valid" },
  { n: 2, h: 9, w: 8, inC: 1, outC: 17, k: [2, 3], s: [1, 1], pad: "valid" },
  { n: 3, h: 11, w: 10, inC: 1, outC: 33, k: [5, 5], s: [1, 1], pad: "same" },
  { n: 2, h: 11, w: 10, inC: 1, outC: 13, k: [3, 2], s: [2, 1], pad: "same" },
  // conv_c1's rows in groups of at most 10 pixels (9 without FMA), of even sizes: every size
  // alone (rows of 1-10 pixels), and rows of 11 (6 + 5), 19-21, 26 (9 + 9 + 8, the seed CNN's)
  // and 30 pixels; with more than 9 output channels conv_dw_direct's 256-pixel chunks end
  // mid-row.
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 19, 20, 21, 26, 30].map((outW): ConvCase => ({
    n: 2,
    h: 4,
    w: outW + 2,
    inC: 1,
    outC: outW % 2 === 0 ? 8 : 12,
    k: [3, 3],
    s: [1, 1],
    pad: "valid",
  })),
  { n: 2, h: 19, w: 19, inC: 1, outC: 16, k: [3, 3], s: [1, 1], pad: "valid" },
  { n: 3, h: 12, w: 32, inC: 1, outC: 12, k: [3, 3], s: [1, 1], pad: "valid" },
];

const DENSE_CASES: [number, number, number][] = [
  [300, 7, 5],
  [1, 1, 1],
  [3, 17, 5],
  [1, 64, 10],
  [3, 5, 17],
  [7, 33, 9],
  [5, 1, 9],
];

/** `fused` is bitwise the relu (`v < 0 ? 0 : v`) of `plain`, the same kernel's output. */
function assertRelu(fused: Float32Array, plain: Float32Array, what: string): void {
  const bad = fused.findIndex((v, i) => !Object.is(v, plain[i]! < 0 ? 0 : plain[i]!));
  assert.equal(bad, -1, `${what}: element ${bad} is ${fused[bad]}, relu of ${plain[bad]}`);
}

function checkConv(be: Backend, c: ConvCase, seed: number): void {
  const info = conv2dInfo([c.n, c.h, c.w, c.inC], {
    kernelSize: c.k,
    strides: c.s,
    padding: c.pad,
    outChannels: c.outC,
  });
  const label = `${be.name} ${JSON.stringify(c)}`;
  const xSize = c.n * c.h * c.w * c.inC;
  const ySize = c.n * info.outH * info.outW * c.outC;
  const wSize = c.k[0] * c.k[1] * c.inC * c.outC;
  const x = rand(xSize, seed), w = rand(wSize, seed + 1), b = rand(c.outC, seed + 2);
  const dy = rand(ySize, seed + 3);
  for (const bias of [b, null]) {
    const y = new Float32Array(ySize).fill(NaN), yRef = new Float32Array(ySize);
    be.conv2dForward(y, x, w, bias, info);
    conv2dForwardNaive(yRef, x, w, bias, info);
    close(y, yRef, `${label} forward bias=${bias !== null}`);
    // relu fused into the store: exactly relu of the same outputs.
    const yRelu = new Float32Array(ySize).fill(NaN);
    be.conv2dForward(yRelu, x, w, bias, info, true);
    assertRelu(yRelu, y, `${label} forward+relu bias=${bias !== null}`);
  }
  const dx = new Float32Array(xSize).fill(NaN), dxRef = new Float32Array(xSize);
  be.conv2dBackwardInput(dx, dy, w, info);
  conv2dBackwardInputNaive(dxRef, dy, w, info);
  close(dx, dxRef, `${label} dx`);
  // Parameter gradients accumulate: start from non-zero values.
  const dw = rand(wSize, seed + 4), dwRef = dw.slice();
  const db = rand(c.outC, seed + 5), dbRef = db.slice();
  be.conv2dBackwardKernel(dw, db, dy, x, info);
  conv2dBackwardKernelNaive(dwRef, dbRef, dy, x, info);
  close(dw, dwRef, `${label} dw`);
  close(db, dbRef, `${label} db`);
  const dw2 = rand(wSize, seed + 4);
  be.conv2dBackwardKernel(dw2, null, dy, x, info);
  close(dw2, dwRef, `${label} dw without db`);
}

function checkDense(be: Backend, [n, inDim, outDim]: [number, number, number], seed: number) {
  const label = `${be.name} dense ${n}x${inDim}->${outDim}`;
  const x = rand(n * inDim, seed), w = rand(inDim * outDim, seed + 1), b = rand(outDim, seed + 2);
  const dy = rand(n * outDim, seed + 3);
  const y = new Float32Array(n * outDim).fill(NaN), yRef = new Float32Array(n * outDim);
  be.denseForward(y, x, w, b, n, inDim, outDim);
  denseForwardNaive(yRef, x, w, b, n, inDim, outDim);
  close(y, yRef, `${label} forward`);
  const yRelu = new Float32Array(n * outDim).fill(NaN);
  be.denseForward(yRelu, x, w, b, n, inDim, outDim, true);
  assertRelu(yRelu, y, `${label} forward+relu`);
  const dx = new Float32Array(n * inDim).fill(NaN), dxRef = new Float32Array(n * inDim);
  be.denseBackwardInput(dx, dy, w, n, inDim, outDim);
  denseBackwardInputNaive(dxRef, dy, w, n, inDim, outDim);
  close(dx, dxRef, `${label} dx`);
  const dw = rand(inDim * outDim, seed + 4), dwRef = dw.slice();
  const db = rand(outDim, seed + 5), dbRef = db.slice();
  be.denseBackwardKernel(dw, db, dy, x, n, inDim, outDim);
  denseBackwardKernelNaive(dwRef, dbRef, dy, x, n, inDim, outDim);
  close(dw, dwRef, `${label} dw`);
  close(db, dbRef, `${label} db`);
}

Deno.test("LEB128 encodings", () => {
  assert.deepEqual(uleb(0), [0]);
  assert.deepEqual(uleb(261), [0x85, 0x02]); // relaxed_madd's opcode
  assert.deepEqual(uleb(624485), [0xe5, 0x8e, 0x26]);
  assert.deepEqual(sleb(-1), [0x7f]);
  assert.deepEqual(sleb(64), [0xc0, 0x00]);
  assert.deepEqual(sleb(-123456), [0xc0, 0xbb, 0x78]);
});

for (const relaxed of [true, false]) {
  for (const workers of [1, 2]) {
    // winograd4: false keeps every Winograd forward and input gradient on F(2x2, 3x3).
    for (const winograd4 of [true, false]) {
      Deno.test({
        name:
          `wasm kernels equal the naive twins (relaxed=${relaxed}, workers=${workers}, winograd4=${winograd4})`,
        ignore: !available || (relaxed && !relaxedSimdSupported()),
        fn: async () => {
          const be = await wasm(workers, relaxed, undefined, { winograd4 });
          try {
            assert.equal(be.relaxed, relaxed);
            CONV_CASES.forEach((c, i) => checkConv(be, c, 100 * i + 7));
            DENSE_CASES.forEach((c, i) => checkDense(be, c, 1000 + 10 * i));
          } finally {
            be.dispose();
          }
        },
      });
    }
  }
}

Deno.test({
  name: "wasm kernels on shared-memory buffers from alloc()",
  ignore: !available,
  fn: async () => {
    const be = await wasm(2, true);
    try {
      const c: ConvCase = { n: 3, h: 9, w: 7, inC: 5, outC: 6, k: [3, 3], s: [1, 1], pad: "same" };
      const info = conv2dInfo([c.n, c.h, c.w, c.inC], {
        kernelSize: c.k,
        strides: c.s,
        padding: c.pad,
        outChannels: c.outC,
      });
      const xSize = c.n * c.h * c.w * c.inC, wSize = 9 * c.inC * c.outC;
      const ySize = c.n * info.outH * info.outW * c.outC;
      const x = be.alloc(xSize), w = be.alloc(wSize), y = be.alloc(ySize);
      assert.ok(y.every((v) => v === 0), "alloc() is zero-filled");
      x.set(rand(xSize, 1));
      w.set(rand(wSize, 2));
      // Force the memory to grow between allocations and uses: old views stay valid.
      const big = be.alloc(8 << 20);
      assert.equal(big.length, 8 << 20);
      const yRef = new Float32Array(ySize);
      be.conv2dForward(y, x, w, null, info);
      conv2dForwardNaive(yRef, x, w, null, info);
      close(y, yRef, "forward on shared views");
      const dy = be.alloc(ySize), dx = be.alloc(xSize), dxRef = new Float32Array(xSize);
      dy.set(rand(ySize, 3));
      be.conv2dBackwardInput(dx, dy, w, info);
      conv2dBackwardInputNaive(dxRef, dy, w, info);
      close(dx, dxRef, "dx on shared views");
      const dw = be.alloc(wSize), dwRef = new Float32Array(wSize);
      be.conv2dBackwardKernel(dw, null, dy, x, info);
      conv2dBackwardKernelNaive(dwRef, null, dy, x, info);
      close(dw, dwRef, "dw on shared views");
      const ints = be.allocInt32(10);
      assert.ok(ints instanceof Int32Array && ints.length === 10);
      assert.throws(() => be.alloc(2 ** 31 / 4), RangeError);
    } finally {
      be.dispose();
    }
  },
});

Deno.test({
  name: "the Winograd kernel gradient equals a float64 reference on the seed CNN's layers",
  ignore: !available,
  fn: async () => {
    // conv2, conv3 and conv4 of the seed CNN (smaller batches), and a padded odd-sized layer.
    const cases: [number, number, number, number, number, Padding][] = [
      [4, 26, 26, 32, 32, "valid"],
      [8, 12, 12, 32, 64, "valid"],
      [8, 10, 10, 64, 64, "valid"],
      [3, 15, 13, 24, 20, "same"],
    ];
    for (const workers of [1, 2]) {
      const wino = await createWasmBackend({ workers, parallelMinMacs: 0 });
      const direct = await createWasmBackend({ workers, parallelMinMacs: 0, winograd: false });
      try {
        for (const [n, h, w, inC, outC, padding] of cases) {
          const info = conv2dInfo([n, h, w, inC], {
            kernelSize: [3, 3],
            strides: [1, 1],
            padding,
            outChannels: outC,
          });
          const x = rand(n * h * w * inC, 21).map((v) => Math.max(v, 0)); // as after a relu
          const dy = rand(n * info.outH * info.outW * outC, 22).map((v) => v / 100);
          const ref = dwFloat64(x, dy, info);
          const label = `x${workers} ${n}x${h}x${w}x${inC}->${outC} ${padding}`;
          const a = new Float32Array(ref.length), b = new Float32Array(ref.length);
          wino.conv2dBackwardKernel(a, null, dy, x, info);
          direct.conv2dBackwardKernel(b, null, dy, x, info);
          close(a, Float32Array.from(ref), `${label} Winograd`);
          close(b, Float32Array.from(ref), `${label} direct`);
          // Different arithmetic, so not bitwise equal: the Winograd path did run.
          assert.ok(a.some((v, i) => v !== b[i]), `${label}: Winograd path not taken`);
        }
      } finally {
        wino.dispose();
        direct.dispose();
      }
    }
  },
});

for (const relaxed of [true, false]) {
  Deno.test({
    name: `dense kernel gradient by dense_dw is bitwise the conv_dw route (relaxed=${relaxed})`,
    ignore: !available,
    fn: async () => {
      // [batch, inDim, outDim]: parallel (4 chunks of the batch on 2 participants, 6 on 3) and
      // not, batches past a conv_dw chunk (256 pixels), a batch of 1; bias and no bias.
      const cases: [number, number, number][] = [
        [64, 1024, 64],
        [32, 1024, 64],
        [600, 96, 16],
        [1, 10, 8],
        [7, 2, 24],
      ];
      for (const workers of [1, 2, 3]) {
        const opts = { workers, relaxed, parallelMinMacs: 1 << 14 };
        const fast = await createWasmBackend(opts);
        const route = await createWasmBackend({ ...opts, denseDw: false });
        try {
          for (const [batch, inDim, outDim] of cases) {
            const x = rand(batch * inDim, 51), dy = rand(batch * outDim, 52);
            for (const withBias of [true, false]) {
              const start = rand(inDim * outDim, 53), startB = rand(outDim, 54);
              const [dwA, dwB] = [start.slice(), start.slice()];
              const [dbA, dbB] = withBias ? [startB.slice(), startB.slice()] : [null, null];
              fast.denseBackwardKernel(dwA, dbA, dy, x, batch, inDim, outDim);
              route.denseBackwardKernel(dwB, dbB, dy, x, batch, inDim, outDim);
              const label = `x${workers} ${batch}x${inDim}->${outDim} bias=${withBias}`;
              const bad = dwA.findIndex((v, i) => !Object.is(v, dwB[i]));
              assert.equal(bad, -1, `${label}: dw[${bad}] ${dwA[bad]} vs ${dwB[bad]}`);
              if (dbA !== null) {
                assert.equal(dbA.findIndex((v, i) => !Object.is(v, dbB![i])), -1, `${label}: db`);
              }
              assert.ok(dwA.some((v, i) => v !== start[i]), `${label}: dw changed`);
            }
          }
        } finally {
          fast.dispose();
          route.dispose();
        }
      }
    },
  });
}

Deno.test({
  name:
    "conv2dBackwardInput with reluOf equals the input gradient then the relu's backward, bitwise",
  ignore: !available,
  fn: async () => {
    // Winograd (valid, same, channel tails: the mask in the output transform's store), direct
    // (few channels, 5x5), strided (embedded), and a one-channel input.
    const cases: [number, number, number, number, number, [number, number], 1 | 2, Padding][] = [
      [3, 26, 26, 32, 32, [3, 3], 1, "valid"],
      [2, 12, 12, 32, 64, [3, 3], 1, "valid"],
      [3, 11, 9, 17, 18, [3, 3], 1, "same"],
      [2, 10, 10, 64, 64, [3, 3], 1, "valid"],
      [2, 11, 10, 5, 7, [5, 5], 1, "same"],
      [2, 9, 9, 6, 8, [3, 3], 2, "same"],
      [2, 8, 8, 1, 4, [3, 3], 1, "valid"],
    ];
    const backends = await fusionBackends();
    try {
      for (const be of backends) {
        for (const [n, h, w, inC, outC, k, stride, padding] of cases) {
          const info = conv2dInfo([n, h, w, inC], {
            kernelSize: k,
            strides: [stride, stride],
            padding,
            outChannels: outC,
          });
          const dy = rand(n * info.outH * info.outW * outC, 41);
          const wt = rand(k[0] * k[1] * inC * outC, 42);
          // the relu's output: zeros (about half), positives, and a -0 and a NaN
          const relu = rand(n * h * w * inC, 43).map((v) => v < 0 ? 0 : v);
          relu[1] = -0;
          relu[2] = NaN;
          const expected = new Float32Array(relu.length);
          be.conv2dBackwardInput(expected, dy, wt, info);
          cpuBackend.activationBackward("relu", expected, expected, relu, relu.length, inC);
          for (const shared of [true, false]) {
            const mask = shared ? be.alloc(relu.length) : new Float32Array(relu.length);
            mask.set(relu);
            const dx = shared ? be.alloc(relu.length) : new Float32Array(relu.length);
            dx.fill(NaN);
            be.conv2dBackwardInput(dx, dy, wt, info, mask);
            const bad = dx.findIndex((v, i) => !Object.is(v, expected[i]));
            const label = `${be.name} ${n}x${h}x${w}x${inC}->${outC} ${k} s${stride} ${padding}`;
            assert.equal(
              bad,
              -1,
              `${label} shared=${shared}: dx[${bad}] ${dx[bad]} vs ${expected[bad]}`,
            );
            assert.equal(
              dx.filter((v) => v === 0).length > dx.length / 4,
              true,
              `${label}: the mask zeroed about half`,
            );
          }
        }
      }
    } finally {
      for (const be of backends) be.dispose();
    }
  },
});

Deno.test({
  name:
    "conv2dForward with a fused 2x2 max pooling (and its argmax) equals the convolution, relu, then maxPoolForward bitwise",
  ignore: !available,
  fn: async () => {
    // Winograd layers (even and odd outputs, channel tails, same padding) and direct ones (the
    // first layer, a 5x5 kernel, fewer than 16 channels), which pool through scratch.
    const cases: [number, number, number, number, number, [number, number], Padding][] = [
      [3, 26, 26, 32, 32, [3, 3], "valid"],
      [2, 10, 10, 64, 64, [3, 3], "valid"],
      [3, 11, 9, 17, 18, [3, 3], "valid"],
      [2, 9, 12, 20, 24, [3, 3], "same"],
      [4, 28, 28, 1, 32, [3, 3], "valid"],
      [2, 11, 10, 5, 7, [5, 5], "same"],
    ];
    const backends = await fusionBackends();
    try {
      for (const be of backends) {
        for (const [n, h, w, inC, outC, k, padding] of cases) {
          const info = conv2dInfo([n, h, w, inC], {
            kernelSize: k,
            strides: [1, 1],
            padding,
            outChannels: outC,
          });
          const pool = conv2dInfo([n, info.outH, info.outW, outC], {
            kernelSize: [2, 2],
            strides: [2, 2],
            padding: "valid",
            outChannels: outC,
          });
          const x = rand(n * h * w * inC, 31), wt = rand(k[0] * k[1] * inC * outC, 32);
          const b = rand(outC, 33);
          const label = `${be.name} ${n}x${h}x${w}x${inC}->${outC} ${k} ${padding}`;
          for (const relu of [true, false]) {
            const full = new Float32Array(n * info.outH * info.outW * outC);
            be.conv2dForward(full, x, wt, b, info, relu);
            const pooled = new Float32Array(n * pool.outH * pool.outW * outC);
            const arg = new Int32Array(pooled.length);
            cpuBackend.maxPoolForward(pooled, arg, full, pool);
            const fused = new Float32Array(pooled.length).fill(NaN);
            be.conv2dForward(fused, x, wt, b, info, relu, pool);
            const bad = fused.findIndex((v, i) => !Object.is(v, pooled[i]));
            assert.equal(
              bad,
              -1,
              `${label} relu=${relu}: element ${bad} ${fused[bad]} vs ${pooled[bad]}`,
            );
            // With the argmax (training): in the backend's memory (Winograd layers write it in
            // the output transform) and in a plain array (through scratch). Relu's zeros make
            // ties, which must resolve as maxPoolForward's (the first maximum wins).
            for (const shared of [true, false]) {
              const argOut = shared ? be.allocInt32(pooled.length) : new Int32Array(pooled.length);
              argOut.fill(-7);
              const fusedA = new Float32Array(pooled.length).fill(NaN);
              be.conv2dForward(fusedA, x, wt, b, info, relu, pool, argOut);
              const badY = fusedA.findIndex((v, i) => !Object.is(v, pooled[i]));
              assert.equal(badY, -1, `${label} relu=${relu} argmax shared=${shared}: y[${badY}]`);
              const badA = argOut.findIndex((v, i) => v !== arg[i]);
              assert.equal(
                badA,
                -1,
                `${label} relu=${relu} shared=${shared}: argmax[${badA}] ${argOut[badA]} vs ${
                  arg[badA]
                }`,
              );
            }
          }
          const strided = conv2dInfo([n, info.outH, info.outW, outC], {
            kernelSize: [2, 2],
            strides: [1, 1],
            padding: "valid",
            outChannels: outC,
          });
          assert.throws(
            () => be.conv2dForward(new Float32Array(1), x, wt, b, info, true, strided),
            /the fused pooling must be 2x2, stride 2, valid/,
          );
        }
      }
    } finally {
      for (const be of backends) be.dispose();
    }
  },
});

Deno.test({
  name: "wasm kernels are deterministic with 2 workers",
  ignore: !available,
  fn: async () => {
    const be = await wasm(2, true);
    try {
      const info = conv2dInfo([5, 12, 11, 7], {
        kernelSize: [3, 3],
        strides: [1, 1],
        padding: "same",
        outChannels: 9,
      });
      const x = rand(5 * 12 * 11 * 7, 11), w = rand(9 * 7 * 9, 12);
      const dy = rand(5 * 12 * 11 * 9, 13);
      const info1 = conv2dInfo([16, 28, 28, 1], {
        kernelSize: [3, 3],
        strides: [1, 1],
        padding: "valid",
        outChannels: 12,
      });
      const y1Size = 16 * 26 * 26 * 12;
      const x1 = rand(16 * 28 * 28, 14), w1 = rand(9 * 12, 15), dy1 = rand(y1Size, 16);
      const infoW = conv2dInfo([6, 14, 13, 20], {
        kernelSize: [3, 3],
        strides: [1, 1],
        padding: "valid",
        outChannels: 18,
      });
      const xW = rand(6 * 14 * 13 * 20, 17), dyW = rand(6 * 12 * 11 * 18, 18);
      const run = () => {
        const y = new Float32Array(dy.length), dx = new Float32Array(x.length);
        const dw = new Float32Array(w.length), db = new Float32Array(9);
        be.conv2dForward(y, x, w, null, info);
        be.conv2dBackwardInput(dx, dy, w, info);
        be.conv2dBackwardKernel(dw, db, dy, x, info);
        const ddw = new Float32Array(7 * 9);
        be.denseBackwardKernel(ddw, null, dy.subarray(0, 5 * 9), x.subarray(0, 5 * 7), 5, 7, 9);
        // One input channel: conv_c1 forward and conv_dw_direct, in many chunks (more pixels
        // than DW_MIN_CHUNK_PIXELS per participant).
        const y1 = new Float32Array(y1Size), dw1 = new Float32Array(9 * 12);
        const db1 = new Float32Array(12);
        be.conv2dForward(y1, x1, w1, db1.map((_, i) => i / 7), info1);
        be.conv2dBackwardKernel(dw1, db1, dy1, x1, info1);
        // The Winograd kernel gradient: 3 blocks of tiles in 4 chunks (one with no block).
        const dwW = new Float32Array(9 * 20 * 18), dbW = new Float32Array(18);
        be.conv2dBackwardKernel(dwW, dbW, dyW, xW, infoW);
        return [y, dx, dw, db, ddw, y1, dw1, db1, dwW, dbW];
      };
      const a = run(), b = run();
      for (let i = 0; i < a.length; i++) {
        assert.deepEqual(
          new Uint32Array(a[i]!.buffer),
          new Uint32Array(b[i]!.buffer),
          `output ${i} differs bitwise between two runs`,
        );
      }
    } finally {
      be.dispose();
    }
  },
});

Deno.test({
  name: "a throwing worker fails the call with an error naming the kernel",
  ignore: !available,
  fn: async () => {
    const be = await wasm(2, true);
    try {
      assert.throws(() => be.testFail(1), /testFail failed in worker 1: test hook/);
      // a worker's failure is a KernelFaultError (the step may rerun); the main thread's is not
      assert.throws(() => be.testFail(1), KernelFaultError);
      assert.throws(() => be.testFail(0), /testFail failed on the main thread: test hook/);
      assert.throws(
        () => be.testFail(0),
        (e: unknown) => e instanceof Error && !(e instanceof KernelFaultError),
      );
      // The pool still works after a reported failure.
      checkDense(be, [3, 5, 7], 5);
    } finally {
      be.dispose();
    }
  },
});

/** Waits for the pool's replacement workers, failing the test if they never come. */
async function recovered(be: WasmBackend): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    be.whenReady(),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("no replacement worker within 10 s")), 10_000);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Runs `fault`, which must throw `pattern` within `withinMs`; then checks recovery. */
async function faultAndRecover(
  be: WasmBackend,
  fault: () => void,
  pattern: RegExp,
  withinMs: number,
): Promise<void> {
  const t0 = performance.now();
  assert.throws(fault, (e: unknown) => e instanceof KernelFaultError && pattern.test(e.message));
  const ms = performance.now() - t0;
  assert.ok(ms < withinMs, `the fault surfaced after ${ms.toFixed(0)} ms`);
  // At once, the main thread covers the dead worker's share: calls work and stay exact.
  assert.equal(be.activeWorkers, 0);
  checkDense(be, [7, 33, 9], 5);
  CONV_CASES.slice(0, 3).forEach((c, i) => checkConv(be, c, 10 * i + 1));
  // Then the replacement takes its share again.
  await recovered(be);
  assert.equal(be.activeWorkers, 1);
  checkDense(be, [7, 33, 9], 6);
  CONV_CASES.slice(0, 3).forEach((c, i) => checkConv(be, c, 10 * i + 2));
}

Deno.test({
  name: "a stalled worker fails the call after the deadline and is replaced",
  ignore: !available,
  fn: async () => {
    const be = await wasm(2, true, 200);
    try {
      await faultAndRecover(
        be,
        () => be.testFail(1, 5000),
        /testFail failed in worker 1, which did not finish within 200 ms/,
        1000,
      );
      assert.equal(be.replacements, 1);
    } finally {
      be.dispose();
    }
  },
});

Deno.test({
  name: "a worker that dies of an uncaught error fails the call at once and is replaced",
  ignore: !available,
  fn: async () => {
    const be = await wasm(2, true);
    try {
      await faultAndRecover(
        be,
        () => be.testFail(1, 0, "crash"),
        /testFail failed in worker 1, which crashed \(.*crashed on purpose\)/,
        1000,
      );
      // And once more: a replacement can be replaced.
      await faultAndRecover(be, () => be.testFail(1, 0, "crash"), /which crashed/, 1000);
      assert.equal(be.replacements, 2);
    } finally {
      be.dispose();
    }
  },
});

Deno.test({
  name: "a worker that stops mid-task fails the call within a second and is replaced",
  ignore: !available,
  fn: async () => {
    const be = await wasm(2, true);
    try {
      await faultAndRecover(
        be,
        () => be.testFail(1, 0, "close"),
        /testFail failed in worker 1, which did not finish within 500 ms \(it stopped/,
        1000,
      );
    } finally {
      be.dispose();
    }
  },
});

Deno.test({
  name: "relu on shared memory equals the TypeScript relu bitwise (forward and backward)",
  ignore: !available,
  fn: async () => {
    for (const workers of [1, 2]) {
      const be = await wasm(workers, true);
      try {
        for (const size of [5, 4099, 10007]) {
          const x = be.alloc(size), y = be.alloc(size), dy = be.alloc(size), dx = be.alloc(size);
          x.set(rand(size, size));
          x[1] = NaN;
          x[2] = -0;
          dy.set(rand(size, size + 1));
          const yRef = new Float32Array(size), dxRef = new Float32Array(size);
          be.activationForward("relu", y, x, size, size);
          cpuBackend.activationForward("relu", yRef, x, size, size);
          assert.deepEqual(new Uint32Array(y.slice().buffer), new Uint32Array(yRef.buffer));
          be.activationBackward("relu", dx, dy, y, size, size);
          cpuBackend.activationBackward("relu", dxRef, dy, yRef, size, size);
          assert.deepEqual(new Uint32Array(dx.slice().buffer), new Uint32Array(dxRef.buffer));
          // In place, as layers may run it.
          be.activationForward("relu", x, x, size, size);
          assert.deepEqual(new Uint32Array(x.slice().buffer), new Uint32Array(yRef.buffer));
        }
      } finally {
        be.dispose();
      }
    }
  },
});
