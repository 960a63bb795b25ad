/**
 * Saving a model in the TF.js Layers format: `model.json` (the Keras `Sequential` topology as
 * TF.js writes it, with snake_case config keys, and a weights manifest) plus one binary weights
 * file of little-endian float32 values in manifest order. Files are written atomically, the
 * weights before `model.json`, so `model.json` never names weights that are not fully on disk.
 *
 * @module
 */

import { join } from "node:path";
import type { Layer } from "../layers/layer.ts";
import { writeFileAtomic, writeTextFileAtomic } from "./atomic_write.ts";
import type { Sequential } from "./sequential.ts";

/** The name of the weights file written next to `model.json`. */
export const WEIGHTS_FILE = "group1-shard1of1.bin";

/** camelCase -> snake_case for config keys, as TF.js's `convertTsToPythonic`. */
function toSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

/** Converts a TF.js-style config (camelCase keys) to its serialized form (snake_case keys). */
export function pythonicConfig(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pythonicConfig);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[toSnake(k)] = pythonicConfig(v);
    return out;
  }
  return value;
}

/** The layer's serialized `{class_name, config}`. */
export function layerTopology(layer: Layer): { class_name: string; config: unknown } {
  return { class_name: layer.className, config: pythonicConfig(layer.getConfig()) };
}

/** The whole `model.json` object of a model (weights manifest included). */
export function modelJson(model: Sequential): Record<string, unknown> {
  const weights = model.namedParams().map(({ name, param }) => ({
    name,
    shape: [...param.shape],
    dtype: "float32",
  }));
  return {
    format: "layers-model",
    generatedBy: "deno-cnn",
    convertedBy: null,
    modelTopology: {
      class_name: "Sequential",
      config: { name: model.name, layers: model.layers.map(layerTopology) },
      keras_version: "tfjs-layers 4.22.0",
      backend: "tensor_flow.js",
    },
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights }],
  };
}

/** The weights as one little-endian float32 byte array, in manifest order. */
export function weightBytes(model: Sequential): Uint8Array {
  const values = model.store.values;
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

/** Saves the model to `dir` (created if missing) in the TF.js Layers format. */
export async function saveModel(model: Sequential, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, WEIGHTS_FILE), weightBytes(model));
  await writeTextFileAtomic(join(dir, "model.json"), JSON.stringify(modelJson(model), null, 2));
}
