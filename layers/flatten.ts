/**
 * `Flatten`: reshapes `[N, ...]` to `[N, product(...)]`. Row-major NHWC order, as Keras's
 * channels-last flatten, so a Dense kernel trained here matches Keras's. No copy: the output
 * shares the input's buffer, and the backward reshapes dy the same way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Flatten } from "./flatten.ts";
 * assert(new Flatten().computeOutputShape([5, 5, 64]).join() === "1600");
 * ```
 *
 * @module
 */

import type { Shape, Tensor } from "../engine/tensor.ts";
import { sizeOf } from "../engine/tensor.ts";
import { type BackwardOptions, Layer, type LayerOptions, type RunContext } from "./layer.ts";

/** Flattens every example to a vector. */
export class Flatten extends Layer {
  /** Keras class name, `Flatten`. */
  readonly className = "Flatten";

  /** Creates the layer. */
  constructor(options: LayerOptions = {}) {
    super(options, "Flatten");
  }

  /** Output shape (H * W * C) for a per-example input shape, e.g. (H, W, C). */
  computeOutputShape(inputShape: Shape): Shape {
    return [sizeOf(inputShape)];
  }

  /** Reshapes x of shape (N, ...) to (N, features) without copying. */
  forward(x: Tensor, ctx: RunContext): Tensor {
    ctx.tape?.save(this, x.shape);
    return { shape: [x.shape[0]!, sizeOf(x.shape.slice(1))], data: x.data };
  }

  /** Reshapes dy back to the input's shape, or returns null when skipped. */
  backward(dy: Tensor, ctx: RunContext, options: BackwardOptions = {}): Tensor | null {
    const shape = ctx.tape!.get<Shape>(this);
    return options.skipInputGradient ? null : { shape, data: dy.data };
  }

  /** The Keras/TF.js config of this layer. */
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), dataFormat: "channels_last" };
  }
}
