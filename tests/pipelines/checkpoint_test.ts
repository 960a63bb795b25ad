import assert from "node:assert/strict";
import { join } from "node:path";
import { cpuBackend, KernelFaultError } from "../../engine/backend.ts";
import { Random } from "../../engine/random.ts";
import type { Tensor } from "../../engine/tensor.ts";
import { Conv2D } from "../../layers/conv2d.ts";
import { Dense } from "../../layers/dense.ts";
import { Dropout } from "../../layers/dropout.ts";
import { Flatten } from "../../layers/flatten.ts";
import { MaxPooling2D } from "../../layers/max_pooling2d.ts";
import {
  CHECKPOINT_FILE,
  Checkpointer,
  CheckpointError,
  decodeCheckpoint,
  encodeCheckpoint,
  readCheckpoint,
  restoreCheckpoint,
} from "../../pipelines/checkpoint.ts";
import { Sequential } from "../../pipelines/sequential.ts";
import { NumericalFaultError } from "../../pipelines/train.ts";

function data(n: number, seed: number): { x: Tensor; y: Tensor } {
  const r = new Random(seed);
  const x = new Float32Array(n * 36).map(() => r.next());
  const y = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) y[i * 3 + (x[i * 36]! > 0.5 ? 1 : x[i * 36 + 7]! > 0.5 ? 2 : 0)] = 1;
  return { x: { shape: [n, 6, 6, 1], data: x }, y: { shape: [n, 3], data: y } };
}

function makeModel(): Sequential {
  const model = new Sequential({ seed: 11, backend: cpuBackend });
  model.add(new Conv2D({ filters: 4, kernelSize: 3, activation: "relu", inputShape: [6, 6, 1] }));
  model.add(new MaxPooling2D({ poolSize: 2 }));
  model.add(new Flatten());
  model.add(new Dropout({ rate: 0.25 }));
  model.add(new Dense({ units: 3, activation: "softmax" }));
  model.compile({ optimizer: "adam", loss: "categorical_crossentropy", metrics: ["accuracy"] });
  return model;
}

const { x, y } = data(90, 5);
const FIT = { epochs: 4, batchSize: 16, verbose: 0 } as const; // 6 steps per epoch

async function uninterrupted(): Promise<Sequential> {
  const model = makeModel();
  await model.fit(x, y, FIT);
  return model;
}

/** Trains until `stopAt` (epoch, step), checkpoints, then resumes in a fresh model. */
async function interruptedAndResumed(
  dir: string,
  stopAt: { epoch: number; step: number },
): Promise<Sequential> {
  const first = makeModel();
  const checkpointer = new Checkpointer(first, dir);
  await first.fit(x, y, {
    ...FIT,
    callbacks: [checkpointer, {
      onBatchEnd: (m) => {
        if (first.progress!.epoch === stopAt.epoch && m.step === stopAt.step) {
          first.stopTraining = true;
        }
      },
    }],
  });
  await checkpointer.flush();
  if (!first.progress!.epochComplete) await checkpointer.writeNow();
  const second = makeModel();
  const file = join(dir, CHECKPOINT_FILE);
  const resume = restoreCheckpoint(second, await readCheckpoint(dir), file);
  await second.fit(x, y, { ...FIT, ...resume });
  return second;
}

Deno.test("a run stopped after epoch 2 and resumed ends bitwise equal to an uninterrupted run (dropout + shuffle + adam)", async () => {
  const dir = await Deno.makeTempDir();
  const reference = await uninterrupted();
  const resumed = await interruptedAndResumed(dir, { epoch: 1, step: 6 });
  assert.deepEqual(resumed.store.values, reference.store.values);
  assert.deepEqual(resumed.history.history.loss, reference.history.history.loss);
  assert.equal(resumed.optimizer.getState().iterations, 24);
});

Deno.test("a run stopped mid-epoch (epoch 3, step 4) and resumed ends bitwise equal, epoch metrics included", async () => {
  const dir = await Deno.makeTempDir();
  const reference = await uninterrupted();
  const resumed = await interruptedAndResumed(dir, { epoch: 2, step: 4 });
  assert.deepEqual(resumed.store.values, reference.store.values);
  assert.deepEqual(resumed.history.history, reference.history.history);
});

Deno.test("a checkpoint written every 4 steps records epoch and step, and the epoch end records the next epoch", async () => {
  const dir = await Deno.makeTempDir();
  const model = makeModel();
  const records: { epoch: number; step: number }[] = [];
  const checkpointer = new Checkpointer(model, dir, {
    everySteps: 4,
    onWrite: () => {},
  });
  await model.fit(x, y, {
    ...FIT,
    epochs: 1,
    callbacks: [checkpointer, {
      onBatchEnd: () => {
        const h = decodeCheckpoint(encodeCheckpoint(model, {}), "memory").header;
        records.push({ epoch: h.epoch, step: h.step });
      },
    }],
  });
  await checkpointer.flush();
  const last = (await readCheckpoint(dir)).header;
  assert.deepEqual([last.epoch, last.step], [1, 0]);
  assert.deepEqual(records.map((r) => r.step), [1, 2, 3, 4, 5, 6]);
});

Deno.test("a damaged checkpoint is refused by name: wrong magic, truncated, flipped payload bit, bad JSON", () => {
  const model = makeModel();
  model.build();
  // a checkpoint needs a fit in progress: fake one epoch of progress through a tiny fit
  const bytes = (() => {
    let out: Uint8Array | null = null;
    const m = makeModel();
    return m.fit(x, y, {
      ...FIT,
      epochs: 1,
      callbacks: [{ onBatchEnd: () => (out ??= encodeCheckpoint(m, { test: 1 })) }],
    }).then(() => out!);
  })();
  return bytes.then((good) => {
    assert.equal(decodeCheckpoint(good, "ok.ckpt").header.run.test, 1);
    const wrongMagic = good.slice();
    wrongMagic[0] = 0x41;
    assert.throws(() => decodeCheckpoint(wrongMagic, "a.ckpt"), /a\.ckpt: expected a checkpoint/);
    assert.throws(
      () => decodeCheckpoint(good.subarray(0, good.length - 10), "b.ckpt"),
      /b\.ckpt: expected \d+ payload bytes, found \d+/,
    );
    const flipped = good.slice();
    flipped[flipped.length - 5]! ^= 0x10;
    assert.throws(() => decodeCheckpoint(flipped, "c.ckpt"), /checksum mismatch/);
    const badJson = good.slice();
    badJson[13] = 0x7b; // '{' inside the header breaks the JSON
    assert.throws(() => decodeCheckpoint(badJson, "d.ckpt"), CheckpointError);
    assert.throws(() => decodeCheckpoint(good.subarray(0, 5), "e.ckpt"), /e\.ckpt/);
  });
});

Deno.test("restoring a checkpoint into a model with other layers names the mismatch", async () => {
  const dir = await Deno.makeTempDir();
  const model = makeModel();
  const checkpointer = new Checkpointer(model, dir);
  await model.fit(x, y, { ...FIT, epochs: 1, callbacks: [checkpointer] });
  await checkpointer.flush();
  const other = new Sequential({ backend: cpuBackend });
  other.add(new Flatten({ inputShape: [6, 6, 1] }));
  other.add(new Dense({ units: 3, activation: "softmax" }));
  other.compile({ optimizer: "adam", loss: "categorical_crossentropy" });
  const ckpt = await readCheckpoint(dir);
  assert.throws(() => restoreCheckpoint(other, ckpt, "x.ckpt"), /do not match the model's/);
  await assert.rejects(readCheckpoint(join(dir, "missing")), /no checkpoint here/);
});

Deno.test("a NaN weight stops fit with an error naming the epoch, the step and the first layer", async () => {
  const model = makeModel();
  model.build();
  const kernel = model.store.layers[0]!.params[0]!.value;
  kernel[2] = NaN;
  const before = model.store.values.slice();
  await assert.rejects(
    model.fit(x, y, FIT),
    (e: unknown) =>
      e instanceof NumericalFaultError && e.epoch === 0 && e.step === 1 &&
      /epoch 1, step 1/.test(e.message) && /layer "conv2d(_\d+)?" \(Conv2D\)/.test(e.message),
  );
  // the failing step applied no update
  assert.deepEqual(model.store.values, before);
});

Deno.test("a NaN input batch is reported as the input, and onNan skip drops only the bad steps", async () => {
  const bad = { x: { shape: x.shape, data: x.data.slice() }, y };
  bad.x.data[40 * 36] = NaN; // row 40 lands in some batch of every epoch
  const model = makeModel();
  await assert.rejects(model.fit(bad.x, bad.y, FIT), /the input batch/);
  const skipping = makeModel();
  skipping.onNan = "skip";
  await skipping.fit(bad.x, bad.y, FIT);
  assert.equal(skipping.nonFiniteSteps, 4);
  assert.equal(skipping.optimizer.getState().iterations, 20);
  for (const v of skipping.store.values) assert.ok(Number.isFinite(v));
});

/** The CPU backend with a fault planted in the n-th call of one kernel. */
function faultyBackend(kernel: "conv2dBackwardKernel" | "conv2dForward", n: number) {
  let calls = 0;
  const backend = { ...cpuBackend, name: "cpu with a planted fault" };
  const real = cpuBackend[kernel] as (...a: unknown[]) => void;
  (backend as Record<string, unknown>)[kernel] = (...args: unknown[]) => {
    if (++calls === n) {
      // half the work done, then the fault: the retry must not see the partial gradients
      real(...args);
      throw new KernelFaultError(kernel, `${kernel}: worker 1 died (planted)`);
    }
    real(...args);
  };
  return backend;
}

for (const kernel of ["conv2dForward", "conv2dBackwardKernel"] as const) {
  Deno.test(`a KernelFaultError in ${kernel} at step 8 fails fit, and with retrySteps the run ends bitwise equal to a fault-free one`, async () => {
    const reference = await uninterrupted();
    const failing = makeModel();
    failing.setBackend(faultyBackend(kernel, 8));
    await assert.rejects(failing.fit(x, y, FIT), KernelFaultError);

    const retrying = makeModel();
    retrying.setBackend(faultyBackend(kernel, 8));
    retrying.retrySteps = 1;
    await retrying.fit(x, y, FIT);
    assert.equal(retrying.retriedSteps, 1);
    assert.deepEqual(retrying.store.values, reference.store.values);
  });
}
