/**
 * `Dropout`: while training, zeroes each input with probability `rate` and scales the rest by
 * 1 / (1 - rate) (inverted dropout, as Keras); at inference it is the identity. The mask comes
 * from the engine's seeded generator, so runs are reproducible.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Dropout } from "./dropout.ts";
 * assert(new Dropout({ rate: 0.5 }).computeOutputShape([128]).join() === "128");
 * ```
 *
 * @module
 */

import type { Shape, Tensor } from "../engine/tensor.ts";
import {
  type BackwardOptions,
  BufferCache,
  Layer,
  type LayerOptions,
  type RunContext,
} from "./layer.ts";
import * as v from "./_validate.ts";

/** Dropout options. */
export interface DropoutOptions extends LayerOptions {
  /** Fraction of inputs dropped, in [0, 1). */
  rate: number;
  /** Ignored seed option accepted for Keras parity; the engine's generator is used. */
  seed?: number | null;
}

/** Inverted dropout. */
export class Dropout extends Layer {
  /** Keras class name, `Dropout`. */
  readonly className = "Dropout";
  /** Fraction of inputs dropped while training, in [0, 1). */
  readonly rate: number;
  #buffers = new BufferCache();

  /** Creates the layer; throws unless `rate` is in [0, 1). */
  constructor(options: DropoutOptions) {
    super(options, "Dropout");
    this.rate = v.rate("Dropout", "rate", options.rate);
  }

  /** Output shape: the same as the input shape. */
  computeOutputShape(inputShape: Shape): Shape {
    return inputShape;
  }

  /** While training, zeroes each input with probability `rate` and scales the rest by 1 / (1 - rate); otherwise returns x. */
  forward(x: Tensor, ctx: RunContext): Tensor {
    if (!ctx.training || this.rate === 0) {
      ctx.tape?.save(this, null);
      return x;
    }
    const n = x.data.length;
    const scale = 1 / (1 - this.rate);
    // mask holds 0 or 1 / (1 - rate) per element
    const mask = this.#buffers.get(ctx.backend, "mask", n);
    const y = this.#buffers.get(ctx.backend, "y", n);
    for (let i = 0; i < n; i++) {
      const m = ctx.random.next() >= this.rate ? scale : 0;
      mask[i] = m;
      y[i] = x.data[i]! * m;
    }
    ctx.tape?.save(this, mask);
    return { shape: x.shape, data: y };
  }

  /** Returns dy times the saved mask (dy itself in inference), or null when skipped. */
  backward(dy: Tensor, ctx: RunContext, options: BackwardOptions = {}): Tensor | null {
    const mask = ctx.tape!.get<Float32Array | null>(this);
    if (options.skipInputGradient) return null;
    if (mask === null) return dy;
    const dx = this.#buffers.get(ctx.backend, "dx", mask.length);
    for (let i = 0; i < mask.length; i++) dx[i] = dy.data[i]! * mask[i]!;
    return { shape: dy.shape, data: dx };
  }

  /** The Keras/TF.js config of this layer. */
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), rate: this.rate, noiseShape: null, seed: null };
  }
}
