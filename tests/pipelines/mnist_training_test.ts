// End to end: the standard MNIST pipeline on real data, through the WebAssembly backend.

import assert from "node:assert/strict";
import { cpuBackend } from "../../engine/backend.ts";
import { createWasmBackend } from "../../engine/wasm/wasm_backend.ts";
import { runMnistTraining } from "../../pipelines/mnist_training.ts";

Deno.test("one epoch of the lecture CNN on 2,000 MNIST images (batch 8) ends above 90% test accuracy", async () => {
  const backend = await createWasmBackend({ workers: 2 });
  const records: number[] = [];
  try {
    const result = await runMnistTraining({
      epochs: 1,
      batchSize: 8,
      optimizer: "rmsprop",
      seed: 0,
      limit: 2000,
      testLimit: 2000,
      validationSplit: 0,
      model: "cnn",
      outDir: null,
      verbose: 0,
      backend,
      callbacks: [{ onBatchEnd: (m) => records.push(m.loss) }],
    });
    assert.equal(records.length, 250);
    // the loss falls: the last 50 steps average well below the first 50
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    assert.ok(mean(records.slice(-50)) < mean(records.slice(0, 50)) / 2);
    assert.ok(result.test !== null && result.test.accuracy > 0.9, `${result.test?.accuracy}`);
    assert.equal(result.history.history.loss!.length, 1);
  } finally {
    backend.dispose();
  }
});

Deno.test("a signal aborted before training starts stops the run at epoch 1, step 0, with no checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  const controller = new AbortController();
  controller.abort();
  const result = await runMnistTraining({
    epochs: 2,
    batchSize: 32,
    optimizer: "rmsprop",
    seed: 0,
    limit: 256,
    validationSplit: 0,
    model: "dense",
    outDir: null,
    verbose: 0,
    backend: cpuBackend,
    checkpointDir: dir,
    signal: controller.signal,
  });
  assert.deepEqual(result.interrupted, { epoch: 0, step: 0 });
  assert.equal(result.test, null);
  assert.deepEqual([...Deno.readDirSync(dir)], []);
});
