/**
 * Winograd F(4x4, 3x3) (`wino4_in`, `wino_gemm` over 36 positions, `wino4_out`) against float64
 * references of the convolution's forward and input gradient: the seed CNN's layers that take it
 * (conv2 and conv4 forward, conv2 and conv3 input gradient), outputs that are not multiples of 4
 * (partial tiles), `same` padding and channel counts that are not multiples of 4, on 1 and 2
 * participants. Each case checks that F(4x4, 3x3) did run (its rounding differs from
 * F(2x2, 3x3)'s) and bounds both algorithms' error, F(4x4, 3x3)'s by the kernel tests' 1e-5.
 *
 * Run: deno test -A tests/engine/wasm/winograd4_test.ts
 */

import assert from "node:assert/strict";
import { type Conv2DInfo, conv2dInfo, type Padding } from "../../../engine/conv_info.ts";
import { Random } from "../../../engine/random.ts";
import { simdSupported } from "../../../engine/wasm/codegen.ts";
import { createWasmBackend } from "../../../engine/wasm/wasm_backend.ts";
import { maxRelError, randomArray } from "../../_helpers.ts";

/** The forward in float64: y = bias + sum over taps and channels of x * w. */
function forwardFloat64(x: Float32Array, w: Float32Array, b: Float32Array, info: Conv2DInfo) {
  const { batch, inH, inW, inC, outH, outW, outC, kH, kW, padTop, padLeft } = info;
  const y = new Float64Array(batch * outH * outW * outC);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const yo = ((n * outH + oh) * outW + ow) * outC;
        for (let o = 0; o < outC; o++) y[yo + o] = b[o]!;
        for (let kh = 0; kh < kH; kh++) {
          for (let kw = 0; kw < kW; kw++) {
            const ih = oh + kh - padTop, iw = ow + kw - padLeft;
            if (ih < 0 || iw < 0 || ih >= inH || iw >= inW) continue;
            const xo = ((n * inH + ih) * inW + iw) * inC;
            for (let c = 0; c < inC; c++) {
              const xv = x[xo + c]!, at = ((kh * kW + kw) * inC + c) * outC;
              for (let o = 0; o < outC; o++) y[yo + o]! += xv * w[at + o]!;
            }
          }
        }
      }
    }
  }
  return Float32Array.from(y);
}

/** The input gradient in float64: dx = the sum of dy * w over the windows each input is in. */
function inputGradientFloat64(dy: Float32Array, w: Float32Array, info: Conv2DInfo) {
  const { batch, inH, inW, inC, outH, outW, outC, kH, kW, padTop, padLeft } = info;
  const dx = new Float64Array(batch * inH * inW * inC);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const yo = ((n * outH + oh) * outW + ow) * outC;
        for (let kh = 0; kh < kH; kh++) {
          for (let kw = 0; kw < kW; kw++) {
            const ih = oh + kh - padTop, iw = ow + kw - padLeft;
            if (ih < 0 || iw < 0 || ih >= inH || iw >= inW) continue;
            const xo = ((n * inH + ih) * inW + iw) * inC;
            for (let c = 0; c < inC; c++) {
              const at = ((kh * kW + kw) * inC + c) * outC;
              let sum = 0;
              for (let o = 0; o < outC; o++) sum += dy[yo + o]! * w[at + o]!;
              dx[xo + c]! += sum;
            }
          }
        }
      }
    }
  }
  return Float32Array.from(dx);
}

/** [batch, h, w, inC, outC, padding, F(4x4, 3x3) forward?, F(4x4, 3x3) input gradient?] */
const CASES: [number, number, number, number, number, Padding, boolean, boolean][] = [
  [4, 26, 26, 32, 32, "valid", true, true], // conv2
  [4, 12, 12, 32, 64, "valid", false, true], // conv3: 10x10 outputs, 12x12 input gradient
  [4, 10, 10, 64, 64, "valid", true, false], // conv4: 8x8 outputs, a 10x10 dx stays direct
  [3, 13, 11, 17, 19, "same", true, true], // partial tiles both ways, channel tails
  [2, 9, 14, 24, 16, "valid", true, false], // 7x12 outputs: a partial tile row
  [1, 8, 7, 16, 20, "same", true, true], // batch 1, a partial tile column
];

Deno.test({
  name: "Winograd F(4x4, 3x3) equals float64 references (forward and input gradient)",
  ignore: !simdSupported(),
  fn: async () => {
    const random = new Random(4);
    for (const workers of [1, 2]) {
      const f4 = await createWasmBackend({ workers, parallelMinMacs: 0 });
      const f2 = await createWasmBackend({ workers, parallelMinMacs: 0, winograd4: false });
      try {
        for (const [n, h, w, inC, outC, padding, fwd4, dx4] of CASES) {
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
          for (
            const [what, a, b, ref, expect4] of [
              ["forward", y4, y2, yRef, fwd4],
              ["input gradient", g4, g2, dxRef, dx4],
            ] as const
          ) {
            const e4 = maxRelError(a, ref), e2 = maxRelError(b, ref);
            assert.ok(e4 < 1e-5, `${label} ${what}: F(4x4, 3x3) relative error ${e4}`);
            assert.ok(e2 < 1e-6, `${label} ${what}: F(2x2, 3x3) relative error ${e2}`);
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
