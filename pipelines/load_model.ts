/**
 * Loading a model saved in the TF.js Layers format, by `saveModel` or by TF.js itself
 * (`model.save(...)`, or the tensorflowjs converter from Keras), and saving/restoring the
 * optimizer's state beside it so training can resume.
 *
 * What is read:
 *
 * - `model.json`: `modelTopology` is a Keras `Sequential` (`{class_name, config: {name, layers}}`,
 *   also nested under `model_config` as Keras-converted files have it, or with `config` being the
 *   bare list of layers as old Keras wrote it). Layers: an optional leading `InputLayer`, then
 *   `Conv2D`, `MaxPooling2D`, `AveragePooling2D`, `Flatten`, `Dense`, `Activation`, `Dropout`,
 *   with their snake_case configs (camelCase keys are accepted too). Initializers are kept when
 *   they are ones this engine knows; weights overwrite them anyway.
 * - `weightsManifest`: groups of `{paths, weights: [{name, shape, dtype, quantization?}]}`; each
 *   group's files are concatenated and its weights read in order. `float32` and `int32` weights
 *   are read as they are; `uint8`/`uint16` affine-quantized and `float16` weights are dequantized.
 *   Weights are matched to layers by name (`conv2d/kernel`) when every name matches, otherwise
 *   by manifest order per layer (TF.js may name them `conv2d_Conv2D1/kernel`), each shape
 *   checked.
 *
 * Every malformed input raises a {@linkcode ModelFormatError} naming the file, what was expected
 * and what was found.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadModel } from "./load_model.ts";
 * import { saveModel } from "./save_model.ts";
 * import { mnistDense } from "./models.ts";
 * const dir = await Deno.makeTempDir();
 * await saveModel(mnistDense({ seed: 1 }), dir);
 * const model = await loadModel(dir);
 * assert(model.countParams() === 407050);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { basename, dirname, isAbsolute, join, normalize, relative } from "node:path";
import type { Backend } from "../engine/backend.ts";
import { type Shape, sizeOf } from "../engine/tensor.ts";
import { ACTIVATION_NAMES, type ActivationName } from "../engine/kernels/activations.ts";
import { Activation } from "../layers/activation.ts";
import { AveragePooling2D } from "../layers/average_pooling2d.ts";
import { Conv2D } from "../layers/conv2d.ts";
import { Dense } from "../layers/dense.ts";
import { Dropout } from "../layers/dropout.ts";
import { Flatten } from "../layers/flatten.ts";
import { INITIALIZERS } from "../layers/initializers.ts";
import type { Layer } from "../layers/layer.ts";
import { MaxPooling2D } from "../layers/max_pooling2d.ts";
import { Adam, type Optimizer, RMSprop, SGD } from "../layers/optimizers.ts";
import { writeFileAtomic, writeTextFileAtomic } from "./atomic_write.ts";
import { IdxFormatError } from "./idx.ts";
import { pythonicConfig } from "./save_model.ts";
import { Sequential } from "./sequential.ts";

/**
 * A saved model (or optimizer state) is not what it should be: `file` is the file to blame,
 * `expected` and `found` say what was wrong. A subclass of {@linkcode IdxFormatError}, the
 * documented error type of every parser in `pipelines/`. The message reads
 * `FILE: expected EXPECTED, found FOUND`, or starts with a headline such as
 * `Unknown layer class "LSTM" in FILE`.
 */
export class ModelFormatError extends IdxFormatError {
  /** What a valid file would hold there. */
  readonly expected: string;
  /** What the file holds instead. */
  readonly found: string;

  /**
   * Creates the error; the message reads `FILE: expected EXPECTED, found FOUND`, or starts with `headline` when given.
   *
   * @param file The file to blame.
   * @param expected What a valid file would hold.
   * @param found What the file holds instead.
   * @param options `headline` replaces the leading `FILE` of the message; plus `cause`.
   */
  constructor(
    file: string,
    expected: string,
    found: string,
    options: ErrorOptions & { headline?: string } = {},
  ) {
    super(file, `expected ${expected}, found ${found}`, options);
    this.name = "ModelFormatError";
    this.expected = expected;
    this.found = found;
    if (options.headline !== undefined) {
      this.message = `${options.headline}: expected ${expected}, found ${found}`;
    }
  }
}

/** Options of {@linkcode loadModel}. */
export interface LoadModelOptions {
  /** The backend the model runs on (default: the single-thread TypeScript backend). */
  backend?: Backend;
  /** Seed of the model's generator (dropout while training, shuffling). Default 0. */
  seed?: number;
}

/** The layer classes {@linkcode loadModel} understands (and the aliases Keras accepts). */
export const LAYER_CLASSES: readonly string[] = [
  "InputLayer",
  "Conv2D",
  "MaxPooling2D",
  "AveragePooling2D",
  "Flatten",
  "Dense",
  "Activation",
  "Dropout",
];

const CLASS_ALIASES: Record<string, string> = {
  Convolution2D: "Conv2D",
  MaxPool2D: "MaxPooling2D",
  AvgPool2D: "AveragePooling2D",
  AveragePool2D: "AveragePooling2D",
};

// deno-lint-ignore no-explicit-any
type Json = any;

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "number") return String(value);
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

function isObject(v: unknown): v is Record<string, Json> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** camelCase twin of a snake_case key. */
function camel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A config value by its snake_case key, or its camelCase twin. */
function get(config: Record<string, Json>, key: string): Json {
  return key in config ? config[key] : config[camel(key)];
}

/** The `Sequential` topology inside `modelTopology`, in its several spellings. */
function sequentialTopology(
  topology: unknown,
  file: string,
): { name: string | undefined; layers: Json[] } {
  if (!isObject(topology)) {
    throw new ModelFormatError(file, "modelTopology to be an object", show(topology));
  }
  const t = isObject(topology.model_config)
    ? topology.model_config
    : isObject(topology.modelConfig)
    ? topology.modelConfig
    : topology;
  const className = t.class_name ?? t.className;
  if (className !== "Sequential") {
    throw new ModelFormatError(
      file,
      'modelTopology.class_name "Sequential" (only Sequential models load)',
      show(className),
    );
  }
  const config = t.config;
  if (Array.isArray(config)) return { name: undefined, layers: config };
  if (!isObject(config) || !Array.isArray(config.layers)) {
    throw new ModelFormatError(file, "modelTopology.config.layers to be a list", show(config));
  }
  return { name: typeof config.name === "string" ? config.name : undefined, layers: config.layers };
}

/** Per-example input shape from a `batch_input_shape` / `batch_shape` like `[null, 28, 28, 1]`. */
function inputShapeOf(config: Record<string, Json>, where: string, file: string): Shape | null {
  let shape = get(config, "batch_input_shape") ?? get(config, "batch_shape");
  if (shape !== undefined && shape !== null) {
    if (!Array.isArray(shape) || shape.length < 2) {
      throw new ModelFormatError(
        file,
        `${where} batch_input_shape to be [null, ...dimensions]`,
        show(shape),
      );
    }
    shape = shape.slice(1);
  } else {
    const inputShape = get(config, "input_shape");
    const inputDim = get(config, "input_dim");
    if (Array.isArray(inputShape)) shape = inputShape;
    else if (typeof inputDim === "number") shape = [inputDim];
    else return null;
  }
  if (!shape.every((d: unknown) => typeof d === "number" && Number.isInteger(d) && d > 0)) {
    throw new ModelFormatError(
      file,
      `${where} input shape of positive integers (fixed sizes)`,
      show(shape),
    );
  }
  return shape as number[];
}

/** An activation name from a config, refused by name when this engine lacks it. */
function activationOf(config: Record<string, Json>, where: string, file: string): ActivationName {
  let a = get(config, "activation");
  if (isObject(a)) a = a.class_name ?? a.className ?? a.config?.name; // Keras 3 serialized form
  if (a === undefined || a === null) return "linear";
  const name = typeof a === "string" ? a.toLowerCase() : a;
  if (!ACTIVATION_NAMES.includes(name as ActivationName)) {
    throw new ModelFormatError(
      file,
      `${where} activation to be one of ${ACTIVATION_NAMES.join(", ")}`,
      `unsupported activation ${show(a)}`,
    );
  }
  return name as ActivationName;
}

/** Keras/TF.js initializer config -> a name this engine knows (undefined: use the default). */
function initializerOf(value: unknown): string | undefined {
  if (!isObject(value)) {
    return typeof value === "string" && value in INITIALIZERS ? value : undefined;
  }
  const cls = value.class_name ?? value.className;
  const cfg = isObject(value.config) ? value.config : {};
  const simple: Record<string, string> = {
    Zeros: "zeros",
    Ones: "ones",
    GlorotUniform: "glorot_uniform",
    GlorotNormal: "glorot_normal",
    HeUniform: "he_uniform",
    HeNormal: "he_normal",
  };
  if (typeof cls === "string" && cls in simple) return simple[cls];
  if (cls === "VarianceScaling") {
    const scale = cfg.scale, mode = cfg.mode, dist = cfg.distribution;
    const normal = dist === "normal" || dist === "truncated_normal";
    if (scale === 1 && mode === "fan_avg") return normal ? "glorot_normal" : "glorot_uniform";
    if (scale === 2 && mode === "fan_in") return normal ? "he_normal" : "he_uniform";
  }
  return undefined;
}

function initializerOptions(config: Record<string, Json>) {
  const kernel = initializerOf(get(config, "kernel_initializer"));
  const bias = initializerOf(get(config, "bias_initializer"));
  return {
    ...(kernel === undefined ? {} : { kernelInitializer: kernel }),
    ...(bias === undefined ? {} : { biasInitializer: bias }),
  };
}

function requireValue(
  config: Record<string, Json>,
  key: string,
  expected: string,
  where: string,
  file: string,
  ok: (v: Json) => boolean,
): void {
  const v = get(config, key);
  if (v !== undefined && v !== null && !ok(v)) {
    throw new ModelFormatError(file, `${where} ${key} ${expected}`, show(v));
  }
}

const isOnes = (v: Json) => v === 1 || (Array.isArray(v) && v.every((d: unknown) => d === 1));

/** Builds one layer from its `{class_name, config}`. */
function buildLayer(
  spec: Json,
  index: number,
  file: string,
  first: boolean,
  fallbackInputShape: Shape | null,
): Layer {
  if (!isObject(spec) || !isObject(spec.config)) {
    throw new ModelFormatError(
      file,
      `layer ${index} to be {class_name, config}`,
      show(spec),
    );
  }
  const rawClass = spec.class_name ?? spec.className;
  const cls = CLASS_ALIASES[rawClass] ?? rawClass;
  const config = spec.config as Record<string, Json>;
  const name = typeof config.name === "string" ? config.name : undefined;
  const where = `layer ${index}${name === undefined ? "" : ` "${name}"`} (${rawClass})`;
  if (!LAYER_CLASSES.includes(cls) || cls === "InputLayer") {
    throw new ModelFormatError(
      file,
      `a layer class among ${LAYER_CLASSES.join(", ")}`,
      `"${rawClass}" at ${where}`,
      { headline: `Unknown layer class ${show(rawClass)} in ${file}` },
    );
  }
  requireValue(
    config,
    "data_format",
    'to be "channels_last"',
    where,
    file,
    (v) => v === "channels_last",
  );
  requireValue(
    config,
    "dtype",
    'to be "float32"',
    where,
    file,
    (v) => v === "float32" || (isObject(v) && v.config?.name === "float32"),
  );
  const inputShape = first ? inputShapeOf(config, where, file) ?? fallbackInputShape : null;
  const base = {
    ...(name === undefined ? {} : { name }),
    ...(inputShape === null ? {} : { inputShape }),
    ...(typeof config.trainable === "boolean" ? { trainable: config.trainable } : {}),
  };
  try {
    switch (cls) {
      case "Conv2D":
        requireValue(
          config,
          "dilation_rate",
          "to be 1 (dilated convolutions are not supported)",
          where,
          file,
          isOnes,
        );
        requireValue(
          config,
          "groups",
          "to be 1 (grouped convolutions are not supported)",
          where,
          file,
          isOnes,
        );
        return new Conv2D({
          ...base,
          filters: get(config, "filters"),
          kernelSize: get(config, "kernel_size"),
          strides: get(config, "strides") ?? 1,
          padding: get(config, "padding") ?? "valid",
          activation: activationOf(config, where, file),
          useBias: get(config, "use_bias") ?? true,
          ...initializerOptions(config),
        });
      case "Dense":
        return new Dense({
          ...base,
          units: get(config, "units"),
          activation: activationOf(config, where, file),
          useBias: get(config, "use_bias") ?? true,
          ...initializerOptions(config),
        });
      case "MaxPooling2D":
      case "AveragePooling2D": {
        const options = {
          ...base,
          poolSize: get(config, "pool_size") ?? 2,
          strides: get(config, "strides") ?? null,
          padding: get(config, "padding") ?? "valid",
        };
        return cls === "MaxPooling2D" ? new MaxPooling2D(options) : new AveragePooling2D(options);
      }
      case "Flatten":
        return new Flatten(base);
      case "Activation":
        return new Activation({ ...base, activation: activationOf(config, where, file) });
      default: // Dropout
        return new Dropout({ ...base, rate: get(config, "rate") });
    }
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    throw new ModelFormatError(
      file,
      `a valid config for ${where}`,
      (e as Error).message,
      { cause: e },
    );
  }
}

/** Builds the (unweighted) model from a topology object. */
export function modelFromTopology(
  topology: unknown,
  file = "model.json",
  options: LoadModelOptions = {},
): Sequential {
  const { name, layers: specs } = sequentialTopology(topology, file);
  let inputShape: Shape | null = null;
  let rest = specs;
  const head = specs[0];
  if (isObject(head) && (head.class_name ?? head.className) === "InputLayer") {
    inputShape = inputShapeOf(isObject(head.config) ? head.config : {}, "InputLayer", file);
    if (inputShape === null) {
      throw new ModelFormatError(file, "InputLayer batch_input_shape", "none");
    }
    rest = specs.slice(1);
  }
  if (rest.length === 0) {
    throw new ModelFormatError(file, "at least one layer besides InputLayer", "none");
  }
  const offset = specs.length - rest.length;
  // an InputLayer's shape goes to the first layer, as Keras attaches it
  const layers = rest.map((spec, i) => buildLayer(spec, i + offset, file, i === 0, inputShape));
  if (layers[0]!.declaredInputShape === null) {
    throw new ModelFormatError(
      file,
      "the first layer (or an InputLayer) to declare batch_input_shape",
      `layer "${layers[0]!.name}" without one`,
    );
  }
  const model = new Sequential({
    ...(name === undefined ? {} : { name }),
    ...(options.backend === undefined ? {} : { backend: options.backend }),
    ...(options.seed === undefined ? {} : { seed: options.seed }),
  });
  for (const layer of layers) {
    try {
      model.add(layer);
    } catch (e) {
      throw new ModelFormatError(
        file,
        `layer "${layer.name}" (${layer.className}) to fit the output of the layer before it`,
        (e as Error).message,
        { cause: e },
      );
    }
  }
  return model;
}

/** One manifest entry with its group's bytes located. */
interface WeightEntry {
  name: string;
  shape: number[];
  read: () => Float32Array;
  file: string;
}

const DTYPE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

function float16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f === 0 ? s * Infinity : NaN;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Decodes `count` values of a stored dtype (with optional TF.js quantization) to float32. */
function decodeValues(
  bytes: Uint8Array,
  count: number,
  dtype: string,
  quantization: Json,
): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  const qdtype = isObject(quantization) ? quantization.dtype : undefined;
  if (qdtype === "uint8" || qdtype === "uint16") {
    const scale = Number(quantization.scale ?? 1), min = Number(quantization.min ?? 0);
    for (let i = 0; i < count; i++) {
      const q = qdtype === "uint8" ? view.getUint8(i) : view.getUint16(i * 2, true);
      out[i] = q * scale + min;
    }
  } else if (qdtype === "float16") {
    for (let i = 0; i < count; i++) out[i] = float16(view.getUint16(i * 2, true));
  } else if (dtype === "int32") {
    for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
  } else {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

/** A manifest path, resolved inside the model's directory (no escaping it). */
function weightPath(dir: string, path: unknown, file: string): string {
  if (typeof path !== "string" || path === "") {
    throw new ModelFormatError(file, "weightsManifest paths to be file names", show(path));
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch (e) {
    throw new ModelFormatError(
      file,
      "weightsManifest paths to be URI-encoded file names",
      show(path),
      { cause: e },
    );
  }
  const resolved = normalize(join(dir, decoded));
  const rel = relative(dir, resolved);
  if (isAbsolute(decoded) || rel.startsWith("..") || isAbsolute(rel)) {
    throw new ModelFormatError(
      file,
      "weight file paths inside the model's directory",
      show(path),
    );
  }
  return resolved;
}

async function readWeightEntries(
  dir: string,
  manifest: unknown,
  file: string,
): Promise<{ entries: WeightEntry[]; sizeErrors: ModelFormatError[] }> {
  if (!Array.isArray(manifest)) {
    throw new ModelFormatError(file, "weightsManifest to be a list of groups", show(manifest));
  }
  const entries: WeightEntry[] = [];
  const sizeErrors: ModelFormatError[] = [];
  for (const [g, group] of manifest.entries()) {
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new ModelFormatError(
        file,
        `weightsManifest[${g}] to be {paths, weights}`,
        show(group),
      );
    }
    const paths = group.paths.map((p: unknown) => weightPath(dir, p, file));
    const parts: Uint8Array[] = [];
    for (const p of paths) {
      try {
        parts.push(await Deno.readFile(p));
      } catch (e) {
        throw new ModelFormatError(
          file,
          `the weight file ${basename(p)} it names`,
          `it cannot be read (${(e as Error).message})`,
          { cause: e },
        );
      }
    }
    const total = parts.reduce((n, b) => n + b.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const b of parts) {
      bytes.set(b, at);
      at += b.length;
    }
    const groupFile = paths.length === 1 ? paths[0]! : `${paths[0]} (+${paths.length - 1} shards)`;
    let offset = 0;
    for (const w of group.weights as Json[]) {
      const ok = isObject(w) && typeof w.name === "string" && Array.isArray(w.shape) &&
        w.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0);
      if (!ok) {
        throw new ModelFormatError(file, "weight specs {name, shape, dtype}", show(w));
      }
      const dtype = w.dtype ?? "float32";
      const stored = isObject(w.quantization) ? w.quantization.dtype : dtype;
      const width = DTYPE_BYTES[stored];
      if (width === undefined || (dtype !== "float32" && dtype !== "int32")) {
        throw new ModelFormatError(
          file,
          `weight "${w.name}" of dtype float32 or int32 (optionally uint8/uint16/float16-quantized)`,
          `dtype ${show(dtype)}${stored === dtype ? "" : ` stored as ${show(stored)}`}`,
        );
      }
      const count = sizeOf(w.shape);
      const start = offset;
      offset += count * width;
      const slice = bytes.subarray(start, Math.min(offset, bytes.length));
      const quantization = w.quantization;
      entries.push({
        name: w.name,
        shape: w.shape,
        file: groupFile,
        read: () => decodeValues(slice, count, dtype, quantization),
      });
    }
    if (offset !== total) {
      sizeErrors.push(
        new ModelFormatError(
          groupFile,
          `${offset} bytes of weights (as ${file} lists them)`,
          `${total} bytes${total < offset ? " (truncated)" : ""}`,
        ),
      );
    }
  }
  return { entries, sizeErrors };
}

/** The param's name as TF.js may suffix it: `kernel_1` or `kernel:0` -> `kernel`. */
function shortName(weightName: string): string {
  const last = weightName.slice(weightName.lastIndexOf("/") + 1);
  return last.replace(/:\d+$/, "").replace(/_\d+$/, "");
}

/** Copies the manifest's weights into the built model, by name or by order (see the module doc). */
function assignWeights(
  model: Sequential,
  entries: WeightEntry[],
  file: string,
  sizeErrors: ModelFormatError[],
): void {
  // the parameters the topology asks for, from shapes alone: nothing is allocated before the
  // manifest and the weight files' sizes are known to match them
  const params: { full: string; param: { name: string; shape: Shape } }[] = [];
  let shape = model.inputShape;
  for (const layer of model.layers) {
    for (const s of layer.paramSpecs(shape)) {
      params.push({ full: `${layer.name}/${s.name}`, param: { name: s.name, shape: s.shape } });
    }
    shape = layer.computeOutputShape(shape);
  }
  const byName = new Map(entries.map((e) => [e.name, e]));
  const namesMatch = byName.size === entries.length && entries.length === params.length &&
    params.every((p) => byName.has(p.full));
  const list = (ps: typeof params) => ps.map((p) => `${p.full} [${p.param.shape}]`).join(", ");
  if (entries.length !== params.length) {
    // say which by name when the manifest uses our names, else by position
    const fullNames = new Set(params.map((p) => p.full));
    const named = params.some((p) => byName.has(p.full));
    const missing = named
      ? params.filter((p) => !byName.has(p.full))
      : params.slice(entries.length);
    const extra = named
      ? entries.filter((e) => !fullNames.has(e.name))
      : entries.slice(params.length);
    throw new ModelFormatError(
      file,
      `${params.length} weights (${list(params)})`,
      `${entries.length} in weightsManifest` +
        (missing.length > 0 ? `; missing: ${list(missing)}` : "") +
        (extra.length > 0
          ? `; extra: ${extra.map((e) => `${e.name} [${e.shape}]`).join(", ")}`
          : ""),
    );
  }
  const plan = params.map(({ full, param }, i) => {
    const entry = namesMatch ? byName.get(full)! : entries[i]!;
    const shapeOk = entry.shape.length === param.shape.length &&
      entry.shape.every((d, k) => d === param.shape[k]);
    const nameOk = namesMatch || shortName(entry.name) === param.name;
    if (!shapeOk || !nameOk) {
      throw new ModelFormatError(
        file,
        `weight ${i} to be ${full} of shape [${param.shape}]`,
        `"${entry.name}" of shape [${entry.shape}]`,
      );
    }
    return entry;
  });
  if (sizeErrors.length > 0) throw sizeErrors[0];
  const built = model.store.layers.flatMap((l) => l.params);
  plan.forEach((entry, i) => built[i]!.value.set(entry.read()));
}

/** Reads and parses a JSON file, with errors naming it. */
async function readJson(path: string): Promise<Json> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ModelFormatError(path, "a model file", "no such file", { cause: e });
    }
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFormatError(path, "valid JSON", (e as Error).message, { cause: e });
  }
}

/**
 * Loads a model saved in the TF.js Layers format from `dir` (or from a `model.json` path), with
 * its weights.
 *
 * @param dir The model's directory, holding `model.json` and the weight files it names.
 * @param options Backend and seed of the new model.
 * @throws {ModelFormatError} when a file is missing, malformed, or describes what this engine
 *   cannot run (an unknown layer class, an unsupported activation, a weight of the wrong shape).
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<Sequential> {
  const file = dir.endsWith(".json") ? dir : join(dir, "model.json");
  const json = await readJson(file);
  if (!isObject(json)) throw new ModelFormatError(file, "a JSON object", show(json));
  if (json.format !== undefined && json.format !== "layers-model") {
    throw new ModelFormatError(file, 'format "layers-model"', show(json.format));
  }
  if (json.modelTopology === undefined) {
    throw new ModelFormatError(file, "a modelTopology", "none");
  }
  const model = modelFromTopology(json.modelTopology, file, options);
  const { entries, sizeErrors } = await readWeightEntries(
    dirname(file),
    json.weightsManifest ?? [],
    file,
  );
  // the manifest is checked against the model first: a missing weight says more than a size
  assignWeights(model, entries, file, sizeErrors);
  return model;
}

// ---------------------------------------------------------------------------------------------
// Optimizer state

/** The optimizer state files, written beside `model.json`. */
export const OPTIMIZER_JSON = "optimizer.json";
/** The optimizer slots, little-endian float32 in the order `optimizer.json` lists them. */
export const OPTIMIZER_BIN = "optimizer.bin";

const CLASS_OF: Record<string, string> = { sgd: "SGD", rmsprop: "RMSprop", adam: "Adam" };

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Saves the compiled optimizer's state (iteration count and slot variables) and config to
 * `optimizer.json` + `optimizer.bin` in `dir`, atomically, the binary first. The JSON records
 * the binary's SHA-256, so a crash between the two writes is detected on load.
 *
 * @example
 * ```ts
 * import { loadOptimizerState, saveOptimizerState } from "./load_model.ts";
 * import { mnistDense } from "./models.ts";
 * const model = mnistDense({ seed: 1 });
 * model.compile({ optimizer: "adam", loss: "categorical_crossentropy" });
 * const dir = await Deno.makeTempDir();
 * await saveOptimizerState(model, dir);
 * await loadOptimizerState(model, dir);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveOptimizerState(model: Sequential, dir: string): Promise<void> {
  const optimizer = model.optimizer;
  const size = model.store.values.length;
  const state = optimizer.getState();
  const names = Object.keys(state.slots).sort();
  const bytes = new Uint8Array(names.length * size * 4);
  const view = new DataView(bytes.buffer);
  names.forEach((n, k) => {
    const slot = state.slots[n]!;
    if (slot.length !== size) {
      throw new RangeError(
        `Cannot save optimizer slot "${n}": it holds ${slot.length} values, the model ${size} parameters`,
      );
    }
    for (let i = 0; i < size; i++) view.setFloat32((k * size + i) * 4, slot[i]!, true);
  });
  const json = {
    format: "deno-cnn-optimizer",
    version: 1,
    class_name: CLASS_OF[optimizer.name] ?? optimizer.name,
    config: pythonicConfig(optimizer.getConfig()),
    iterations: state.iterations,
    param_count: size,
    weights_file: OPTIMIZER_BIN,
    weights_sha256: await sha256(bytes),
    slots: names.map((name) => ({ name, shape: [size], dtype: "float32" })),
  };
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, OPTIMIZER_BIN), bytes);
  await writeTextFileAtomic(join(dir, OPTIMIZER_JSON), JSON.stringify(json, null, 2));
}

interface SavedOptimizer {
  className: string;
  config: Record<string, Json>;
  iterations: number;
  paramCount: number;
  slots: Record<string, Float32Array>;
}

async function readOptimizerFiles(dir: string): Promise<SavedOptimizer> {
  const file = join(dir, OPTIMIZER_JSON);
  const json = await readJson(file);
  if (!isObject(json) || json.format !== "deno-cnn-optimizer") {
    throw new ModelFormatError(
      file,
      'format "deno-cnn-optimizer"',
      show(isObject(json) ? json.format : json),
    );
  }
  const { class_name: className, iterations, param_count: paramCount, slots } = json;
  if (typeof className !== "string") {
    throw new ModelFormatError(file, "class_name to be a string", show(className));
  }
  if (!Number.isInteger(iterations) || iterations < 0) {
    throw new ModelFormatError(file, "iterations to be a non-negative integer", show(iterations));
  }
  if (!Number.isInteger(paramCount) || paramCount < 0) {
    throw new ModelFormatError(file, "param_count to be a non-negative integer", show(paramCount));
  }
  if (!Array.isArray(slots) || !slots.every((s) => isObject(s) && typeof s.name === "string")) {
    throw new ModelFormatError(file, "slots to be a list of {name, shape, dtype}", show(slots));
  }
  const binFile = join(dir, OPTIMIZER_BIN);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(binFile);
  } catch (e) {
    throw new ModelFormatError(binFile, "the optimizer slots", (e as Error).message, { cause: e });
  }
  const want = slots.length * paramCount * 4;
  if (bytes.length !== want) {
    throw new ModelFormatError(
      binFile,
      `${want} bytes (${slots.length} slots of ${paramCount} float32 values)`,
      `${bytes.length} bytes`,
    );
  }
  if (typeof json.weights_sha256 === "string" && json.weights_sha256 !== await sha256(bytes)) {
    throw new ModelFormatError(
      binFile,
      `the SHA-256 ${json.weights_sha256} recorded in ${OPTIMIZER_JSON}`,
      "different bytes (the two files come from different saves)",
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, Float32Array> = {};
  slots.forEach((s: Json, k: number) => {
    const a = new Float32Array(paramCount);
    for (let i = 0; i < paramCount; i++) a[i] = view.getFloat32((k * paramCount + i) * 4, true);
    out[s.name] = a;
  });
  const config = isObject(json.config) ? json.config : {};
  return { className, config, iterations, paramCount, slots: out };
}

/**
 * Restores the state saved by {@linkcode saveOptimizerState} into the model's compiled optimizer
 * (which must be of the same class). The optimizer's config (e.g. its learning rate) stays as
 * compiled; use {@linkcode loadOptimizer} to restore that too.
 *
 * @throws {ModelFormatError} if the files are missing or malformed, were saved for another
 *   optimizer class or another number of parameters.
 */
export async function loadOptimizerState(model: Sequential, dir: string): Promise<void> {
  const optimizer = model.optimizer;
  const saved = await readOptimizerFiles(dir);
  const file = join(dir, OPTIMIZER_JSON);
  const want = CLASS_OF[optimizer.name] ?? optimizer.name;
  if (saved.className.toLowerCase() !== want.toLowerCase()) {
    throw new ModelFormatError(file, `state of a ${want} optimizer`, `state of ${saved.className}`);
  }
  const size = model.store.values.length;
  if (saved.paramCount !== size) {
    throw new ModelFormatError(
      file,
      `param_count ${size} (the model's parameters)`,
      `${saved.paramCount}`,
    );
  }
  optimizer.setState({ iterations: saved.iterations, slots: saved.slots });
}

/**
 * A new optimizer built from `optimizer.json`'s class and config, with the saved state: compile
 * a loaded model with it to resume training exactly where it stopped.
 *
 * @example
 * ```ts ignore
 * const model = await loadModel(dir);
 * model.compile({ optimizer: await loadOptimizer(dir), loss: "categorical_crossentropy" });
 * ```
 */
export async function loadOptimizer(dir: string): Promise<Optimizer> {
  const saved = await readOptimizerFiles(dir);
  const c = saved.config;
  const num = (key: string) => {
    const v = get(c, key);
    return typeof v === "number" ? v : undefined;
  };
  const pick = (keys: string[]) =>
    Object.fromEntries(
      keys.flatMap((k) => (num(k) === undefined ? [] : [[camel(k), num(k)]])),
    );
  let optimizer: Optimizer;
  switch (saved.className.toLowerCase()) {
    case "sgd":
      optimizer = new SGD({
        ...pick(["learning_rate", "momentum"]),
        ...(typeof get(c, "nesterov") === "boolean" ? { nesterov: get(c, "nesterov") } : {}),
      });
      break;
    case "rmsprop":
      optimizer = new RMSprop(pick(["learning_rate", "rho", "momentum", "epsilon"]));
      break;
    case "adam":
      optimizer = new Adam(pick(["learning_rate", "beta1", "beta2", "epsilon"]));
      break;
    default:
      throw new ModelFormatError(
        join(dir, OPTIMIZER_JSON),
        "class_name SGD, RMSprop or Adam",
        show(saved.className),
      );
  }
  optimizer.setState({ iterations: saved.iterations, slots: saved.slots });
  return optimizer;
}
