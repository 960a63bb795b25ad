/**
 * 2-D convolution, NHWC input, HWIO kernel `[kH, kW, inC, outC]` (as Keras and TF.js store it):
 * forward, gradient with respect to the input, and gradient with respect to the kernel and bias.
 *
 * The plain TypeScript kernels read the NHWC input in place (no im2col copy): for each output
 * pixel they walk the window taps that fall inside the image and, per input channel, add one
 * scaled kernel row into the output row, so the innermost loop runs over contiguous output
 * channels in both `y` and `w`. The bounds of the valid taps are computed once per output pixel,
 * so padding costs no branch in the inner loops. The naive twins below are the textbook loops,
 * accumulating in float64, and exist only to be compared against.
 *
 * Signatures list outputs, then inputs, then the shape info (llm.c's convention). Activation
 * gradients are written with `=`, parameter gradients accumulated with `+=`.
 *
 * @module
 */

import type { Conv2DInfo } from "../conv_info.ts";

/** The window taps of output row `o` that land inside the input: [first, end) and the input row of tap 0. */
function tapRange(o: number, stride: number, pad: number, k: number, inLen: number) {
  const origin = o * stride - pad;
  const first = Math.max(0, -origin);
  const end = Math.min(k, inLen - origin);
  return { origin, first, end };
}

/**
 * y = conv(x, w) + b.
 * y is (N, outH, outW, outC); x is (N, inH, inW, inC); w is (kH, kW, inC, outC); b is (outC) or null.
 */
export function conv2dForward(
  y: Float32Array,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array | null,
  info: Conv2DInfo,
): void {
  const { batch, inH, inW, inC, outH, outW, outC, kH, kW, strideH, strideW, padTop, padLeft } =
    info;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      const r = tapRange(oh, strideH, padTop, kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const c = tapRange(ow, strideW, padLeft, kW, inW);
        const yOff = ((n * outH + oh) * outW + ow) * outC;
        if (b !== null) { for (let co = 0; co < outC; co++) y[yOff + co] = b[co]!; }
        else y.fill(0, yOff, yOff + outC);
        for (let kh = r.first; kh < r.end; kh++) {
          for (let kw = c.first; kw < c.end; kw++) {
            const xOff = ((n * inH + r.origin + kh) * inW + c.origin + kw) * inC;
            const wOff = (kh * kW + kw) * inC * outC;
            for (let ci = 0; ci < inC; ci++) {
              const xv = x[xOff + ci]!;
              if (xv === 0) continue; // after a relu, about half the inputs are zero
              const wRow = wOff + ci * outC;
              for (let co = 0; co < outC; co++) y[yOff + co]! += xv * w[wRow + co]!;
            }
          }
        }
      }
    }
  }
}

/**
 * dx = conv^T(dy, w): the gradient of the loss with respect to the input (overwrites dx).
 * dx is (N, inH, inW, inC); dy is (N, outH, outW, outC); w is (kH, kW, inC, outC).
 */
export function conv2dBackwardInput(
  dx: Float32Array,
  dy: Float32Array,
  w: Float32Array,
  info: Conv2DInfo,
): void {
  const { batch, inH, inW, inC, outH, outW, outC, kH, kW, strideH, strideW, padTop, padLeft } =
    info;
  dx.fill(0, 0, batch * inH * inW * inC);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      const r = tapRange(oh, strideH, padTop, kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const c = tapRange(ow, strideW, padLeft, kW, inW);
        const dyOff = ((n * outH + oh) * outW + ow) * outC;
        for (let kh = r.first; kh < r.end; kh++) {
          for (let kw = c.first; kw < c.end; kw++) {
            const dxOff = ((n * inH + r.origin + kh) * inW + c.origin + kw) * inC;
            const wOff = (kh * kW + kw) * inC * outC;
            for (let ci = 0; ci < inC; ci++) {
              const wRow = wOff + ci * outC;
              let s = 0;
              for (let co = 0; co < outC; co++) s += dy[dyOff + co]! * w[wRow + co]!;
              dx[dxOff + ci]! += s;
            }
          }
        }
      }
    }
  }
}

/**
 * dw += x^T * dy over every window, db += sum of dy (accumulates, as parameter gradients do).
 * dw is (kH, kW, inC, outC); db is (outC) or null; dy is (N, outH, outW, outC); x is (N, inH, inW, inC).
 */
export function conv2dBackwardKernel(
  dw: Float32Array,
  db: Float32Array | null,
  dy: Float32Array,
  x: Float32Array,
  info: Conv2DInfo,
): void {
  const { batch, inH, inW, inC, outH, outW, outC, kH, kW, strideH, strideW, padTop, padLeft } =
    info;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      const r = tapRange(oh, strideH, padTop, kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const c = tapRange(ow, strideW, padLeft, kW, inW);
        const dyOff = ((n * outH + oh) * outW + ow) * outC;
        if (db !== null) { for (let co = 0; co < outC; co++) db[co]! += dy[dyOff + co]!; }
        for (let kh = r.first; kh < r.end; kh++) {
          for (let kw = c.first; kw < c.end; kw++) {
            const xOff = ((n * inH + r.origin + kh) * inW + c.origin + kw) * inC;
            const wOff = (kh * kW + kw) * inC * outC;
            for (let ci = 0; ci < inC; ci++) {
              const xv = x[xOff + ci]!;
              if (xv === 0) continue;
              const wRow = wOff + ci * outC;
              for (let co = 0; co < outC; co++) dw[wRow + co]! += xv * dy[dyOff + co]!;
            }
          }
        }
      }
    }
  }
}

/** Naive twin of {@linkcode conv2dForward}: the textbook seven loops, float64 sums. */
export function conv2dForwardNaive(
  y: Float32Array,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array | null,
  info: Conv2DInfo,
): void {
  const { batch, inH, inW, inC, outH, outW, outC, kH, kW, strideH, strideW, padTop, padLeft } =
    info;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (let co = 0; co < outC; co++) {
          let s = b === null ? 0 : b[co]!;
          for (let kh = 0; kh < kH; kh++) {
            for (let kw = 0; kw < kW; kw++) {
              const ih = oh * strideH - padTop + kh;
              const iw = ow * strideW - padLeft + kw;
              if (ih < 0 || ih >= inH || iw < 0 || iw >= inW) continue;
              for (let ci = 0; ci < inC; ci++) {
                s += x[((n * inH + ih) * inW + iw) * inC + ci]! *
                  w[((kh * kW + kw) * inC + ci) * outC + co]!;
              }
            }
          }
          y[((n * outH + oh) * outW + ow) * outC + co] = s;
        }
      }
    }
  }
}

/** Naive twin of {@linkcode conv2dBackwardInput}: for each input pixel, gather every output that saw it. */
export function conv2dBackwardInputNaive(
  dx: Float32Array,
  dy: Float32Array,
  w: Float32Array,
  info: Conv2DInfo,
): void {
  const { batch, inH, inW, inC, outH, outW, outC, kH, kW, strideH, strideW, padTop, padLeft } =
    info;
  for (let n = 0; n < batch; n++) {
    for (let ih = 0; ih < inH; ih++) {
      for (let iw = 0; iw < inW; iw++) {
        for (let ci = 0; ci < inC; ci++) {
          let s = 0;
          for (let kh = 0; kh < kH; kh++) {
            for (let kw = 0; kw < kW; kw++) {
              const ohs = ih + padTop - kh;
              const ows = iw + padLeft - kw;
              if (ohs % strideH !== 0 || ows % strideW !== 0) continue;
              const oh = ohs / strideH;
              const ow = ows / strideW;
              if (oh < 0 || oh >= outH || ow < 0 || ow >= outW) continue;
              for (let co = 0; co < outC; co++) {
                s += dy[((n * outH + oh) * outW + ow) * outC + co]! *
                  w[((kh * kW + kw) * inC + ci) * outC + co]!;
              }
            }
          }
          dx[((n * inH + ih) * inW + iw) * inC + ci] = s;
        }
      }
    }
  }
}

/** Naive twin of {@linkcode conv2dBackwardKernel}: one float64 sum per kernel weight. */
export function conv2dBackwardKernelNaive(
  dw: Float32Array,
  db: Float32Array | null,
  dy: Float32Array,
  x: Float32Array,
  info: Conv2DInfo,
): void {
  const { batch, inH, inW, inC, outH, outW, outC, kH, kW, strideH, strideW, padTop, padLeft } =
    info;
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      for (let ci = 0; ci < inC; ci++) {
        for (let co = 0; co < outC; co++) {
          let s = 0;
          for (let n = 0; n < batch; n++) {
            for (let oh = 0; oh < outH; oh++) {
              for (let ow = 0; ow < outW; ow++) {
                const ih = oh * strideH - padTop + kh;
                const iw = ow * strideW - padLeft + kw;
                if (ih < 0 || ih >= inH || iw < 0 || iw >= inW) continue;
                s += x[((n * inH + ih) * inW + iw) * inC + ci]! *
                  dy[((n * outH + oh) * outW + ow) * outC + co]!;
              }
            }
          }
          dw[((kh * kW + kw) * inC + ci) * outC + co]! += s;
        }
      }
    }
  }
  if (db !== null) {
    for (let co = 0; co < outC; co++) {
      let s = 0;
      for (let i = co; i < batch * outH * outW * outC; i += outC) s += dy[i]!;
      db[co]! += s;
    }
  }
}
