/**
 * `Conv2D`: a 2-D convolution over NHWC images, with an optional fused activation, as Keras's
 * `layers.Conv2D(filters, kernel_size, strides=1, padding='valid', activation=None, ...)`.
 *
 * Input `[N, H, W, C]`, output `[N, outH, outW, filters]`; kernel `[kh, kw, C, filters]` (HWIO),
 * bias `[filters]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Conv2D } from "./conv2d.ts";
 * const conv = new Conv2D({ filters: 32, kernelSize: 3, activation: "relu", inputShape: [28, 28, 1] });
 * assert(conv.computeOutputShape([28, 28, 1]).join() === "26,26,32");
 * ```
 *
 * @module
 */

import { type Conv2DInfo, conv2dInfo, type Padding } from "../engine/conv_info.ts";
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
import type { MaxPooling2D } from "./max_pooling2d.ts";

/** Conv2D options (Keras names, camelCase). */
export interface Conv2DOptions extends LayerOptions {
  /** Number of output channels (Keras `filters`). */
  filters: number;
  /** Kernel height and width, or one number for both (Keras `kernel_size`). */
  kernelSize: number | readonly [number, number];
  /** Default 1. */
  strides?: number | readonly [number, number];
  /** Default `valid`. */
  padding?: Padding;
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
  /**
   * The output, for the activation's backward; null when the layer pooled in its store
   * (`forwardPooled`): the pooling's backward then hands back the pre-activation gradient.
   */
  y: Float32Array | null;
  info: Conv2DInfo;
}

/** A 2-D convolution layer. */
export class Conv2D extends Layer {
  /** Keras class name, `Conv2D`. */
  readonly className = "Conv2D";
  /** Number of output channels. */
  readonly filters: number;
  /** Kernel size as [height, width]. */
  readonly kernelSize: [number, number];
  /** Strides as [height, width] (default [1, 1]). */
  readonly strides: [number, number];
  /** Padding mode, `valid` or `same` (default `valid`). */
  readonly padding: Padding;
  /** Fused activation applied to the output (`linear` for none). */
  readonly activation: ActivationName;
  /** Whether the layer has a bias of shape [filters] (default true). */
  readonly useBias: boolean;
  /** Kernel initializer name (default `glorot_uniform`). */
  readonly kernelInitializer: string;
  /** Bias initializer name (default `zeros`). */
  readonly biasInitializer: string;
  #buffers = new BufferCache();

  /** Creates the layer; throws on invalid options or unknown initializers. */
  constructor(options: Conv2DOptions) {
    super(options, "Conv2D");
    this.filters = v.positiveInt("Conv2D", "filters", options.filters);
    this.kernelSize = v.intPair("Conv2D", "kernelSize", options.kernelSize);
    this.strides = v.intPair("Conv2D", "strides", options.strides ?? 1);
    this.padding = v.padding("Conv2D", options.padding ?? "valid");
    this.activation = v.activation("Conv2D", options.activation);
    this.useBias = v.bool("Conv2D", "useBias", options.useBias, true);
    this.kernelInitializer = options.kernelInitializer ?? "glorot_uniform";
    this.biasInitializer = options.biasInitializer ?? "zeros";
    getInitializer(this.kernelInitializer, "kernelInitializer", "Conv2D");
    getInitializer(this.biasInitializer, "biasInitializer", "Conv2D");
  }

  #info(batch: number, inputShape: Shape): Conv2DInfo {
    return conv2dInfo([batch, ...inputShape], {
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      outChannels: this.filters,
    });
  }

  /** Output shape (outH, outW, filters) for a per-example input shape (H, W, C); throws if it does not fit. */
  computeOutputShape(inputShape: Shape): Shape {
    v.expectRank("Conv2D", inputShape, 3, "images (height, width, channels)");
    const info = this.#info(1, inputShape);
    if (info.outH <= 0 || info.outW <= 0) {
      throw new RangeError(
        `Cannot apply Conv2D "${this.name}" with kernelSize [${this.kernelSize}] to an input of shape [${inputShape}] with padding "${this.padding}": the output would be empty`,
      );
    }
    return [info.outH, info.outW, this.filters];
  }

  /** Kernel [kh, kw, C, filters] (HWIO) and, if `useBias`, bias [filters]. */
  override paramSpecs(inputShape: Shape): ParamSpec[] {
    const inC = inputShape[2]!;
    const specs: ParamSpec[] = [{
      name: "kernel",
      shape: [this.kernelSize[0], this.kernelSize[1], inC, this.filters],
      initializer: getInitializer(this.kernelInitializer, "kernelInitializer", "Conv2D"),
    }];
    if (this.useBias) {
      specs.push({
        name: "bias",
        shape: [this.filters],
        initializer: getInitializer(this.biasInitializer, "biasInitializer", "Conv2D"),
      });
    }
    return specs;
  }

  /** Convolves x of shape (N, H, W, C) to (N, outH, outW, filters) and applies the activation. */
  forward(x: Tensor, ctx: RunContext): Tensor {
    const [kernel, bias] = this.params;
    const info = this.#info(x.shape[0]!, x.shape.slice(1));
    const size = info.batch * info.outH * info.outW * info.outC;
    const y = this.#buffers.get(ctx.backend, "y", size);
    // y is (N, outH, outW, filters)
    // relu is fused into the convolution's store (one pass over y instead of two).
    const relu = this.activation === "relu";
    ctx.backend.conv2dForward(y, x.data, kernel!.value, bias?.value ?? null, info, relu);
    if (!relu) ctx.backend.activationForward(this.activation, y, y, size, info.outC);
    ctx.tape?.save(this, { x, y, info } satisfies Saved);
    return { shape: [info.batch, info.outH, info.outW, info.outC], data: y };
  }

  /**
   * This layer then `pool` in one backend call: the convolution's store does the 2x2 max
   * pooling (and, on a training step, records its argmax), so the full output is never written;
   * bitwise the two layers' result. On a training step the backward is bitwise the two layers'
   * too: `pool` applies the relu's backward to its dy (the pooled value is the relu's output at
   * the argmax), and this layer's backward skips its own. Null when they do not fuse: an
   * activation other than relu or linear, or a pooling other than 2x2 stride 2 `valid`.
   */
  forwardPooled(x: Tensor, ctx: RunContext, pool: MaxPooling2D): Tensor | null {
    if (this.activation !== "relu" && this.activation !== "linear") return null;
    const [kernel, bias] = this.params;
    const info = this.#info(x.shape[0]!, x.shape.slice(1));
    const relu = this.activation === "relu";
    const p = pool.fuse(info.batch, [info.outH, info.outW, info.outC], ctx, relu);
    if (p === null) return null;
    ctx.backend.conv2dForward(
      p.y,
      x.data,
      kernel!.value,
      bias?.value ?? null,
      info,
      relu,
      p.info,
      p.argmax ?? undefined,
    );
    ctx.tape?.save(this, { x, y: null, info } satisfies Saved);
    return { shape: [info.batch, p.info.outH, p.info.outW, p.info.outC], data: p.y };
  }

  /** True: dx can carry the backward of the relu that produced the input (in its store). */
  override get foldsInputRelu(): boolean {
    return true;
  }

  /** True with a relu activation: its backward can be folded into the next layer's dx. */
  override get endsInRelu(): boolean {
    return this.activation === "relu";
  }

  /** Accumulates kernel/bias gradients and returns dx of shape (N, H, W, C), or null when skipped. */
  backward(dy: Tensor, ctx: RunContext, options: BackwardOptions = {}): Tensor | null {
    const { x, y, info } = ctx.tape!.get<Saved>(this);
    const [kernel, bias] = this.params;
    // dz = dy * act'(z), z the pre-activation output (dy already is dz after a fused pooling,
    // or when the next layer folded the relu's backward into its dx)
    let dz = dy.data;
    const pre = options.fromLogits || options.preActivation || y === null;
    if (!pre && this.activation !== "linear") {
      const size = y!.length;
      dz = this.#buffers.get(ctx.backend, "dz", size);
      ctx.backend.activationBackward(this.activation, dz, dy.data, y, size, info.outC);
    }
    ctx.backend.conv2dBackwardKernel(kernel!.grad, bias?.grad ?? null, dz, x.data, info);
    if (options.skipInputGradient) return null;
    const dx = this.#buffers.get(ctx.backend, "dx", x.data.length);
    const reluOf = options.foldInputRelu ? x.data : undefined;
    ctx.backend.conv2dBackwardInput(dx, dz, kernel!.value, info, reluOf);
    return { shape: x.shape, data: dx };
  }

  /** The Keras/TF.js config of this layer. */
  override getConfig(): Record<string, unknown> {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      dataFormat: "channels_last",
      dilationRate: [1, 1],
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
