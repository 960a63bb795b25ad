import assert from "node:assert/strict";
import { cpuBackend } from "../../engine/backend.ts";
import { Random } from "../../engine/random.ts";
import type { Tensor } from "../../engine/tensor.ts";
import { Conv2D } from "../../layers/conv2d.ts";
import { Dense } from "../../layers/dense.ts";
import { Dropout } from "../../layers/dropout.ts";
import { Flatten } from "../../layers/flatten.ts";
import { clearSession } from "../../layers/layer.ts";
import { getOptimizer } from "../../layers/optimizers.ts";
import { MaxPooling2D } from "../../layers/max_pooling2d.ts";
import { mnistCnn, mnistDense } from "../../pipelines/models.ts";
import { Sequential } from "../../pipelines/sequential.ts";

const CNN_SUMMARY = `Model: "sequential"
_________________________________________________________________
 Layer (type)                Output Shape              Param #   
=================================================================
 conv2d (Conv2D)             (None, 26, 26, 32)        320       
                                                                 
 conv2d_1 (Conv2D)           (None, 24, 24, 32)        9248      
                                                                 
 max_pooling2d (MaxPooling2D  (None, 12, 12, 32)       0         
 )                                                               
                                                                 
 conv2d_2 (Conv2D)           (None, 10, 10, 64)        18496     
                                                                 
 conv2d_3 (Conv2D)           (None, 8, 8, 64)          36928     
                                                                 
 max_pooling2d_1 (MaxPooling  (None, 4, 4, 64)         0         
 2D)                                                             
                                                                 
 flatten (Flatten)           (None, 1024)              0         
                                                                 
 dense (Dense)               (None, 64)                65600     
                                                                 
 dense_1 (Dense)             (None, 10)                650       
                                                                 
=================================================================
Total params: 131,242
Trainable params: 131,242
Non-trainable params: 0
_________________________________________________________________`;

const DENSE_SUMMARY = `Model: "sequential"
_________________________________________________________________
 Layer (type)                Output Shape              Param #   
=================================================================
 dense (Dense)               (None, 512)               401920    
                                                                 
 dense_1 (Dense)             (None, 10)                5130      
                                                                 
=================================================================
Total params: 407,050
Trainable params: 407,050
Non-trainable params: 0
_________________________________________________________________`;

function captureSummary(model: Sequential): string[] {
  const lines: string[] = [];
  model.summary((l) => lines.push(l));
  return lines;
}

Deno.test("summary of the lecture CNN equals tf.keras 2.x line by line (131,242 params)", () => {
  clearSession();
  const lines = captureSummary(mnistCnn());
  const expected = CNN_SUMMARY.split("\n");
  assert.equal(lines.length, expected.length);
  lines.forEach((line, i) => assert.equal(line, expected[i], `line ${i + 1}`));
  for (const line of lines.slice(1, -4)) {
    assert.equal(line.length, 65, `"${line}" is 65 columns`);
  }
});

Deno.test("summary of Dense(512) -> Dense(10) equals tf.keras 2.x line by line (407,050 params)", () => {
  clearSession();
  assert.deepEqual(captureSummary(mnistDense()), DENSE_SUMMARY.split("\n"));
});

Deno.test("the same-padded CNN variant has Keras's shapes and 266,410 params", () => {
  clearSession();
  const model = new Sequential();
  const conv = (filters: number, first = false) =>
    new Conv2D({
      filters,
      kernelSize: [3, 3],
      activation: "relu",
      padding: "same",
      ...(first ? { inputShape: [28, 28, 1] } : {}),
    });
  model.add(conv(32, true));
  model.add(conv(32));
  model.add(new MaxPooling2D({ poolSize: [2, 2] }));
  model.add(conv(64));
  model.add(conv(64));
  model.add(new MaxPooling2D({ poolSize: [2, 2] }));
  model.add(new Flatten());
  model.add(new Dense({ units: 64, activation: "relu" }));
  model.add(new Dense({ units: 10, activation: "softmax" }));
  assert.equal(model.countParams(), 266410);
  const lines = captureSummary(model);
  assert.ok(lines.includes(" flatten (Flatten)           (None, 3136)              0         "));
  assert.ok(lines.includes(" conv2d_3 (Conv2D)           (None, 14, 14, 64)        36928     "));
  assert.ok(lines.includes("Total params: 266,410"));
});

Deno.test("a second model gets Keras's next names (sequential_1, conv2d_4) until clearSession", () => {
  clearSession();
  mnistCnn();
  const second = mnistCnn();
  assert.equal(second.name, "sequential_1");
  assert.equal(second.layers[0]!.name, "conv2d_4");
  clearSession();
  assert.equal(mnistCnn().layers[0]!.name, "conv2d");
});

Deno.test("add refuses a first layer without inputShape and a layer whose input does not fit", () => {
  const model = new Sequential();
  assert.throws(() => model.add(new Dense({ units: 3 })), /needs inputShape/);
  model.add(new Conv2D({ filters: 2, kernelSize: 3, inputShape: [5, 5, 1] }));
  assert.throws(() => model.add(new Dense({ units: 3 })), /Flatten/);
  assert.throws(
    () => model.add(new Conv2D({ filters: 2, kernelSize: 5 })),
    /output would be empty/,
  );
});

Deno.test("compile refuses unknown optimizers, losses and metrics, naming the value", () => {
  const model = mnistDense();
  assert.throws(() => model.compile({ optimizer: "adagrad", loss: "mse" }), /"adagrad"/);
  assert.throws(() => model.compile({ optimizer: "sgd", loss: "hinge" }), /"hinge"/);
  assert.throws(
    () => model.compile({ optimizer: "sgd", loss: "mse", metrics: ["auc"] }),
    /"auc"/,
  );
  assert.rejects(
    () => new Sequential({ layers: [new Dense({ units: 1, inputShape: [1] })] }).fit([]),
    /must be compiled/,
  );
});

/** A learnable toy problem: class = which quadrant of a 6x6 image is brightest. */
function quadrants(n: number, seed: number): { x: Tensor; y: Tensor } {
  const r = new Random(seed);
  const x = new Float32Array(n * 36);
  const y = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const c = r.int(4);
    for (let p = 0; p < 36; p++) {
      const row = Math.floor(p / 6), col = p % 6;
      const q = (row < 3 ? 0 : 2) + (col < 3 ? 0 : 1);
      x[i * 36 + p] = r.next() * 0.5 + (q === c ? 0.5 : 0);
    }
    y[i * 4 + c] = 1;
  }
  return { x: { shape: [n, 6, 6, 1], data: x }, y: { shape: [n, 4], data: y } };
}

function smallCnn(seed: number): Sequential {
  const model = new Sequential({ seed, backend: cpuBackend });
  model.add(new Conv2D({ filters: 5, kernelSize: 3, activation: "relu", inputShape: [6, 6, 1] }));
  model.add(new MaxPooling2D({ poolSize: 2 }));
  model.add(new Flatten());
  model.add(new Dropout({ rate: 0.1 }));
  model.add(new Dense({ units: 4, activation: "softmax" }));
  return model;
}

for (
  const [optimizer, learningRate] of [["sgd", 0.1], ["rmsprop", 0.001], ["adam", 0.001]] as const
) {
  Deno.test(`fit with ${optimizer} (lr ${learningRate}) lowers the loss on 300 synthetic 6x6 images over 8 epochs`, async () => {
    const { x, y } = quadrants(300, 7);
    const model = smallCnn(3);
    model.compile({
      optimizer: getOptimizer(optimizer, learningRate),
      loss: "categorical_crossentropy",
      metrics: ["accuracy"],
    });
    const history = await model.fit(x, y, { epochs: 8, batchSize: 16, verbose: 0 });
    const losses = history.history.loss!;
    assert.equal(losses.length, 8);
    assert.deepEqual(history.epoch, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(losses.at(-1)! < losses[0]! * 0.8, `loss fell: ${losses.join(", ")}`);
    const evaluation = await model.evaluate(x, y);
    assert.ok(evaluation.accuracy > 0.6, `accuracy ${evaluation.accuracy}`);
  });
}

Deno.test("two runs with the same seed give bitwise-equal weights after 3 epochs (dropout and shuffle included)", async () => {
  const { x, y } = quadrants(100, 1);
  const run = async () => {
    const model = smallCnn(42);
    model.compile({ optimizer: "rmsprop", loss: "categorical_crossentropy" });
    await model.fit(x, y, { epochs: 3, batchSize: 16, verbose: 0 });
    return model.store.values.slice();
  };
  const a = await run();
  const b = await run();
  assert.deepEqual(a, b);
  const c = smallCnn(43);
  c.build();
  assert.notDeepEqual(c.store.values, a);
});

Deno.test("validationSplit holds out the last rows and reports val_loss and val_accuracy", async () => {
  const { x, y } = quadrants(100, 2);
  const model = smallCnn(1);
  model.compile({ optimizer: "adam", loss: "categorical_crossentropy", metrics: ["accuracy"] });
  const seen: number[] = [];
  const history = await model.fit(x, y, {
    epochs: 2,
    batchSize: 32,
    validationSplit: 0.2,
    verbose: 0,
    callbacks: [{ onBatchEnd: (m) => seen.push(m.size) }],
  });
  // 80 training rows at 32: 32 + 32 + 16 per epoch
  assert.deepEqual(seen, [32, 32, 16, 32, 32, 16]);
  assert.equal(history.history.val_loss!.length, 2);
  assert.equal(history.history.val_accuracy!.length, 2);
});

Deno.test("predict returns one softmax row per input, equal to a forward pass in any batch size", () => {
  const { x } = quadrants(37, 3);
  const model = smallCnn(5);
  const a = model.predict(x, { batchSize: 5 });
  const b = model.predict(x, { batchSize: 64 });
  assert.deepEqual(a.shape, [37, 4]);
  assert.deepEqual(a.data, b.data);
  for (let i = 0; i < 37; i++) {
    const s = a.data.subarray(i * 4, i * 4 + 4).reduce((p, v) => p + v, 0);
    assert.ok(Math.abs(s - 1) < 1e-5);
  }
});

Deno.test("getWeights/setWeights round-trip and refuse a wrong shape by name", () => {
  const a = smallCnn(1);
  const b = smallCnn(2);
  b.setWeights(a.getWeights());
  assert.deepEqual(a.store.values, b.store.values);
  const w = a.getWeights();
  w[0] = { shape: [2, 2], data: new Float32Array(4) };
  assert.throws(() => b.setWeights(w), /conv2d.*\/kernel: expected shape \[3,3,1,5\]/);
});

Deno.test("fit accepts a stream of batches and resubscribes it each epoch", async () => {
  const { x, y } = quadrants(64, 4);
  const model = smallCnn(1);
  model.compile({ optimizer: "sgd", loss: "categorical_crossentropy" });
  const batches = [{ x, y }];
  const history = await model.fit(batches, { epochs: 3, verbose: 0 });
  assert.equal(history.history.loss!.length, 3);
});
