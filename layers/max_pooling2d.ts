/**
 * `MaxPooling2D`: the maximum of each window, per channel. The forward caches each window's
 * argmax, so the backward is a scatter.
 *
 * Input `[N, H, W, C]`, output `[N, outH, outW, C]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MaxPooling2D } from "./max_pooling2d.ts";
 * const pool = new MaxPooling2D({ poolSize: [2, 2] });
 * assert(pool.computeOutputShape([24, 24, 32]).join() === "12,12,32");
 * ```
 *
 * @module
 */

import type { Conv2DInfo } from "../engine/conv_info.ts";
import type { Shape, Tensor } from "../engine/tensor.ts";
import { type BackwardOptions, BufferCache, type RunContext } from "./layer.ts";
import { Pooling2D, type Pooling2DOptions } from "./pooling2d.ts";

interface Saved {
  x: Tensor;
  argmax: Int32Array;
  info: Conv2DInfo;
}

/** Max pooling over 2-D windows. */
export class MaxPooling2D extends Pooling2D {
  /** Keras class name, `MaxPooling2D`. */
  readonly className = "MaxPooling2D";
  #buffers = new BufferCache();

  /** Creates the layer (default pool size [2, 2], strides = pool size, `valid`). */
  constructor(options: Pooling2DOptions = {}) {
    super(options, "MaxPooling2D");
  }

  /** Takes each window's maximum: x (N, H, W, C) to (N, outH, outW, C). */
  forward(x: Tensor, ctx: RunContext): Tensor {
    const info = this.info(x.shape[0]!, x.shape.slice(1));
    const size = info.batch * info.outH * info.outW * info.outC;
    // y and argmax are (N, outH, outW, C)
    const y = this.#buffers.get(ctx.backend, "y", size);
    const argmax = this.#buffers.getInt32(ctx.backend, "argmax", size);
    ctx.backend.maxPoolForward(y, argmax, x.data, info);
    ctx.tape?.save(this, { x, argmax, info } satisfies Saved);
    return { shape: [info.batch, info.outH, info.outW, info.outC], data: y };
  }

  /**
   * The pooling of a batch of `batch` inputs of `inputShape` when the preceding convolution can
   * do it in its own store (`Backend.conv2dForward`'s `pool`, inference only): 2x2 windows,
   * stride 2, `valid` padding; null for any other pooling.
   */
  fusableInfo(batch: number, inputShape: Shape): Conv2DInfo | null {
    const [ph, pw] = this.poolSize, [sh, sw] = this.strides;
    if (ph !== 2 || pw !== 2 || sh !== 2 || sw !== 2 || this.padding !== "valid") return null;
    return this.info(batch, inputShape);
  }

  /** Routes dy to each window's maximum; dx has x's shape, or null when skipped. */
  backward(dy: Tensor, ctx: RunContext, options: BackwardOptions = {}): Tensor | null {
    const { x, argmax, info } = ctx.tape!.get<Saved>(this);
    if (options.skipInputGradient) return null;
    const dx = this.#buffers.get(ctx.backend, "dx", x.data.length);
    ctx.backend.maxPoolBackward(dx, dy.data, argmax, info);
    return { shape: x.shape, data: dx };
  }
}
