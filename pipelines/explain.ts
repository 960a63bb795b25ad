/**
 * Convolution arithmetic, explained layer by layer: the output-size formula with the numbers
 * filled in and the parameter count worked out, as the lecture writes them on the board:
 *
 * - `valid`: out = (N - F) / S + 1, e.g. (28 - 3) / 1 + 1 = 26; when S does not divide N - F,
 *   Keras rounds down and the last rows/columns no window reaches are silently dropped, which is
 *   flagged (7x7 input, 3x3 filter, stride 3: (7 - 3) / 3 + 1 = 2.33 -> 2, row and column 6 are
 *   never seen);
 * - `same`: with an odd F and stride 1, P = (F - 1) / 2 pixels of zeros on each side, so
 *   (N + 2P - F) / 1 + 1 = N; in general out = ceil(N / S), the odd padding pixel going after;
 * - parameters: Conv2D (F*F*C_in + 1) * C_out, e.g. (3*3*1 + 1) * 32 = 320; Dense
 *   (inputs + 1) * units, e.g. (1024 + 1) * 64 = 65,600; pooling and Flatten have none.
 *
 * Everything is derived from the layers' own shape inference and parameter specs (never written
 * per model). {@linkcode modelFromSpec} builds a model from a TF.js `model.json` or from a small
 * JSON spec of layers, documented there.
 *
 * @module
 */

import { convOutputLength, type Padding } from "../engine/conv_info.ts";
import { type Shape, sizeOf } from "../engine/tensor.ts";
import { Activation } from "../layers/activation.ts";
import { Conv2D } from "../layers/conv2d.ts";
import { Dense } from "../layers/dense.ts";
import { Dropout } from "../layers/dropout.ts";
import { Flatten } from "../layers/flatten.ts";
import type { Layer } from "../layers/layer.ts";
import { Pooling2D } from "../layers/pooling2d.ts";
import { groupThousands } from "../layers/summary.ts";
import { ModelFormatError, modelFromTopology } from "./load_model.ts";
import type { Sequential } from "./sequential.ts";

/** The arithmetic of one spatial axis of a sliding window (conv or pooling). */
export interface AxisArithmetic {
  /** Which spatial axis this is. */
  readonly axis: "height" | "width";
  /** Input length N, window F, stride S. */
  readonly input: number;
  /** Window length F along this axis (kernel or pool size). */
  readonly window: number;
  /** Stride S along this axis. */
  readonly stride: number;
  /** Keras padding mode, `valid` or `same`. */
  readonly padding: Padding;
  /** Zero rows/columns added before and after (`same` only). */
  readonly padBefore: number;
  /** Zero rows/columns added after the input (`same` only). */
  readonly padAfter: number;
  /** `(N - F) / S + 1` before rounding down (`valid`), or `N / S` before rounding up (`same`). */
  readonly exact: number;
  /** The output length Keras computes. */
  readonly output: number;
  /** The formula with the numbers filled in, e.g. `(28 - 3) / 1 + 1 = 26`. */
  readonly formula: string;
  /** Input indices (0-based) no window ever reaches; empty when the stride fits. */
  readonly dropped: readonly number[];
}

/** A configuration whose windows miss input pixels (Keras drops them without a word). */
export interface StrideWarning {
  /** Name of the layer the warning is about. */
  readonly layer: string;
  /** `height and width` when both axes drop the same indices (one message for both). */
  readonly axis: "height" | "width" | "height and width";
  /** The input indices (0-based) no window reaches. */
  readonly dropped: readonly number[];
  /** The warning in words. */
  readonly message: string;
}

/** One layer of the explanation. */
export interface ExplainRow {
  /** The layer's name. */
  readonly name: string;
  /** The layer's Keras class name, e.g. `Conv2D`. */
  readonly className: string;
  /** e.g. `32 filters 3x3, stride 1, padding valid, relu`. */
  readonly description: string;
  /** Per-example shapes. */
  readonly inputShape: Shape;
  /** Per-example output shape. */
  readonly outputShape: Shape;
  /** Sliding-window arithmetic per axis (empty for layers without a window). */
  readonly axes: readonly AxisArithmetic[];
  /** The output-size reasoning in one line, e.g. `(28 - 3) / 1 + 1 = 26`, `4 * 4 * 64 = 1,024`. */
  readonly outputFormula: string;
  /** Number of parameters of the layer. */
  readonly params: number;
  /** The parameter count worked out, e.g. `(3*3*1 + 1) * 32 = 320`. */
  readonly paramFormula: string;
  /** Windows of this layer that miss input pixels. */
  readonly warnings: readonly StrideWarning[];
}

/** What {@linkcode explainModel} reads of a model: a `Sequential` fits. */
export interface ExplainableModel {
  /** The model's name, if any. */
  readonly name?: string;
  /** The layers, in order. */
  readonly layers: readonly Layer[];
  /** Per-example input shape, e.g. (28, 28, 1). */
  readonly inputShape: Shape;
}

/** `[26, 26, 32]` -> `26 x 26 x 32`. */
export function formatDims(shape: Shape): string {
  return shape.join(" x ");
}

function formatExact(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}

/** Input indices of `[0, inLen)` that no window reaches. */
function uncovered(inLen: number, window: number, stride: number, padBefore: number, out: number) {
  const seen = new Uint8Array(inLen);
  for (let o = 0; o < out; o++) {
    const start = o * stride - padBefore;
    for (let k = Math.max(0, start); k < Math.min(inLen, start + window); k++) seen[k] = 1;
  }
  const dropped: number[] = [];
  seen.forEach((s, i) => s === 0 && dropped.push(i));
  return dropped;
}

/**
 * The sliding-window arithmetic of one axis, with the formula filled in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { axisArithmetic } from "./explain.ts";
 * const a = axisArithmetic(7, { window: 3, stride: 3, padding: "valid" });
 * assert(a.formula === "(7 - 3) / 3 + 1 = 2.33 -> 2" && a.dropped.join() === "6");
 * ```
 */
export function axisArithmetic(
  input: number,
  options: { window: number; stride: number; padding: Padding; axis?: "height" | "width" },
): AxisArithmetic {
  const { window, stride, padding } = options;
  const axis = options.axis ?? "height";
  const { out, padBefore, padAfter } = convOutputLength(input, window, stride, padding);
  let exact: number;
  let formula: string;
  if (padding === "valid") {
    exact = (input - window) / stride + 1;
    formula = `(${input} - ${window}) / ${stride} + 1 = ${formatExact(exact)}`;
    if (!Number.isInteger(exact)) formula += ` -> ${out}`;
  } else if (stride === 1 && window % 2 === 1) {
    exact = input;
    const p = (window - 1) / 2;
    formula = `P = (${window} - 1) / 2 = ${p}; (${input} + 2*${p} - ${window}) / 1 + 1 = ${out}`;
  } else {
    exact = input / stride;
    formula =
      `ceil(${input} / ${stride}) = ${out}; padding (${out} - 1) * ${stride} + ${window} - ${input} = ${
        padBefore + padAfter
      } (${padBefore} before, ${padAfter} after)`;
  }
  const dropped = uncovered(input, window, stride, padBefore, out);
  return {
    axis,
    input,
    window,
    stride,
    padding,
    padBefore,
    padAfter,
    exact,
    output: out,
    formula,
    dropped,
  };
}

/** "row 6", "rows 5-6", "rows 1, 3, 5". */
function describeIndices(indices: readonly number[], noun: string): string {
  if (indices.length === 1) return `${noun} ${indices[0]}`;
  const contiguous = indices.every((d, i) => i === 0 || d === indices[i - 1]! + 1);
  const list = contiguous
    ? `${indices[0]}-${indices.at(-1)}`
    : indices.length > 8
    ? `${indices.slice(0, 8).join(", ")}, ...`
    : indices.join(", ");
  return `${noun}s ${list}`;
}

/**
 * The warning for the pixels an axis drops, or null. `both` says the other axis has the same
 * arithmetic, so one message covers rows and columns.
 */
function strideWarning(layer: string, a: AxisArithmetic, both: boolean): StrideWarning | null {
  if (a.dropped.length === 0) return null;
  const nouns = both ? ["row", "column"] : [a.axis === "height" ? "row" : "column"];
  const axis = both ? "height and width" : a.axis;
  const n = a.dropped.length;
  const atEnd = a.dropped.every((d, i) => d === a.input - n + i);
  const plural = n === 1 && !both ? "is" : "are";
  const which = nouns.map((noun) => describeIndices(a.dropped, noun)).join(" and ");
  let message: string;
  if (atEnd && a.padding === "valid") {
    const kept = a.input - n;
    const coveredNoun = (both ? "row and column" : nouns[0]!).replace(
      /(row|column)/g,
      kept === 1 ? "$1" : "$1s",
    );
    const covered = `${coveredNoun} ${kept === 1 ? "0" : `0-${kept - 1}`}`;
    const border = nouns.map((noun) =>
      `${n === 1 ? "last" : `last ${n}`} ${noun}${n === 1 ? "" : "s"}`
    ).join(" and the ");
    message =
      `stride ${a.stride} does not fit the ${axis}: (${a.input} - ${a.window}) / ${a.stride} + 1 = ${
        formatExact(a.exact)
      } is not a whole number; Keras rounds down to ${a.output}, so the windows cover ${covered} ` +
      `and silently drop the ${border}: ${which} (of 0-${a.input - 1}) ${plural} never seen`;
  } else {
    message =
      `stride ${a.stride} is larger than the window ${a.window} along the ${axis}: ${which} ` +
      `(of 0-${a.input - 1}) fall between windows and ${plural} never seen`;
  }
  return { layer, axis, dropped: a.dropped, message };
}

function activationSuffix(layer: Layer): string {
  const act = (layer as Layer & { activation?: string }).activation;
  return act === undefined || act === "linear" ? "" : `, ${act}`;
}

function describe(layer: Layer): string {
  if (layer instanceof Conv2D) {
    const [kh, kw] = layer.kernelSize;
    const [sh, sw] = layer.strides;
    return `${layer.filters} filter${layer.filters === 1 ? "" : "s"} ${kh}x${kw}, stride ${
      sh === sw ? sh : `${sh}x${sw}`
    }, padding ${layer.padding}${activationSuffix(layer)}`;
  }
  if (layer instanceof Pooling2D) {
    const [ph, pw] = layer.poolSize;
    const [sh, sw] = layer.strides;
    return `pool ${ph}x${pw}, stride ${sh === sw ? sh : `${sh}x${sw}`}, padding ${layer.padding}`;
  }
  if (layer instanceof Dense) return `${layer.units} units${activationSuffix(layer)}`;
  if (layer instanceof Dropout) return `rate ${layer.rate}`;
  if (layer instanceof Activation) return layer.activation;
  if (layer instanceof Flatten) return "flatten to a vector";
  return "";
}

function paramFormula(layer: Layer, inputShape: Shape, params: number): string {
  const total = groupThousands(params);
  if (layer instanceof Conv2D) {
    const [kh, kw] = layer.kernelSize;
    const weights = `${kh}*${kw}*${inputShape[2]}`;
    return layer.useBias
      ? `(${weights} + 1) * ${layer.filters} = ${total}`
      : `${weights} * ${layer.filters} = ${total}`;
  }
  if (layer instanceof Dense) {
    return layer.useBias
      ? `(${inputShape[0]} + 1) * ${layer.units} = ${total}`
      : `${inputShape[0]} * ${layer.units} = ${total}`;
  }
  const specs = layer.paramSpecs(inputShape);
  if (specs.length === 0) return "0 (no weights)";
  return `${specs.map((s) => s.shape.join("*")).join(" + ")} = ${total}`;
}

function windowOf(
  layer: Layer,
): { window: [number, number]; stride: [number, number]; padding: Padding } | null {
  if (layer instanceof Conv2D) {
    return { window: layer.kernelSize, stride: layer.strides, padding: layer.padding };
  }
  if (layer instanceof Pooling2D) {
    return { window: layer.poolSize, stride: layer.strides, padding: layer.padding };
  }
  return null;
}

/**
 * Explains a model layer by layer: output-size arithmetic, parameter counts, and the
 * configurations whose stride drops input pixels.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { explainModel } from "./explain.ts";
 * import { mnistCnn } from "./models.ts";
 * const rows = explainModel(mnistCnn());
 * assert(rows[0]!.paramFormula === "(3*3*1 + 1) * 32 = 320");
 * assert(rows[0]!.outputFormula === "(28 - 3) / 1 + 1 = 26");
 * ```
 */
export function explainModel(model: ExplainableModel): ExplainRow[] {
  let shape = model.inputShape;
  return model.layers.map((layer) => {
    const inputShape = shape;
    const outputShape = layer.computeOutputShape(inputShape);
    shape = outputShape;
    let params = 0;
    for (const s of layer.paramSpecs(inputShape)) params += sizeOf(s.shape);

    const w = windowOf(layer);
    const axes = w === null ? [] : [
      axisArithmetic(inputShape[0]!, {
        axis: "height",
        window: w.window[0],
        stride: w.stride[0],
        padding: w.padding,
      }),
      axisArithmetic(inputShape[1]!, {
        axis: "width",
        window: w.window[1],
        stride: w.stride[1],
        padding: w.padding,
      }),
    ];
    let outputFormula: string;
    if (axes.length === 2) {
      const [h, wd] = axes as [AxisArithmetic, AxisArithmetic];
      outputFormula = h.formula === wd.formula
        ? h.formula
        : `height ${h.formula}; width ${wd.formula}`;
    } else if (layer instanceof Flatten) {
      outputFormula = `${inputShape.join(" * ")} = ${groupThousands(sizeOf(inputShape))}`;
    } else if (layer instanceof Dense) {
      outputFormula = `${groupThousands(inputShape[0]!)} inputs -> ${layer.units} units`;
    } else {
      outputFormula = "same shape as its input";
    }
    const [h, wd] = axes;
    const same = h !== undefined && wd !== undefined && h.input === wd.input &&
      h.window === wd.window && h.stride === wd.stride;
    const warnings = same
      ? [strideWarning(layer.name, h, true)].filter((x) => x !== null)
      : axes.map((a) => strideWarning(layer.name, a, false)).filter((x) => x !== null);
    return {
      name: layer.name,
      className: layer.className,
      description: describe(layer),
      inputShape,
      outputShape,
      axes,
      outputFormula,
      params,
      paramFormula: paramFormula(layer, inputShape, params),
      warnings,
    };
  });
}

/** Word-wraps `text` to `width` columns, the first line indented by `first`, the rest by `rest`. */
function wrapWords(text: string, width: number, first: string, rest: string): string[] {
  const lines: string[] = [];
  let line = first;
  for (const word of text.split(" ")) {
    const indent = lines.length === 0 ? first : rest;
    if (line.length > indent.length && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else line += (line.length > indent.length ? " " : "") + word;
  }
  lines.push(line);
  return lines;
}

/**
 * Every stride warning of an explanation, in layer order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { explainModel, strideWarnings } from "./explain.ts";
 * import { mnistCnn } from "./models.ts";
 * assert(strideWarnings(explainModel(mnistCnn())).length === 0);
 * ```
 */
export function strideWarnings(rows: readonly ExplainRow[]): StrideWarning[] {
  return rows.flatMap((r) => r.warnings);
}

/**
 * The explanation as text lines: a header, then per layer its description, the output-size
 * formula, the parameter formula and any warning, then the total.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { explainModel, formatExplanation } from "./explain.ts";
 * import { mnistDense } from "./models.ts";
 * const text = formatExplanation(explainModel(mnistDense())).join("\n");
 * assert(text.includes("(784 + 1) * 512 = 401,920"));
 * assert(text.includes("Total params: 407,050"));
 * ```
 */
export function formatExplanation(
  rows: readonly ExplainRow[],
  options: { title?: string } = {},
): string[] {
  const lines: string[] = [];
  const input = rows[0]?.inputShape ?? [];
  lines.push(`${options.title ?? "Model"}: input ${formatDims(input)}`);
  lines.push("");
  for (const r of rows) {
    lines.push(`${r.name} (${r.className})${r.description === "" ? "" : `: ${r.description}`}`);
    lines.push(`  output: ${r.outputFormula}  ->  ${formatDims(r.outputShape)}`);
    lines.push(`  params: ${r.paramFormula}`);
    for (const w of r.warnings) lines.push(...wrapWords(`WARNING: ${w.message}`, 96, "  ", "    "));
    lines.push("");
  }
  const total = rows.reduce((n, r) => n + r.params, 0);
  const parts = rows.filter((r) => r.params > 0).map((r) => groupThousands(r.params));
  lines.push(
    `Total params: ${groupThousands(total)}${parts.length > 1 ? ` = ${parts.join(" + ")}` : ""}`,
  );
  const warnings = strideWarnings(rows);
  if (warnings.length > 0) {
    lines.push(`${warnings.length} stride warning${warnings.length === 1 ? "" : "s"}`);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Models from JSON

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Builds a `Sequential` (with freshly initialised weights: this reads the topology only) from
 * JSON, either
 *
 * - a TF.js Layers `model.json` (what `saveModel` and the tensorflowjs converter write), read by
 *   `modelFromTopology` of `load_model.ts`; or
 * - a small spec of layers, for trying a configuration without writing code:
 *
 * ```json
 * { "name": "stride3",
 *   "inputShape": [7, 7, 1],
 *   "layers": [
 *     { "class": "Conv2D", "filters": 1, "kernelSize": 3, "strides": 3 },
 *     { "class": "Flatten" },
 *     { "class": "Dense", "units": 10, "activation": "softmax" } ] }
 * ```
 *
 *   Each layer names its Keras class in `class` (or `className`, `class_name`, `type`) next to
 *   the options of the layer constructors in `mod.ts`, camelCase (`kernelSize`) or Keras's
 *   snake_case (`kernel_size`); Keras's `{class_name, config}` entries work too. `inputShape` is
 *   `[height, width, channels]` (`[features]` for a Dense first layer), given at the top or on
 *   the first layer. Classes: Conv2D, MaxPooling2D, AveragePooling2D, Flatten, Dense, Dropout,
 *   Activation (and a leading InputLayer).
 *
 * @param json The parsed JSON.
 * @param file The file it came from, for error messages.
 * @throws {ModelFormatError} naming the file when the JSON is neither, or a layer is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modelFromSpec } from "./explain.ts";
 * const model = modelFromSpec({
 *   inputShape: [7, 7, 1],
 *   layers: [{ class: "Conv2D", filters: 1, kernel_size: 3, strides: 3 }],
 * });
 * assert(model.outputShape.join() === "2,2,1");
 * ```
 */
export function modelFromSpec(json: unknown, file = "spec.json"): Sequential {
  if (isObject(json) && json.modelTopology !== undefined) {
    return modelFromTopology(json.modelTopology, file);
  }
  if (!isObject(json) || !Array.isArray(json.layers) || json.layers.length === 0) {
    throw new ModelFormatError(
      file,
      'a TF.js model.json or a spec {"inputShape": [...], "layers": [{"class": "Conv2D", ...}]}',
      JSON.stringify(json)?.slice(0, 120) ?? String(json),
    );
  }
  const inputShape = json.inputShape ?? json.input_shape;
  const layers = json.layers.map((entry: unknown, i: number) => {
    if (!isObject(entry)) {
      throw new ModelFormatError(file, `layer ${i} to be an object`, JSON.stringify(entry));
    }
    if (isObject(entry.config)) return entry; // already {class_name, config}
    const { class: c1, className: c2, class_name: c3, type: c4, ...config } = entry;
    const className = c1 ?? c2 ?? c3 ?? c4;
    if (i === 0 && Array.isArray(inputShape) && config.inputShape === undefined) {
      config.inputShape = inputShape;
    }
    return { class_name: className, config };
  });
  const name = typeof json.name === "string" ? json.name : undefined;
  return modelFromTopology(
    { class_name: "Sequential", config: { ...(name === undefined ? {} : { name }), layers } },
    file,
  );
}
