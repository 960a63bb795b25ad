/**
 * Max and average pooling over NHWC tensors, forward and backward.
 *
 * Max pooling records the flat input index of each window's maximum in the forward (`argmax`), so
 * the backward is a scatter and never searches the window again (tfjs-backend-cpu recomputes it;
 * that is its slow habit). Ties go to the first maximum in row-major window order, as TensorFlow
 * does. Average pooling divides by the number of taps inside the image, so `same` padding does
 * not pull averages toward zero (TensorFlow's `avg_pool` semantics). The naive twins recompute
 * everything from the definitions.
 *
 * @module
 */

import type { Conv2DInfo } from "../conv_info.ts";

/**
 * y = max over each window; argmax = flat index into x of the chosen element.
 * y and argmax are (N, outH, outW, C); x is (N, inH, inW, C).
 */
export function maxPoolForward(
  y: Float32Array,
  argmax: Int32Array,
  x: Float32Array,
  info: Conv2DInfo,
): void {
  const { batch, inH, inW, inC: C, outH, outW, kH, kW, strideH, strideW, padTop, padLeft } = info;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * strideH - padTop;
      const hs = Math.max(h0, 0), he = Math.min(h0 + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * strideW - padLeft;
        const ws = Math.max(w0, 0), we = Math.min(w0 + kW, inW);
        const yOff = ((n * outH + oh) * outW + ow) * C;
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let bestAt = -1;
          for (let h = hs; h < he; h++) {
            for (let w = ws; w < we; w++) {
              const i = ((n * inH + h) * inW + w) * C + c;
              const v = x[i]!;
              if (v > best || bestAt < 0) {
                best = v;
                bestAt = i;
              }
            }
          }
          y[yOff + c] = best;
          argmax[yOff + c] = bestAt;
        }
      }
    }
  }
}

/** dx = scatter of dy at argmax (overwrites dx). dx is (N, inH, inW, C); dy and argmax are (N, outH, outW, C). */
export function maxPoolBackward(
  dx: Float32Array,
  dy: Float32Array,
  argmax: Int32Array,
  info: Conv2DInfo,
): void {
  const { batch, inH, inW, inC, outH, outW } = info;
  dx.fill(0, 0, batch * inH * inW * inC);
  const size = batch * outH * outW * inC;
  for (let i = 0; i < size; i++) {
    const at = argmax[i]!;
    if (at >= 0) dx[at]! += dy[i]!;
  }
}

/** y = mean of the in-image taps of each window. y is (N, outH, outW, C); x is (N, inH, inW, C). */
export function avgPoolForward(y: Float32Array, x: Float32Array, info: Conv2DInfo): void {
  const { batch, inH, inW, inC: C, outH, outW, kH, kW, strideH, strideW, padTop, padLeft } = info;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * strideH - padTop;
      const hs = Math.max(h0, 0), he = Math.min(h0 + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * strideW - padLeft;
        const ws = Math.max(w0, 0), we = Math.min(w0 + kW, inW);
        const yOff = ((n * outH + oh) * outW + ow) * C;
        const scale = 1 / ((he - hs) * (we - ws));
        y.fill(0, yOff, yOff + C);
        for (let h = hs; h < he; h++) {
          for (let w = ws; w < we; w++) {
            const xOff = ((n * inH + h) * inW + w) * C;
            for (let c = 0; c < C; c++) y[yOff + c]! += x[xOff + c]!;
          }
        }
        for (let c = 0; c < C; c++) y[yOff + c]! *= scale;
      }
    }
  }
}

/** dx = dy spread evenly over each window's in-image taps (overwrites dx). */
export function avgPoolBackward(dx: Float32Array, dy: Float32Array, info: Conv2DInfo): void {
  const { batch, inH, inW, inC: C, outH, outW, kH, kW, strideH, strideW, padTop, padLeft } = info;
  dx.fill(0, 0, batch * inH * inW * C);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * strideH - padTop;
      const hs = Math.max(h0, 0), he = Math.min(h0 + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * strideW - padLeft;
        const ws = Math.max(w0, 0), we = Math.min(w0 + kW, inW);
        const dyOff = ((n * outH + oh) * outW + ow) * C;
        const scale = 1 / ((he - hs) * (we - ws));
        for (let h = hs; h < he; h++) {
          for (let w = ws; w < we; w++) {
            const dxOff = ((n * inH + h) * inW + w) * C;
            for (let c = 0; c < C; c++) dx[dxOff + c]! += dy[dyOff + c]! * scale;
          }
        }
      }
    }
  }
}

/** Naive twin of max pooling: returns y and dx for a given dy, recomputing the argmax by search. */
export function maxPoolNaive(
  y: Float32Array,
  dx: Float32Array | null,
  dy: Float32Array | null,
  x: Float32Array,
  info: Conv2DInfo,
): void {
  const { batch, inH, inW, inC: C, outH, outW, kH, kW, strideH, strideW, padTop, padLeft } = info;
  if (dx !== null) dx.fill(0);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let bestAt = -1;
          for (let kh = 0; kh < kH; kh++) {
            for (let kw = 0; kw < kW; kw++) {
              const h = oh * strideH - padTop + kh;
              const w = ow * strideW - padLeft + kw;
              if (h < 0 || h >= inH || w < 0 || w >= inW) continue;
              const i = ((n * inH + h) * inW + w) * C + c;
              if (bestAt < 0 || x[i]! > best) {
                best = x[i]!;
                bestAt = i;
              }
            }
          }
          const o = ((n * outH + oh) * outW + ow) * C + c;
          y[o] = best;
          if (dx !== null && dy !== null) dx[bestAt]! += dy[o]!;
        }
      }
    }
  }
}

/** Naive twin of average pooling: y from x, and dx from dy when given. */
export function avgPoolNaive(
  y: Float32Array,
  dx: Float32Array | null,
  dy: Float32Array | null,
  x: Float32Array,
  info: Conv2DInfo,
): void {
  const { batch, inH, inW, inC: C, outH, outW, kH, kW, strideH, strideW, padTop, padLeft } = info;
  if (dx !== null) dx.fill(0);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (let c = 0; c < C; c++) {
          const taps: number[] = [];
          for (let kh = 0; kh < kH; kh++) {
            for (let kw = 0; kw < kW; kw++) {
              const h = oh * strideH - padTop + kh;
              const w = ow * strideW - padLeft + kw;
              if (h < 0 || h >= inH || w < 0 || w >= inW) continue;
              taps.push(((n * inH + h) * inW + w) * C + c);
            }
          }
          const o = ((n * outH + oh) * outW + ow) * C + c;
          let s = 0;
          for (const i of taps) s += x[i]!;
          y[o] = s / taps.length;
          if (dx !== null && dy !== null) { for (const i of taps) dx[i]! += dy[o]! / taps.length; }
        }
      }
    }
  }
}
