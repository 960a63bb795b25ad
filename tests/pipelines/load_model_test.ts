import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { Random } from "../../engine/random.ts";
import type { Tensor } from "../../engine/tensor.ts";
import { Activation } from "../../layers/activation.ts";
import { AveragePooling2D } from "../../layers/average_pooling2d.ts";
import { Conv2D } from "../../layers/conv2d.ts";
import { Dense } from "../../layers/dense.ts";
import { Dropout } from "../../layers/dropout.ts";
import { Flatten } from "../../layers/flatten.ts";
import { clearSession } from "../../layers/layer.ts";
import { MaxPooling2D } from "../../layers/max_pooling2d.ts";
import { SGD } from "../../layers/optimizers.ts";
import {
  loadModel,
  loadOptimizer,
  loadOptimizerState,
  ModelFormatError,
  OPTIMIZER_BIN,
  OPTIMIZER_JSON,
  saveOptimizerState,
} from "../../pipelines/load_model.ts";
import { IdxFormatError } from "../../pipelines/idx.ts";
import { mnistCnn } from "../../pipelines/models.ts";
import { modelJson, saveModel, WEIGHTS_FILE } from "../../pipelines/save_model.ts";
import { Sequential } from "../../pipelines/sequential.ts";
import { randomTensor } from "../_helpers.ts";

await tf.setBackend("cpu");

// deno-lint-ignore no-explicit-any
type Json = any;

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "load_model_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function images(n: number, seed: number): Tensor {
  return randomTensor(new Random(seed), [n, 28, 28, 1], 0, 1);
}

function assertBitwiseEqual(actual: Float32Array, expected: Float32Array, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number) {
  assert.equal(actual.length, expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  }
  assert.ok(worst <= tol, `max |difference| ${worst} exceeds ${tol}`);
}

/** A model with every layer class the loader knows, and non-default options. */
function everyLayerModel(): Sequential {
  const model = new Sequential({ name: "every_layer", seed: 5 });
  model.add(
    new Conv2D({
      filters: 6,
      kernelSize: [3, 5],
      strides: [2, 1],
      padding: "same",
      inputShape: [28, 28, 1],
      kernelInitializer: "he_normal",
    }),
  );
  model.add(new Activation({ activation: "tanh" }));
  model.add(new AveragePooling2D({ poolSize: 3, strides: 2, padding: "same" }));
  model.add(new MaxPooling2D({ poolSize: [2, 1] }));
  model.add(new Dropout({ rate: 0.25 }));
  model.add(new Flatten());
  model.add(new Dense({ units: 12, activation: "sigmoid", useBias: false }));
  model.add(new Dense({ units: 10, activation: "softmax" }));
  return model;
}

Deno.test("saveModel -> loadModel of the MNIST CNN gives bitwise-equal weights and predictions for x=[6,28,28,1]", () =>
  inTempDir(async (dir) => {
    clearSession();
    const model = mnistCnn({ seed: 1 });
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    assert.equal(loaded.name, model.name);
    assert.deepEqual(loaded.layers.map((l) => l.name), model.layers.map((l) => l.name));
    assert.equal(loaded.countParams(), 131242);
    assertBitwiseEqual(loaded.store.values, model.store.values, "weights");
    const x = images(6, 2);
    assertBitwiseEqual(loaded.predict(x).data, model.predict(x).data, "predictions");
    // the loaded model saves to the same model.json
    assert.deepEqual(modelJson(loaded), modelJson(model));
  }));

Deno.test("saveModel -> loadModel keeps every layer class's config (Conv2D same/strides/no-bias Dense, pools, Activation, Dropout) and predictions bitwise", () =>
  inTempDir(async (dir) => {
    const model = everyLayerModel();
    await saveModel(model, dir);
    const loaded = await loadModel(join(dir, "model.json"));
    assert.deepEqual(modelJson(loaded), modelJson(model));
    const conv = loaded.layers[0] as Conv2D;
    assert.deepEqual([conv.kernelSize, conv.strides, conv.padding], [[3, 5], [2, 1], "same"]);
    assert.equal(conv.kernelInitializer, "he_normal");
    assert.equal((loaded.layers[4] as Dropout).rate, 0.25);
    assert.equal((loaded.layers[6] as Dense).useBias, false);
    const x = images(3, 9);
    assertBitwiseEqual(loaded.predict(x).data, model.predict(x).data, "predictions");
  }));

Deno.test("a model saved here loads in TF.js (tf.loadLayersModel from the files) and predicts equal to 1e-5", () =>
  inTempDir(async (dir) => {
    for (const model of [mnistCnn({ seed: 1 }), everyLayerModel()]) {
      await saveModel(model, dir);
      const json = JSON.parse(await Deno.readTextFile(join(dir, "model.json")));
      const bin = await Deno.readFile(join(dir, WEIGHTS_FILE));
      const tfModel = await tf.loadLayersModel(tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: bin.buffer,
      }));
      const x = images(4, 3);
      const tfOut = tf.tidy(() =>
        (tfModel.predict(tf.tensor4d(x.data, [4, 28, 28, 1])) as tf.Tensor).dataSync()
      );
      assertClose(tfOut, model.predict(x).data, 1e-5);
      tfModel.dispose();
    }
  }));

/** Builds a TF.js model and captures what `model.save` produces. */
async function tfjsArtifacts(build: () => tf.Sequential): Promise<{
  artifacts: tf.io.ModelArtifacts;
  model: tf.Sequential;
}> {
  const model = build();
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler((a) => {
    artifacts = a;
    return Promise.resolve({
      modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
    });
  }));
  return { artifacts: artifacts!, model };
}

function tfjsCnn(): tf.Sequential {
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: "relu", inputShape: [28, 28, 1] }),
  );
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same", activation: "relu" }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 16, activation: "relu" }));
  m.add(tf.layers.dense({ units: 10, activation: "softmax" }));
  return m;
}

/** Writes TF.js artifacts as `model.save('file://dir')` lays them out, the weights cut as asked. */
async function writeTfjsLayout(
  dir: string,
  artifacts: tf.io.ModelArtifacts,
  options: { shards?: number; groups?: boolean; topology?: unknown } = {},
): Promise<void> {
  const specs = artifacts.weightSpecs!;
  const data = new Uint8Array(artifacts.weightData as ArrayBuffer);
  const manifest: Json[] = [];
  if (options.groups) {
    // one group per weight, one file each
    let at = 0;
    for (const [i, spec] of specs.entries()) {
      const bytes = spec.shape.reduce((a, b) => a * b, 1) * 4;
      await Deno.writeFile(join(dir, `group${i + 1}-shard1of1.bin`), data.subarray(at, at + bytes));
      manifest.push({ paths: [`group${i + 1}-shard1of1.bin`], weights: [spec] });
      at += bytes;
    }
  } else {
    const shards = options.shards ?? 1;
    const paths: string[] = [];
    const size = Math.ceil(data.length / shards);
    for (let s = 0; s < shards; s++) {
      const name = shards === 1 ? "weights.bin" : `group1-shard${s + 1}of${shards}.bin`;
      await Deno.writeFile(join(dir, name), data.subarray(s * size, (s + 1) * size));
      paths.push(`./${name}`);
    }
    manifest.push({ paths, weights: specs });
  }
  const json = {
    modelTopology: options.topology ?? artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    weightsManifest: manifest,
  };
  await Deno.writeTextFile(join(dir, "model.json"), JSON.stringify(json));
}

Deno.test("a Conv2D/MaxPool/Flatten/Dense model built and saved by TF.js loads here (suffixed weight names, 1, 3 shards or 6 groups) with predictions equal to 1e-5", () =>
  inTempDir(async (dir) => {
    const { artifacts, model: tfModel } = await tfjsArtifacts(tfjsCnn);
    // TF.js names weights after its layer names, e.g. conv2d_Conv2D1/kernel
    assert.match(artifacts.weightSpecs![0]!.name, /^conv2d_Conv2D\d+\/kernel$/);
    const x = images(5, 4);
    const expected = tf.tidy(() =>
      (tfModel.predict(tf.tensor4d(x.data, [5, 28, 28, 1])) as tf.Tensor).dataSync()
    );
    for (const layout of [{}, { shards: 3 }, { groups: true }]) {
      await writeTfjsLayout(dir, artifacts, layout);
      const model = await loadModel(dir);
      assert.deepEqual(model.layers.map((l) => l.className), [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "Flatten",
        "Dense",
        "Dense",
      ]);
      assertClose(model.predict(x).data, expected, 1e-5);
    }
    tfModel.dispose();
  }));

Deno.test("loadModel accepts a model_config nesting, a leading InputLayer and weights listed out of layer order when their names match", () =>
  inTempDir(async (dir) => {
    const { artifacts, model: tfModel } = await tfjsArtifacts(tfjsCnn);
    const topology = structuredClone(artifacts.modelTopology) as Json;
    const layers = topology.config.layers;
    const shape = layers[0].config.batch_input_shape;
    delete layers[0].config.batch_input_shape;
    layers.unshift({
      class_name: "InputLayer",
      config: { batch_input_shape: shape, dtype: "float32", sparse: false, name: "input_1" },
    });
    await writeTfjsLayout(dir, artifacts, {
      topology: { model_config: topology, keras_version: "2.15.0" },
    });
    // reverse the manifest: names still say which layer each weight belongs to
    const json = JSON.parse(await Deno.readTextFile(join(dir, "model.json")));
    const specs = json.weightsManifest[0].weights as Json[];
    const data = await Deno.readFile(join(dir, "weights.bin"));
    const chunks: Uint8Array[] = [];
    let at = 0;
    for (const s of specs) {
      const n = s.shape.reduce((a: number, b: number) => a * b, 1) * 4;
      chunks.push(data.subarray(at, at + n));
      at += n;
    }
    const reordered = new Uint8Array(data.length);
    at = 0;
    for (const c of chunks.reverse()) {
      reordered.set(c, at);
      at += c.length;
    }
    json.weightsManifest[0].weights = specs.reverse();
    await Deno.writeFile(join(dir, "weights.bin"), reordered);
    await Deno.writeTextFile(join(dir, "model.json"), JSON.stringify(json));

    const model = await loadModel(dir);
    assert.deepEqual([...model.inputShape], [28, 28, 1]);
    const x = images(2, 8);
    const expected = tf.tidy(() =>
      (tfModel.predict(tf.tensor4d(x.data, [2, 28, 28, 1])) as tf.Tensor).dataSync()
    );
    assertClose(model.predict(x).data, expected, 1e-5);
    tfModel.dispose();
  }));

/** Saves the CNN, lets `edit` change model.json, and returns the loader's error. */
async function loadError(
  dir: string,
  edit: (json: Json) => void,
): Promise<ModelFormatError> {
  clearSession();
  await saveModel(mnistCnn({ seed: 1 }), dir);
  const json = JSON.parse(await Deno.readTextFile(join(dir, "model.json")));
  edit(json);
  await Deno.writeTextFile(join(dir, "model.json"), JSON.stringify(json));
  const error = await loadModel(dir).then(() => null, (e) => e);
  assert.ok(error instanceof ModelFormatError, `expected a ModelFormatError, got ${error}`);
  assert.ok(error instanceof IdxFormatError);
  return error;
}

Deno.test('loadModel refuses an unknown layer class by name: Unknown layer class "LSTM" in model.json', () =>
  inTempDir(async (dir) => {
    const e = await loadError(dir, (json) => {
      json.modelTopology.config.layers[7] = {
        class_name: "LSTM",
        config: { name: "lstm", units: 4 },
      };
    });
    assert.match(e.message, /^Unknown layer class "LSTM" in .*model\.json/);
    assert.match(e.found, /"LSTM" at layer 7 "lstm"/);
    assert.match(
      e.expected,
      /Conv2D, MaxPooling2D, AveragePooling2D, Flatten, Dense, Activation, Dropout/,
    );
    assert.equal(e.file, join(dir, "model.json"));
  }));

Deno.test("loadModel refuses an unsupported activation by name (elu on dense_1)", () =>
  inTempDir(async (dir) => {
    const e = await loadError(dir, (json) => {
      json.modelTopology.config.layers[8].config.activation = "elu";
    });
    assert.match(e.message, /layer 8 "dense_1" \(Dense\) activation to be one of linear, relu/);
    assert.match(e.found, /unsupported activation "elu"/);
  }));

Deno.test("loadModel names the missing weight (dense_1/bias) and a weight of the wrong shape", () =>
  inTempDir(async (dir) => {
    const missing = await loadError(dir, (json) => json.weightsManifest[0].weights.pop());
    assert.match(missing.expected, /^12 weights/);
    assert.match(missing.found, /11 in weightsManifest; missing: dense_1\/bias \[10\]/);

    const shape = await loadError(dir, (json) => {
      json.modelTopology.config.layers[7].config.units = 32; // dense: [1024, 32] in the model
    });
    assert.match(shape.expected, /weight 8 to be dense\/kernel of shape \[1024,32\]/);
    assert.match(shape.found, /"dense\/kernel" of shape \[1024,64\]/);
  }));

Deno.test("loadModel refuses a truncated weights file, a missing one, a path outside the directory, bad JSON and non-Sequential models", () =>
  inTempDir(async (dir) => {
    clearSession();
    await saveModel(mnistCnn({ seed: 1 }), dir);
    const bin = await Deno.readFile(join(dir, WEIGHTS_FILE));
    await Deno.writeFile(join(dir, WEIGHTS_FILE), bin.subarray(0, 1000));
    const truncated = await loadModel(dir).then(() => null, (e) => e);
    assert.ok(truncated instanceof ModelFormatError);
    assert.equal(truncated.file, join(dir, WEIGHTS_FILE));
    assert.equal(
      truncated.expected,
      `${131242 * 4} bytes of weights (as ${join(dir, "model.json")} lists them)`,
    );
    assert.equal(truncated.found, "1000 bytes (truncated)");

    await Deno.remove(join(dir, WEIGHTS_FILE));
    const gone = await loadModel(dir).then(() => null, (e) => e);
    assert.ok(gone instanceof ModelFormatError);
    assert.match(gone.message, /the weight file group1-shard1of1\.bin it names/);

    const outside = await loadError(dir, (json) => (json.weightsManifest[0].paths = ["../x.bin"]));
    assert.match(
      outside.message,
      /weight file paths inside the model's directory, found "\.\.\/x\.bin"/,
    );

    const functional = await loadError(
      dir,
      (json) => (json.modelTopology.class_name = "Functional"),
    );
    assert.match(functional.message, /Sequential.*found "Functional"/);

    await Deno.writeTextFile(join(dir, "model.json"), "{not json");
    const bad = await loadModel(dir).then(() => null, (e) => e);
    assert.ok(bad instanceof ModelFormatError);
    assert.equal(bad.expected, "valid JSON");

    const none = await loadModel(join(dir, "nothing")).then(() => null, (e) => e);
    assert.ok(none instanceof ModelFormatError);
    assert.equal(none.found, "no such file");
  }));

Deno.test("loadModel reads uint8-quantized and float16 weights from a manifest", () =>
  inTempDir(async (dir) => {
    const model = new Sequential({ seed: 1 });
    model.add(new Dense({ units: 2, inputShape: [3], name: "d" }));
    const kernel = [0, 0.5, 1, 1.5, 2, 2.5]; // q * 0.5 + 0
    const json = {
      format: "layers-model",
      modelTopology: JSON.parse(JSON.stringify(modelJson(model).modelTopology)),
      weightsManifest: [{
        paths: ["w.bin"],
        weights: [
          {
            name: "d/kernel",
            shape: [3, 2],
            dtype: "float32",
            quantization: { dtype: "uint8", scale: 0.5, min: 0 },
          },
          { name: "d/bias", shape: [2], dtype: "float32", quantization: { dtype: "float16" } },
        ],
      }],
    };
    // float16: 1.0 = 0x3c00, -2.5 = 0xc100
    await Deno.writeFile(
      join(dir, "w.bin"),
      new Uint8Array([0, 1, 2, 3, 4, 5, 0x00, 0x3c, 0x00, 0xc1]),
    );
    await Deno.writeTextFile(join(dir, "model.json"), JSON.stringify(json));
    const loaded = await loadModel(dir);
    assert.deepEqual([...loaded.store.values], [...kernel, 1, -2.5]);
  }));

/** A small model and a fixed batch, for optimizer tests. */
function smallModel(seed: number): Sequential {
  clearSession();
  const model = new Sequential({ seed });
  model.add(new Conv2D({ filters: 2, kernelSize: 3, activation: "relu", inputShape: [6, 6, 1] }));
  model.add(new Flatten());
  model.add(new Dense({ units: 3, activation: "softmax" }));
  return model;
}

function smallBatch(seed: number): [Tensor, Tensor] {
  const r = new Random(seed);
  const x = randomTensor(r, [8, 6, 6, 1], 0, 1);
  const y = { shape: [8, 3], data: new Float32Array(24) };
  for (let i = 0; i < 8; i++) y.data[i * 3 + (i % 3)] = 1;
  return [x, y];
}

for (const optimizer of ["adam", "rmsprop", "sgd"] as const) {
  Deno.test(`saveOptimizerState -> loadOptimizerState resumes ${optimizer} training bitwise (2 epochs, save, 1 more == 3 straight)`, () =>
    inTempDir(async (dir) => {
      const [x, y] = smallBatch(3);
      const compile = (m: Sequential) =>
        m.compile({
          optimizer: optimizer === "sgd"
            ? new SGD({ learningRate: 0.1, momentum: 0.9 })
            : optimizer,
          loss: "categorical_crossentropy",
        });
      const straight = smallModel(1);
      compile(straight);
      await straight.fit(x, y, { epochs: 3, batchSize: 4, shuffle: false, verbose: 0 });

      const first = smallModel(1);
      compile(first);
      await first.fit(x, y, { epochs: 2, batchSize: 4, shuffle: false, verbose: 0 });
      await saveModel(first, dir);
      await saveOptimizerState(first, dir);

      const resumed = await loadModel(dir);
      compile(resumed);
      await loadOptimizerState(resumed, dir);
      assert.equal(resumed.optimizer.getState().iterations, 4);
      await resumed.fit(x, y, { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 });
      assertBitwiseEqual(resumed.store.values, straight.store.values, "weights after 3 epochs");
    }));
}

Deno.test("loadOptimizer rebuilds the class, config and state; loadOptimizerState refuses another class, another model size and a mismatched optimizer.bin", () =>
  inTempDir(async (dir) => {
    const [x, y] = smallBatch(4);
    const model = smallModel(2);
    model.compile({
      optimizer: new SGD({ learningRate: 0.05, momentum: 0.5, nesterov: true }),
      loss: "categorical_crossentropy",
    });
    await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    await saveOptimizerState(model, dir);
    const json = JSON.parse(await Deno.readTextFile(join(dir, OPTIMIZER_JSON)));
    assert.equal(json.class_name, "SGD");
    assert.deepEqual(json.config, { learning_rate: 0.05, momentum: 0.5, nesterov: true });
    assert.deepEqual(json.slots, [{
      name: "momentum",
      shape: [model.countParams()],
      dtype: "float32",
    }]);

    const rebuilt = await loadOptimizer(dir) as SGD;
    assert.ok(rebuilt instanceof SGD);
    assert.deepEqual([rebuilt.learningRate, rebuilt.momentum, rebuilt.nesterov], [0.05, 0.5, true]);
    assert.equal(rebuilt.getState().iterations, 1);
    assertBitwiseEqual(
      rebuilt.getState().slots.momentum!,
      model.optimizer.getState().slots.momentum!,
      "slot",
    );

    const adam = smallModel(2);
    adam.compile({ optimizer: "adam", loss: "categorical_crossentropy" });
    const wrongClass = await loadOptimizerState(adam, dir).then(() => null, (e) => e);
    assert.ok(wrongClass instanceof ModelFormatError);
    assert.equal(wrongClass.found, "state of SGD");

    const bigger = new Sequential();
    bigger.add(new Dense({ units: 4, inputShape: [3] }));
    bigger.compile({ optimizer: "sgd", loss: "categorical_crossentropy" });
    const wrongSize = await loadOptimizerState(bigger, dir).then(() => null, (e) => e);
    assert.ok(wrongSize instanceof ModelFormatError);
    assert.match(wrongSize.message, /param_count 16 \(the model's parameters\), found \d+/);

    const bin = await Deno.readFile(join(dir, OPTIMIZER_BIN));
    bin[0]! ^= 1;
    await Deno.writeFile(join(dir, OPTIMIZER_BIN), bin);
    const tampered = await loadOptimizerState(model, dir).then(() => null, (e) => e);
    assert.ok(tampered instanceof ModelFormatError);
    assert.match(tampered.found, /different bytes/);
  }));
