/**
 * Winograd F(4x4, 3x3) (`wino4_in`, `wino_gemm` over 36 positions, `wino4_out`; `wino4_dy`,
 * `wino_dw`) against float64 references of the convolution's forward, input gradient and kernel
 * gradient: the seed CNN's layers that take it (the forwards and input gradients of conv2-conv4,
 * the kernel gradients of conv2 and conv4), outputs that are not
 * multiples of 4 (partial tiles), `same` padding and channel counts that are not multiples of 4, on 1 and 2
 * participants. Each case checks that F(4x4, 3x3) did run (its rounding differs from
 * F(2x2, 3x3)'s) and bounds both algorithms' error, F(4x4, 3x3)'s by the kernel tests' 1e-5.
 *
 * Run: deno test -A tests/engine/wasm/winograd4_test.ts
 */

import assert from "node:assert/strict";
import { conv2dInfo, type Padding } from "../../../engine/conv_info.ts";
import { Random } from "../../../engine/random.ts";
import { simdSupported } from "../../../engine/wasm/codegen.ts";
import { createWasmBackend } from "../../../engine/wasm/wasm_backend.ts";
import { maxRelError, randomArray } from "../../_helpers.ts";
import { dwFloat64, forwardFloat64, inputGradientFloat64 } from "./_float64.ts";

/**
 * [batch, h, w, inC, outC, padding, and whether F(4x4, 3x3) runs the forward, the input
 * gradient and the kernel gradient]
 */
type Case = [number, number, number, number, number, Padding, boolean, boolean, boolean];
const CASES: Case[] = [
  [4, 26, 26, 32, 32, "valid", true, true, true], // conv2
  [4, 12, 12, 32, 64, "valid", true, true, false], // conv3: 10x10 outputs (dw stays F(2x2))
  [4, 10, 10, 64, 64, "valid", true, true, true], // conv4: 8x8 outputs, 10x10 input gradient
  [3, 13, 11, 17, 19, "same", true, true, true], // partial tiles both ways, channel tails
  [2, 9, 14, 24, 16, "valid", true, true, true], // 7x12 outputs: a partial tile row
  [2, 8, 8, 16, 16, "valid", false, true, false], // 6x6 outputs: F(2x2, 3x3) is as cheap
  [1, 8, 7, 16, 20, "same", true, true, true], // batch 1, a partial tile column
  [2, 10, 10, 256, 256, "valid", true, true, true], // wide: the GEMM's sums in blocks of 32
];

Deno.test({
  name: "Winograd F(4x4, 3x3) equals float64 references (forward, input and kernel gradient)",
  ignore: !simdSupported(),
  fn: async () => {
    const random = new Random(4);
    for (const workers of [1, 2]) {
      const f4 = await createWasmBackend({ workers, parallelMinMacs: 0 });
      const f2 = await createWasmBackend({ workers, parallelMinMacs: 0, winograd4: false });
      try {
        for (const [n, h, w, inC, outC, padding, fwd4, dx4, dw4] of CASES) {
          const info = conv2dInfo([n, h, w, inC], {
            kernelSize: [3, 3],
            strides: [1, 1],
            padding,
            outChannels: outC,
          });
          const label = `x${workers} ${n}x${h}x${w}x${inC}->${outC} ${padding}`;
          // inputs as after a relu, weights at Glorot's scale
          const x = randomArray(random, n * h * w * inC).map((v) => Math.max(v, 0));
          const wt = randomArray(random, 9 * inC * outC, -0.2, 0.2);
          const bias = randomArray(random, outC, -0.1, 0.1);
          const dy = randomArray(random, n * info.outH * info.outW * outC, -0.01, 0.01);
          const ySize = n * info.outH * info.outW * outC, dxSize = n * h * w * inC;
          const [y4, y2] = [new Float32Array(ySize), new Float32Array(ySize)];
          f4.conv2dForward(y4, x, wt, bias, info);
          f2.conv2dForward(y2, x, wt, bias, info);
          const yRef = forwardFloat64(x, wt, bias, info);
          const [g4, g2] = [new Float32Array(dxSize), new Float32Array(dxSize)];
          f4.conv2dBackwardInput(g4, dy, wt, info);
          f2.conv2dBackwardInput(g2, dy, wt, info);
          const dxRef = inputGradientFloat64(dy, wt, info);
          const [k4, k2] = [new Float32Array(wt.length), new Float32Array(wt.length)];
          f4.conv2dBackwardKernel(k4, null, dy, x, info);
          f2.conv2dBackwardKernel(k2, null, dy, x, info);
          const dwRef = dwFloat64(x, dy, info);
          // (F(2x2, 3x3) is bounded tighter, its sums being over smaller values; looser for the
          // kernel gradient, whose sums run over the batch's pixels, and the 256-channel layer)
          for (
            const [what, a, b, ref, expect4, bound2] of [
              ["forward", y4, y2, yRef, fwd4, 2e-6],
              ["input gradient", g4, g2, dxRef, dx4, 2e-6],
              ["kernel gradient", k4, k2, dwRef, dw4, 3e-6],
            ] as const
          ) {
            const e4 = maxRelError(a, ref), e2 = maxRelError(b, ref);
            assert.ok(e4 < 1e-5, `${label} ${what}: F(4x4, 3x3) relative error ${e4}`);
            assert.ok(e2 < bound2, `${label} ${what}: F(2x2, 3x3) relative error ${e2}`);
            const differ = a.some((v, i) => v !== b[i]);
            assert.equal(differ, expect4, `${label} ${what}: F(4x4, 3x3) taken`);
          }
        }
      } finally {
        f4.dispose();
        f2.dispose();
      }
    }
  },
});

Deno.test({
  name:
    "a very wide layer's kernel gradient falls back to F(2x2, 3x3) where F(4x4, 3x3)'s accumulators would not fit",
  ignore: !simdSupported(),
  fn: async () => {
    // 512 x 512 channels: F(4x4, 3x3)'s accumulators are 36 MB per chunk, too many for 2
    // participants within the 64 MB budget, not for 1.
    const random = new Random(5);
    const info = conv2dInfo([1, 6, 6, 512], {
      kernelSize: [3, 3],
      strides: [1, 1],
      padding: "valid",
      outChannels: 512,
    });
    const x = randomArray(random, 6 * 6 * 512).map((v) => Math.max(v, 0));
    const dy = randomArray(random, 4 * 4 * 512, -0.01, 0.01);
    const ref = dwFloat64(x, dy, info);
    for (const workers of [1, 2]) {
      const f4 = await createWasmBackend({ workers, parallelMinMacs: 0 });
      const f2 = await createWasmBackend({ workers, parallelMinMacs: 0, winograd4: false });
      try {
        const [a, b] = [new Float32Array(ref.length), new Float32Array(ref.length)];
        f4.conv2dBackwardKernel(a, null, dy, x, info);
        f2.conv2dBackwardKernel(b, null, dy, x, info);
        const e = maxRelError(a, ref);
        assert.ok(e < 1e-5, `x${workers}: relative error ${e}`);
        const differ = a.some((v, i) => v !== b[i]);
        assert.equal(differ, workers === 1, `x${workers}: F(4x4, 3x3) taken`);
      } finally {
        f4.dispose();
        f2.dispose();
      }
    }
  },
});
