/**
 * What a trained network sees: the first conv layer's learned filters, and every conv layer's
 * activation maps for one input image, as pictures. The forward pass is the model's own layers
 * run one by one in inference mode (no tape), each output copied as it goes, since layers reuse
 * their output buffers.
 *
 * Maps come out of the NHWC tensors channel by channel (`[1, H, W, C]` -> C maps of H x W, top
 * row first) and kernels out of the HWIO layout (`[kH, kW, inC, outC]` -> outC maps of kH x kW),
 * so the pictures keep the image's orientation.
 *
 * @module
 */

import { join } from "node:path";
import type { Tensor } from "../engine/tensor.ts";
import { Conv2D } from "../layers/conv2d.ts";
import type { Layer } from "../layers/layer.ts";
import { type GridCell, imageGrid, labelledMap, type MapView } from "./image_grid.ts";
import { type RgbImage, writePng } from "./png_encode.ts";
import type { Sequential } from "./sequential.ts";

/** A map whose values are a Float32Array (what the splitting functions return). */
export interface FloatMap extends MapView {
  readonly values: Float32Array;
}

/** One layer's output for one input. */
export interface LayerOutput {
  /** The layer that produced the output. */
  readonly layer: Layer;
  /** Index of the layer in the model. */
  readonly index: number;
  /** The output, copied: `[1, ...outputShape]`. */
  readonly output: Tensor;
}

/**
 * Runs one example through the model layer by layer (inference: dropout off) and returns every
 * layer's output. `x` is one example, `[1, ...model.inputShape]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { layerOutputs } from "./activation_maps.ts";
 * import { mnistCnn } from "./models.ts";
 * const outputs = layerOutputs(mnistCnn(), { shape: [1, 28, 28, 1], data: new Float32Array(784) });
 * assert(outputs[0]!.output.shape.join() === "1,26,26,32");
 * ```
 */
export function layerOutputs(model: Sequential, x: Tensor): LayerOutput[] {
  const expected = [1, ...model.inputShape];
  if (x.shape.join() !== expected.join()) {
    throw new TypeError(
      `Cannot run "${model.name}" on an input of shape [${x.shape}]: expected [${expected}]`,
    );
  }
  model.build();
  const ctx = { backend: model.backend, training: false, tape: null, random: model.random };
  let current: Tensor = x;
  return model.layers.map((layer, index) => {
    current = layer.forward(current, ctx);
    return { layer, index, output: { shape: [...current.shape], data: current.data.slice() } };
  });
}

/**
 * The outputs of the model's Conv2D layers only; throws a `TypeError` if it has none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { convActivations } from "./activation_maps.ts";
 * import { mnistCnn } from "./models.ts";
 * const acts = convActivations(mnistCnn(), { shape: [1, 28, 28, 1], data: new Float32Array(784) });
 * assert(acts.map((a) => a.output.shape[3]).join() === "32,32,64,64");
 * ```
 */
export function convActivations(model: Sequential, x: Tensor): LayerOutput[] {
  const outputs = layerOutputs(model, x).filter((o) => o.layer instanceof Conv2D);
  if (outputs.length === 0) {
    throw new TypeError(`Cannot show activation maps of "${model.name}": it has no Conv2D layer`);
  }
  return outputs;
}

/**
 * The channels of one example of an NHWC tensor as separate maps: `[N, H, W, C]` -> C maps of
 * H x W.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channelMaps } from "./activation_maps.ts";
 * // 1 x 1 x 2 pixels, 3 channels: pixel (0, 1) of channel 2 is 5
 * const maps = channelMaps({ shape: [1, 1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) });
 * assert(maps.length === 3 && maps[2]!.values[1] === 5);
 * ```
 */
export function channelMaps(t: Tensor, example = 0): FloatMap[] {
  if (t.shape.length !== 4) {
    throw new TypeError(`Cannot split a tensor of shape [${t.shape}] into maps: expected NHWC`);
  }
  const [, h, w, c] = t.shape as [number, number, number, number];
  const offset = example * h * w * c;
  return Array.from({ length: c }, (_, ch) => {
    const values = new Float32Array(h * w);
    for (let p = 0; p < h * w; p++) values[p] = t.data[offset + p * c + ch]!;
    return { rows: h, cols: w, values };
  });
}

/**
 * A conv layer's filters as maps: the HWIO kernel `[kH, kW, inC, outC]` -> outC maps of kH x kW,
 * each the mean over the input channels (for the first layer of an MNIST network, inC is 1 and
 * the map is the filter itself).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernelMaps } from "./activation_maps.ts";
 * import { mnistCnn } from "./models.ts";
 * const model = mnistCnn();
 * const maps = kernelMaps(model.store.layers[0]!.params[0]!);
 * assert(maps.length === 32 && maps[0]!.rows === 3);
 * ```
 */
export function kernelMaps(kernel: { shape: readonly number[]; value: Float32Array }): FloatMap[] {
  if (kernel.shape.length !== 4) {
    throw new TypeError(
      `Cannot read filters from a kernel of shape [${kernel.shape}]: expected HWIO`,
    );
  }
  const [kh, kw, inC, outC] = kernel.shape as [number, number, number, number];
  return Array.from({ length: outC }, (_, co) => {
    const values = new Float32Array(kh * kw);
    for (let p = 0; p < kh * kw; p++) {
      let s = 0;
      for (let ci = 0; ci < inC; ci++) s += kernel.value[(p * inC + ci) * outC + co]!;
      values[p] = s / inC;
    }
    return { rows: kh, cols: kw, values };
  });
}

/** The first Conv2D layer and its kernel; throws if the model has none. */
function firstConv(
  model: Sequential,
): { layer: Conv2D; kernel: { shape: readonly number[]; value: Float32Array } } {
  const entry = model.store.layers.find((l) => l.layer instanceof Conv2D);
  if (entry === undefined) {
    throw new TypeError(`Cannot show the filters of "${model.name}": it has no Conv2D layer`);
  }
  return { layer: entry.layer as Conv2D, kernel: entry.params[0]! };
}

/**
 * The first conv layer's learned filters as a grid (32 filters: 4 rows of 8), each min-max scaled
 * on its own (black its most negative weight, white its most positive).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { filterGridImage } from "./activation_maps.ts";
 * import { mnistCnn } from "./models.ts";
 * assert(filterGridImage(mnistCnn()).width === 826);
 * ```
 */
export function filterGridImage(model: Sequential): RgbImage {
  const { layer, kernel } = firstConv(model);
  const maps = kernelMaps(kernel);
  const [kh, kw, inC] = kernel.shape as [number, number, number];
  const cells: GridCell[] = maps.map((m, i) => ({ ...m, label: String(i) }));
  return imageGrid(cells, {
    title: [
      `${layer.name}: ${maps.length} learned filters ${kh}x${kw}${
        inC > 1 ? ` (mean of ${inC} channels)` : ""
      }`,
      "each min-max scaled: black = lowest weight, white = highest",
    ],
  });
}

/** One example's identity, for legends. */
export interface ExampleInfo {
  /** The image as a map (values as the network sees them). */
  readonly image: MapView;
  /** The true class (digit). */
  readonly label: number;
  /** Its index in the test split. */
  readonly index: number;
}

/**
 * A conv layer's activation maps for one example as a grid (32 maps: 4x8, 64 maps: 8x8), the
 * example's picture and label in the legend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { activationGridImage, convActivations } from "./activation_maps.ts";
 * import { mnistCnn } from "./models.ts";
 * const image = { rows: 28, cols: 28, values: new Float32Array(784) };
 * const [first] = convActivations(mnistCnn(), { shape: [1, 28, 28, 1], data: image.values });
 * const grid = activationGridImage(first!, { image, label: 7, index: 0 });
 * assert(grid.width === 826);
 * ```
 */
export function activationGridImage(output: LayerOutput, example: ExampleInfo): RgbImage {
  const maps = channelMaps(output.output);
  const [, h, w] = output.output.shape;
  const cells: GridCell[] = maps.map((m, i) => ({ ...m, label: String(i) }));
  return imageGrid(cells, {
    header: example.image,
    title: [
      `${output.layer.name} (${output.layer.className}): ${maps.length} maps ${h}x${w}`,
      `test digit #${example.index}, label ${example.label}`,
      "each map min-max scaled: black = lowest, white = highest",
    ],
  });
}

/**
 * Writes the pictures of what the model sees into `dir`: `input.png` (the digit), `filters.png`
 * (the first conv layer's filters) and `activations_<layer>.png` per conv layer. Returns the
 * paths written, in that order.
 *
 * @example
 * ```ts ignore
 * import { writeVisualizations } from "./activation_maps.ts";
 * import { loadModel } from "./load_model.ts";
 * const model = await loadModel("models/mnist-cnn");
 * const image = { rows: 28, cols: 28, values: new Float32Array(784) };
 * await writeVisualizations(model, "out/visualize", { image, label: 7, index: 0 });
 * ```
 */
export async function writeVisualizations(
  model: Sequential,
  dir: string,
  example: ExampleInfo,
): Promise<string[]> {
  const written: string[] = [];
  const save = async (name: string, image: RgbImage) => {
    const path = join(dir, name);
    await writePng(path, image);
    written.push(path);
  };
  const { image } = example;
  await save(
    "input.png",
    labelledMap(image, {
      label: [`test #${example.index}`, `label ${example.label}, ${image.rows}x${image.cols}`],
    }),
  );
  await save("filters.png", filterGridImage(model));
  const x: Tensor = { shape: [1, ...model.inputShape], data: Float32Array.from(image.values) };
  for (const output of convActivations(model, x)) {
    await save(`activations_${output.layer.name}.png`, activationGridImage(output, example));
  }
  return written;
}
