/**
 * The shared base of `MaxPooling2D` and `AveragePooling2D`: options, shape inference and config.
 * Keras defaults `strides` to `poolSize` and `padding` to `valid`.
 *
 * @module
 */

import { type Conv2DInfo, conv2dInfo, type Padding } from "../engine/conv_info.ts";
import type { Shape } from "../engine/tensor.ts";
import { Layer, type LayerOptions } from "./layer.ts";
import * as v from "./_validate.ts";

/** Pooling options (Keras names, camelCase). */
export interface Pooling2DOptions extends LayerOptions {
  /** Default 2 (i.e. [2, 2]). */
  poolSize?: number | readonly [number, number];
  /** Default: `poolSize`. */
  strides?: number | readonly [number, number] | null;
  /** Default `valid`. */
  padding?: Padding;
}

/** Base class of the 2-D pooling layers. */
export abstract class Pooling2D extends Layer {
  /** Pooling window as [height, width] (default [2, 2]). */
  readonly poolSize: [number, number];
  /** Strides as [height, width] (default: `poolSize`). */
  readonly strides: [number, number];
  /** Padding mode, `valid` or `same` (default `valid`). */
  readonly padding: Padding;

  /** Validates the options; `className` names the subclass in errors and default names. */
  constructor(options: Pooling2DOptions, className: string) {
    super(options, className);
    this.poolSize = v.intPair(className, "poolSize", options.poolSize ?? 2);
    this.strides = options.strides === undefined || options.strides === null
      ? this.poolSize
      : v.intPair(className, "strides", options.strides);
    this.padding = v.padding(className, options.padding ?? "valid");
  }

  /** The shape info of a batch of `batch` inputs. */
  protected info(batch: number, inputShape: Shape): Conv2DInfo {
    return conv2dInfo([batch, ...inputShape], {
      kernelSize: this.poolSize,
      strides: this.strides,
      padding: this.padding,
      outChannels: inputShape[2]!,
    });
  }

  /** Output shape (outH, outW, C) for a per-example input shape (H, W, C); throws if it does not fit. */
  computeOutputShape(inputShape: Shape): Shape {
    v.expectRank(this.className, inputShape, 3, "images (height, width, channels)");
    const info = this.info(1, inputShape);
    if (info.outH <= 0 || info.outW <= 0) {
      throw new RangeError(
        `Cannot apply ${this.className} "${this.name}" with poolSize [${this.poolSize}] to an input of shape [${inputShape}]: the output would be empty`,
      );
    }
    return [info.outH, info.outW, info.outC];
  }

  /** The Keras/TF.js config of this layer. */
  override getConfig(): Record<string, unknown> {
    return {
      ...super.getConfig(),
      poolSize: this.poolSize,
      padding: this.padding,
      strides: this.strides,
      dataFormat: "channels_last",
    };
  }
}
