/**
 * `AveragePooling2D`: the mean of each window's in-image taps, per channel (padding taps are not
 * counted, as TensorFlow's `avg_pool`).
 *
 * Input `[N, H, W, C]`, output `[N, outH, outW, C]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AveragePooling2D } from "./average_pooling2d.ts";
 * const pool = new AveragePooling2D({ poolSize: 3, strides: 2, padding: "same" });
 * assert(pool.computeOutputShape([7, 7, 5]).join() === "4,4,5");
 * ```
 *
 * @module
 */

import type { Conv2DInfo } from "../engine/conv_info.ts";
import type { Tensor } from "../engine/tensor.ts";
import { type BackwardOptions, BufferCache, type RunContext } from "./layer.ts";
import { Pooling2D, type Pooling2DOptions } from "./pooling2d.ts";

interface Saved {
  x: Tensor;
  info: Conv2DInfo;
}

/** Average pooling over 2-D windows. */
export class AveragePooling2D extends Pooling2D {
  /** Keras class name, `AveragePooling2D`. */
  readonly className = "AveragePooling2D";
  #buffers = new BufferCache();

  /** Creates the layer (default pool size [2, 2], strides = pool size, `valid`). */
  constructor(options: Pooling2DOptions = {}) {
    super(options, "AveragePooling2D");
  }

  /** Averages each window: x (N, H, W, C) to (N, outH, outW, C). */
  forward(x: Tensor, ctx: RunContext): Tensor {
    const info = this.info(x.shape[0]!, x.shape.slice(1));
    const size = info.batch * info.outH * info.outW * info.outC;
    const y = this.#buffers.get(ctx.backend, "y", size);
    ctx.backend.avgPoolForward(y, x.data, info);
    ctx.tape?.save(this, { x, info } satisfies Saved);
    return { shape: [info.batch, info.outH, info.outW, info.outC], data: y };
  }

  /** Spreads dy evenly over each window; dx has x's shape, or null when skipped. */
  backward(dy: Tensor, ctx: RunContext, options: BackwardOptions = {}): Tensor | null {
    const { x, info } = ctx.tape!.get<Saved>(this);
    if (options.skipInputGradient) return null;
    const dx = this.#buffers.get(ctx.backend, "dx", x.data.length);
    ctx.backend.avgPoolBackward(dx, dy.data, info);
    return { shape: x.shape, data: dx };
  }
}
