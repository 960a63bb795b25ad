/**
 * `Activation`: applies an activation function on its own, as Keras's `layers.Activation('relu')`.
 * Softmax runs along the last axis.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Activation } from "./activation.ts";
 * assert(new Activation({ activation: "relu" }).computeOutputShape([4, 4, 3]).join() === "4,4,3");
 * ```
 *
 * @module
 */

import type { ActivationName } from "../engine/kernels/activations.ts";
import type { Shape, Tensor } from "../engine/tensor.ts";
import {
  type BackwardOptions,
  BufferCache,
  Layer,
  type LayerOptions,
  type RunContext,
} from "./layer.ts";
import * as v from "./_validate.ts";

/** Activation options. */
export interface ActivationOptions extends LayerOptions {
  /** The activation to apply (Keras name, e.g. `relu`, `softmax`). */
  activation: ActivationName;
}

/** An activation layer. */
export class Activation extends Layer {
  /** Keras class name, `Activation`. */
  readonly className = "Activation";
  /** The activation applied elementwise (softmax over the last axis). */
  readonly activation: ActivationName;
  #buffers = new BufferCache();

  /** Creates the layer; throws on an unknown activation. */
  constructor(options: ActivationOptions) {
    super(options, "Activation");
    this.activation = v.activation("Activation", options.activation);
  }

  /** Output shape: the same as the input shape. */
  computeOutputShape(inputShape: Shape): Shape {
    return inputShape;
  }

  /** Applies the activation to x; the output has x's shape. */
  forward(x: Tensor, ctx: RunContext): Tensor {
    const cols = x.shape.at(-1)!;
    const y = this.#buffers.get(ctx.backend, "y", x.data.length);
    ctx.backend.activationForward(this.activation, y, x.data, y.length, cols);
    ctx.tape?.save(this, y);
    return { shape: x.shape, data: y };
  }

  /** Returns dx of dy's shape (dy itself when `fromLogits`), or null when skipped. */
  backward(dy: Tensor, ctx: RunContext, options: BackwardOptions = {}): Tensor | null {
    const y = ctx.tape!.get<Float32Array>(this);
    if (options.skipInputGradient) return null;
    if (options.fromLogits) return dy;
    const dx = this.#buffers.get(ctx.backend, "dx", y.length);
    ctx.backend.activationBackward(this.activation, dx, dy.data, y, y.length, dy.shape.at(-1)!);
    return { shape: dy.shape, data: dx };
  }

  /** The Keras/TF.js config of this layer. */
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), activation: this.activation };
  }
}
