/**
 * Shape arithmetic for convolution and pooling, computed once into a flat info record that every
 * conv/pool kernel and its gradients unpack (as tfjs-backend-cpu does). The formulas are Keras's:
 *
 * - `valid`: out = floor((in - f) / s) + 1, no padding;
 * - `same`: out = ceil(in / s), total padding max((out - 1) * s + f - in, 0), of which the odd
 *   pixel goes to the bottom/right (TensorFlow's convention).
 *
 * @module
 */

/** Keras padding modes. */
export type Padding = "valid" | "same";

/** Everything a 2-D convolution or pooling kernel needs to know about its shapes. */
export interface Conv2DInfo {
  /** Batch size N. */
  readonly batch: number;
  /** Input height. */
  readonly inH: number;
  /** Input width. */
  readonly inW: number;
  /** Input channels. */
  readonly inC: number;
  /** Output height. */
  readonly outH: number;
  /** Output width. */
  readonly outW: number;
  /** Output channels: the filter count for a convolution, `inC` for pooling. */
  readonly outC: number;
  /** Kernel (window) height. */
  readonly kH: number;
  /** Kernel (window) width. */
  readonly kW: number;
  /** Stride along the height. */
  readonly strideH: number;
  /** Stride along the width. */
  readonly strideW: number;
  /** Zero rows added above the input (`same` padding only). */
  readonly padTop: number;
  /** Zero columns added left of the input (`same` padding only). */
  readonly padLeft: number;
  /** Zero rows added below the input (`same` padding only). */
  readonly padBottom: number;
  /** Zero columns added right of the input (`same` padding only). */
  readonly padRight: number;
}

/**
 * Output length and padding along one spatial axis, as Keras computes them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { convOutputLength } from "./conv_info.ts";
 * assert(convOutputLength(28, 3, 1, "valid").out === 26);
 * assert(convOutputLength(7, 3, 2, "same").out === 4);
 * ```
 */
export function convOutputLength(
  inLen: number,
  filter: number,
  stride: number,
  padding: Padding,
): { out: number; padBefore: number; padAfter: number } {
  if (padding === "valid") {
    const out = inLen >= filter ? Math.floor((inLen - filter) / stride) + 1 : 0;
    return { out, padBefore: 0, padAfter: 0 };
  }
  const out = Math.ceil(inLen / stride);
  const total = Math.max((out - 1) * stride + filter - inLen, 0);
  const padBefore = Math.floor(total / 2);
  return { out, padBefore, padAfter: total - padBefore };
}

/**
 * Computes the info record for a convolution or pooling window over an NHWC input.
 *
 * @param xShape the input shape `[N, H, W, C]`
 * @param options window size, strides, padding and the output channel count
 */
export function conv2dInfo(
  xShape: readonly number[],
  options: {
    kernelSize: readonly [number, number];
    strides: readonly [number, number];
    padding: Padding;
    outChannels: number;
  },
): Conv2DInfo {
  if (xShape.length !== 4) {
    throw new TypeError(`Expected an NHWC input of rank 4, received shape [${xShape}]`);
  }
  const [batch, inH, inW, inC] = xShape as [number, number, number, number];
  const [kH, kW] = options.kernelSize;
  const [strideH, strideW] = options.strides;
  const h = convOutputLength(inH, kH, strideH, options.padding);
  const w = convOutputLength(inW, kW, strideW, options.padding);
  return {
    batch,
    inH,
    inW,
    inC,
    outH: h.out,
    outW: w.out,
    outC: options.outChannels,
    kH,
    kW,
    strideH,
    strideW,
    padTop: h.padBefore,
    padLeft: w.padBefore,
    padBottom: h.padAfter,
    padRight: w.padAfter,
  };
}
