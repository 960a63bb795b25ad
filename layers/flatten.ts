/**
 * `Flatten`: reshapes `[N, ...]` to `[N, product(...)]`. Row-major NHWC order, as Keras's
 * channels-last flatten, so a Dense kernel trained here matches Keras's. No copy: the output
 * shares the input's buffer, and the backward reshapes dy the same way.
 *
 * @example
 * ```ts
 * import { Flatten } from "./flatten.ts";
 * console.assert(new Flatten().computeOutputShape([5, 5, 64]).join() === "1600");
 * ```
 *
 * @module
 */

import type { Shape, Tensor } from "../engine/tensor.ts";
import { sizeOf } from "../engine/tensor.ts";
import { type BackwardOptions, Layer, type LayerOptions, type RunContext } from "./layer.ts";

/** Flattens every example to a vector. */
export class Flatten extends Layer {
  readonly className = "Flatten";

  constructor(options: LayerOptions = {}) {
    super(options, "Flatten");
  }

  computeOutputShape(inputShape: Shape): Shape {
    return [sizeOf(inputShape)];
  }

  forward(x: Tensor, ctx: RunContext): Tensor {
    ctx.tape?.save(this, x.shape);
    return { shape: [x.shape[0]!, sizeOf(x.shape.slice(1))], data: x.data };
  }

  backward(dy: Tensor, ctx: RunContext, options: BackwardOptions = {}): Tensor | null {
    const shape = ctx.tape!.get<Shape>(this);
    return options.skipInputGradient ? null : { shape, data: dy.data };
  }

  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), dataFormat: "channels_last" };
  }
}
