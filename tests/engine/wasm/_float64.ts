/**
 * The convolution's forward, input gradient and kernel gradient in float64: references for the
 * Winograd kernels, whose sums are too long for a float32 twin to be the reference.
 *
 * @module
 */

import type { Conv2DInfo } from "../../../engine/conv_info.ts";

/**
 * Calls `fn` for every (output pixel, kernel tap) pair whose input is inside the image, in
 * (image, output row, output column, kh, kw) order, with the offsets of the output pixel in an
 * NHWC output, of the input pixel in an NHWC input, and of the tap's [inC][outC] block in the
 * kernel.
 */
function forEachTap(info: Conv2DInfo, fn: (yo: number, xo: number, wo: number) => void): void {
  const { batch, inH, inW, inC, outH, outW, outC, kH, kW, padTop, padLeft } = info;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const yo = ((n * outH + oh) * outW + ow) * outC;
        for (let kh = 0; kh < kH; kh++) {
          for (let kw = 0; kw < kW; kw++) {
            const ih = oh + kh - padTop, iw = ow + kw - padLeft;
            if (ih < 0 || iw < 0 || ih >= inH || iw >= inW) continue;
            fn(yo, ((n * inH + ih) * inW + iw) * inC, (kh * kW + kw) * inC * outC);
          }
        }
      }
    }
  }
}

/** The forward in float64: y = bias + sum over taps and channels of x * w. */
export function forwardFloat64(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  info: Conv2DInfo,
) {
  const { batch, inC, outH, outW, outC } = info;
  const y = new Float64Array(batch * outH * outW * outC);
  for (let p = 0; p < y.length; p += outC) for (let o = 0; o < outC; o++) y[p + o] = b[o]!;
  forEachTap(info, (yo, xo, wo) => {
    for (let c = 0; c < inC; c++) {
      const xv = x[xo + c]!, at = wo + c * outC;
      for (let o = 0; o < outC; o++) y[yo + o]! += xv * w[at + o]!;
    }
  });
  return Float32Array.from(y);
}

/** The input gradient in float64: dx = the sum of dy * w over the windows each input is in. */
export function inputGradientFloat64(dy: Float32Array, w: Float32Array, info: Conv2DInfo) {
  const { batch, inH, inW, inC, outC } = info;
  const dx = new Float64Array(batch * inH * inW * inC);
  forEachTap(info, (yo, xo, wo) => {
    for (let c = 0; c < inC; c++) {
      const at = wo + c * outC;
      let sum = 0;
      for (let o = 0; o < outC; o++) sum += dy[yo + o]! * w[at + o]!;
      dx[xo + c]! += sum;
    }
  });
  return Float32Array.from(dx);
}

/** The kernel gradient in float64: the reference for sums too long for a float32 twin. */
export function dwFloat64(x: Float32Array, dy: Float32Array, info: Conv2DInfo) {
  const { inC, outC, kH, kW } = info;
  const dw = new Float64Array(kH * kW * inC * outC);
  forEachTap(info, (yo, xo, wo) => {
    for (let c = 0; c < inC; c++) {
      const xv = x[xo + c]!, at = wo + c * outC;
      for (let o = 0; o < outC; o++) dw[at + o]! += xv * dy[yo + o]!;
    }
  });
  return dw;
}
