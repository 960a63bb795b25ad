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
import { type Shape, sizeOf, type Tensor } from "../engine/tensor.ts";
import { type BackwardOptions, BufferCache, type RunContext } from "./layer.ts";
import { Pooling2D, type Pooling2DOptions } from "./pooling2d.ts";

interface Saved {
  /** The input's shape (dx's). */
  shape: Shape;
  argmax: Int32Array;
  info: Conv2DInfo;
  /**
   * Pooled in a relu convolution's store (`fuse`): this layer's output, whose sign is the relu's
   * derivative at each argmax, so the backward applies the relu's backward to dy; else null.
   */
  reluOf: Float32Array | null;
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
    ctx.tape?.save(this, { shape: x.shape, argmax, info, reluOf: null } satisfies Saved);
    return { shape: [info.batch, info.outH, info.outW, info.outC], data: y };
  }

  /**
   * When the preceding convolution pools in its own store (`Conv2D.forwardPooled`, through
   * `Backend.conv2dForward`'s `pool`): this layer's geometry and buffers for a batch of `batch`
   * inputs of `inputShape` (the argmax buffer on a training step only), with what the backward
   * needs recorded on `ctx.tape`; `relu` says the convolution applies relu, whose backward this
   * layer's backward then applies. Null for any pooling but 2x2 windows, stride 2, `valid`.
   */
  fuse(
    batch: number,
    inputShape: Shape,
    ctx: RunContext,
    relu: boolean,
  ): { info: Conv2DInfo; y: Float32Array; argmax: Int32Array | null } | null {
    const [ph, pw] = this.poolSize, [sh, sw] = this.strides;
    if (ph !== 2 || pw !== 2 || sh !== 2 || sw !== 2 || this.padding !== "valid") return null;
    const info = this.info(batch, inputShape);
    const size = info.batch * info.outH * info.outW * info.outC;
    const y = this.#buffers.get(ctx.backend, "y", size);
    if (ctx.tape === null) return { info, y, argmax: null };
    const argmax = this.#buffers.getInt32(ctx.backend, "argmax", size);
    const shape = [batch, ...inputShape];
    ctx.tape.save(this, { shape, argmax, info, reluOf: relu ? y : null } satisfies Saved);
    return { info, y, argmax };
  }

  /** Routes dy to each window's maximum; dx has the input's shape, or null when skipped. */
  backward(dy: Tensor, ctx: RunContext, options: BackwardOptions = {}): Tensor | null {
    const { shape, argmax, info, reluOf } = ctx.tape!.get<Saved>(this);
    if (options.skipInputGradient) return null;
    const dx = this.#buffers.get(ctx.backend, "dx", sizeOf(shape));
    // With the fused convolution's relu: its backward on the pooled values, in the same pass
    // (bitwise the same as on its output after the scatter: the relu's output at an argmax is
    // the pooled value).
    ctx.backend.maxPoolBackward(dx, dy.data, argmax, info, reluOf ?? undefined);
    return { shape, data: dx };
  }
}
