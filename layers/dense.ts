/**
 * `Dense`: y = activation(x kernel + bias), as Keras's `layers.Dense(units, activation=None)`.
 *
 * Input `[N, inDim]`, output `[N, units]`; kernel `[inDim, units]`, bias `[units]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Dense } from "./dense.ts";
 * const dense = new Dense({ units: 64, activation: "relu" });
 * assert(dense.computeOutputShape([1024]).join() === "64");
 * ```
 *
 * @module
 */

import type { ActivationName } from "../engine/kernels/activations.ts";
import type { Shape, Tensor } from "../engine/tensor.ts";
import { getInitializer, initializerConfig } from "./initializers.ts";
import {
  type BackwardOptions,
  BufferCache,
  Layer,
  type LayerOptions,
  type ParamSpec,
  type RunContext,
} from "./layer.ts";
import * as v from "./_validate.ts";

/** Dense options (Keras names, camelCase). */
export interface DenseOptions extends LayerOptions {
  /** Number of output units (Keras `units`). */
  units: number;
  /** Default linear (none). */
  activation?: ActivationName | null;
  /** Default true. */
  useBias?: boolean;
  /** Default `glorot_uniform`. */
  kernelInitializer?: string;
  /** Default `zeros`. */
  biasInitializer?: string;
}

interface Saved {
  x: Tensor;
  y: Float32Array;
}

/** A fully connected layer. */
export class Dense extends Layer {
  /** Keras class name, `Dense`. */
  readonly className = "Dense";
  /** Number of output units. */
  readonly units: number;
  /** Fused activation applied to the output (`linear` for none). */
  readonly activation: ActivationName;
  /** Whether the layer has a bias of shape [units] (default true). */
  readonly useBias: boolean;
  /** Kernel initializer name (default `glorot_uniform`). */
  readonly kernelInitializer: string;
  /** Bias initializer name (default `zeros`). */
  readonly biasInitializer: string;
  #buffers = new BufferCache();

  /** Creates the layer; throws on invalid options or unknown initializers. */
  constructor(options: DenseOptions) {
    super(options, "Dense");
    this.units = v.positiveInt("Dense", "units", options.units);
    this.activation = v.activation("Dense", options.activation);
    this.useBias = v.bool("Dense", "useBias", options.useBias, true);
    this.kernelInitializer = options.kernelInitializer ?? "glorot_uniform";
    this.biasInitializer = options.biasInitializer ?? "zeros";
    getInitializer(this.kernelInitializer, "kernelInitializer", "Dense");
    getInitializer(this.biasInitializer, "biasInitializer", "Dense");
  }

  /** Output shape (units) for a per-example input of shape (features); throws on other ranks. */
  computeOutputShape(inputShape: Shape): Shape {
    v.expectRank("Dense", inputShape, 1, "vectors (add a Flatten layer before Dense)");
    return [this.units];
  }

  /** Kernel [features, units] and, if `useBias`, bias [units]. */
  override paramSpecs(inputShape: Shape): ParamSpec[] {
    const specs: ParamSpec[] = [{
      name: "kernel",
      shape: [inputShape[0]!, this.units],
      initializer: getInitializer(this.kernelInitializer, "kernelInitializer", "Dense"),
    }];
    if (this.useBias) {
      specs.push({
        name: "bias",
        shape: [this.units],
        initializer: getInitializer(this.biasInitializer, "biasInitializer", "Dense"),
      });
    }
    return specs;
  }

  /** Maps x of shape (N, features) to (N, units) and applies the activation. */
  forward(x: Tensor, ctx: RunContext): Tensor {
    const [kernel, bias] = this.params;
    const batch = x.shape[0]!;
    const inDim = x.shape[1]!;
    // y is (N, units)
    const y = this.#buffers.get(ctx.backend, "y", batch * this.units);
    // relu is fused into the product's store (one pass over y instead of two).
    const relu = this.activation === "relu";
    ctx.backend.denseForward(
      y,
      x.data,
      kernel!.value,
      bias?.value ?? null,
      batch,
      inDim,
      this.units,
      relu,
    );
    if (!relu) ctx.backend.activationForward(this.activation, y, y, y.length, this.units);
    ctx.tape?.save(this, { x, y } satisfies Saved);
    return { shape: [batch, this.units], data: y };
  }

  /** True with a relu activation: its backward can be folded into the next layer's dx. */
  override get endsInRelu(): boolean {
    return this.activation === "relu";
  }

  /** Accumulates kernel/bias gradients and returns dx of shape (N, features), or null when skipped. */
  backward(dy: Tensor, ctx: RunContext, options: BackwardOptions = {}): Tensor | null {
    const { x, y } = ctx.tape!.get<Saved>(this);
    const [kernel, bias] = this.params;
    const batch = x.shape[0]!;
    const inDim = x.shape[1]!;
    let dz = dy.data;
    if (!options.fromLogits && !options.preActivation && this.activation !== "linear") {
      dz = this.#buffers.get(ctx.backend, "dz", y.length);
      ctx.backend.activationBackward(this.activation, dz, dy.data, y, y.length, this.units);
    }
    ctx.backend.denseBackwardKernel(
      kernel!.grad,
      bias?.grad ?? null,
      dz,
      x.data,
      batch,
      inDim,
      this.units,
    );
    if (options.skipInputGradient) return null;
    const dx = this.#buffers.get(ctx.backend, "dx", x.data.length);
    ctx.backend.denseBackwardInput(dx, dz, kernel!.value, batch, inDim, this.units);
    return { shape: x.shape, data: dx };
  }

  /** The Keras/TF.js config of this layer. */
  override getConfig(): Record<string, unknown> {
    return {
      ...super.getConfig(),
      units: this.units,
      activation: this.activation,
      useBias: this.useBias,
      kernelInitializer: initializerConfig(this.kernelInitializer),
      biasInitializer: initializerConfig(this.biasInitializer),
      kernelRegularizer: null,
      biasRegularizer: null,
      activityRegularizer: null,
      kernelConstraint: null,
      biasConstraint: null,
    };
  }
}
