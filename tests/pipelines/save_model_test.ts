import assert from "node:assert/strict";
import { join } from "node:path";
import { clearSession } from "../../layers/layer.ts";
import { Dense } from "../../layers/dense.ts";
import { mnistCnn } from "../../pipelines/models.ts";
import { saveModel, WEIGHTS_FILE } from "../../pipelines/save_model.ts";
import { Sequential } from "../../pipelines/sequential.ts";

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "save_model_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function namesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

// deno-lint-ignore no-explicit-any
type Json = any;

const CNN_WEIGHTS: [string, number[]][] = [
  ["conv2d/kernel", [3, 3, 1, 32]],
  ["conv2d/bias", [32]],
  ["conv2d_1/kernel", [3, 3, 32, 32]],
  ["conv2d_1/bias", [32]],
  ["conv2d_2/kernel", [3, 3, 32, 64]],
  ["conv2d_2/bias", [64]],
  ["conv2d_3/kernel", [3, 3, 64, 64]],
  ["conv2d_3/bias", [64]],
  ["dense/kernel", [1024, 64]],
  ["dense/bias", [64]],
  ["dense_1/kernel", [64, 10]],
  ["dense_1/bias", [10]],
];

Deno.test("saveModel of the MNIST CNN writes a TF.js layers-model: Sequential, snake_case configs, batch_input_shape [null, 28, 28, 1]", () =>
  inTempDir(async (dir) => {
    clearSession();
    const model = mnistCnn({ seed: 3 });
    await saveModel(model, dir);
    const json: Json = JSON.parse(await Deno.readTextFile(join(dir, "model.json")));
    assert.equal(json.format, "layers-model");
    assert.equal(json.modelTopology.class_name, "Sequential");
    const layers: Json[] = json.modelTopology.config.layers;
    assert.deepEqual(layers.map((l) => l.class_name), [
      "Conv2D",
      "Conv2D",
      "MaxPooling2D",
      "Conv2D",
      "Conv2D",
      "MaxPooling2D",
      "Flatten",
      "Dense",
      "Dense",
    ]);
    const conv = layers[0].config;
    assert.equal(conv.name, "conv2d");
    assert.deepEqual(conv.batch_input_shape, [null, 28, 28, 1]);
    assert.deepEqual(conv.kernel_size, [3, 3]);
    assert.equal(conv.filters, 32);
    assert.equal(conv.use_bias, true);
    assert.equal(conv.activation, "relu");
    assert.equal(conv.padding, "valid");
    assert.deepEqual(layers[2].config.pool_size, [2, 2]);
    assert.equal(layers[7].config.units, 64);
    assert.equal(layers[8].config.activation, "softmax");
    // only the first layer declares its input
    assert.ok(layers.slice(1).every((l) => !("batch_input_shape" in l.config)));
    // no camelCase key anywhere in the topology
    const keys: string[] = [];
    const walk = (v: Json) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          keys.push(k);
          walk(x);
        }
      }
    };
    walk(json.modelTopology);
    assert.deepEqual(keys.filter((k) => /[A-Z]/.test(k)), []);
    // the manifest: one file, 12 weights in layer order with their shapes
    assert.equal(json.weightsManifest.length, 1);
    assert.deepEqual(json.weightsManifest[0].paths, [WEIGHTS_FILE]);
    assert.deepEqual(
      json.weightsManifest[0].weights.map((w: Json) => [w.name, w.shape]),
      CNN_WEIGHTS,
    );
    assert.ok(json.weightsManifest[0].weights.every((w: Json) => w.dtype === "float32"));
    assert.deepEqual(await namesIn(dir), [WEIGHTS_FILE, "model.json"].sort());
  }));

Deno.test("saveModel of the MNIST CNN writes 4 * 131,242 bytes of little-endian float32 equal to getWeights", () =>
  inTempDir(async (dir) => {
    clearSession();
    const model = mnistCnn({ seed: 5 });
    // non-zero biases, so that a bias written in the wrong place shows
    model.store.values.forEach((v, i, a) => (a[i] = v + (i % 7) * 1e-3));
    await saveModel(model, dir);
    const bytes = await Deno.readFile(join(dir, WEIGHTS_FILE));
    assert.equal(model.countParams(), 131242);
    assert.equal(bytes.length, 4 * 131242);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const expected = model.getWeights();
    let offset = 0;
    CNN_WEIGHTS.forEach(([name, shape], k) => {
      const w = expected[k]!;
      assert.deepEqual([...w.shape], shape, name);
      for (let i = 0; i < w.data.length; i++) {
        const v = view.getFloat32(offset + 4 * i, true);
        if (v !== w.data[i]) assert.fail(`${name}[${i}]: file has ${v}, weight is ${w.data[i]}`);
      }
      offset += 4 * w.data.length;
    });
    assert.equal(offset, bytes.length);
  }));

Deno.test("saveModel of Dense(3, relu) on [2] then Dense(2, no bias) writes 15 float32 weights and creates a nested directory", () =>
  inTempDir(async (root) => {
    clearSession();
    const model = new Sequential({ name: "tiny" });
    model.add(new Dense({ units: 3, activation: "relu", inputShape: [2] }));
    model.add(new Dense({ units: 2, useBias: false }));
    model.setWeights([
      { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      { shape: [3], data: Float32Array.from([-1, -2, -3]) },
      { shape: [3, 2], data: Float32Array.from([0.5, 0.25, 0.125, -0.5, 1e-8, 3e38]) },
    ]);
    const dir = join(root, "a", "b");
    await saveModel(model, dir);
    const json: Json = JSON.parse(await Deno.readTextFile(join(dir, "model.json")));
    assert.equal(json.modelTopology.config.name, "tiny");
    assert.deepEqual(json.modelTopology.config.layers[0].config.batch_input_shape, [null, 2]);
    assert.equal(json.modelTopology.config.layers[1].config.use_bias, false);
    assert.deepEqual(
      json.weightsManifest[0].weights.map((w: Json) => [w.name, w.shape]),
      [["dense/kernel", [2, 3]], ["dense/bias", [3]], ["dense_1/kernel", [3, 2]]],
    );
    const bytes = await Deno.readFile(join(dir, WEIGHTS_FILE));
    assert.equal(bytes.length, 4 * 15);
    const floats = new Float32Array(bytes.buffer, bytes.byteOffset, 15);
    assert.deepEqual(
      [...floats],
      [1, 2, 3, 4, 5, 6, -1, -2, -3, 0.5, 0.25, 0.125, -0.5, Math.fround(1e-8), Math.fround(3e38)],
    );
    // saving again over the same directory replaces the files and leaves no temp file
    await saveModel(model, dir);
    assert.deepEqual(await namesIn(dir), [WEIGHTS_FILE, "model.json"].sort());
  }));
