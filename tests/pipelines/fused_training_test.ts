// A training step fuses a Conv2D and the 2x2 MaxPooling2D after it into one backend call
// (`Conv2D.forwardPooled`: the pooled output and its argmax, the convolution's full output never
// written), the pooling's backward applies the convolution's relu backward, and a Conv2D after a
// relu Conv2D folds that relu's backward into its dx. The weights after a few steps must be
// bitwise those of the layers run one by one.

import assert from "node:assert/strict";
import { from } from "rxjs";
import { type Backend, cpuBackend } from "../../engine/backend.ts";
import type { Tensor } from "../../engine/tensor.ts";
import { simdSupported } from "../../engine/wasm/codegen.ts";
import { createWasmBackend } from "../../engine/wasm/wasm_backend.ts";
import { Conv2D } from "../../layers/conv2d.ts";
import { Dense } from "../../layers/dense.ts";
import { Flatten } from "../../layers/flatten.ts";
import { Tape } from "../../layers/layer.ts";
import { MaxPooling2D } from "../../layers/max_pooling2d.ts";
import type { Batch } from "../../layers/step.ts";
import { mnistCnn } from "../../pipelines/models.ts";
import { Sequential } from "../../pipelines/sequential.ts";
import { train } from "../../pipelines/train.ts";
import { spyBackend } from "../_helpers.ts";

function batchOf(n: number, h: number, w: number, c: number, classes: number, seed: number): Batch {
  const data = new Float32Array(n * h * w * c);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    data[i] = (s >>> 8) / 2 ** 24 < 0.6 ? 0 : (s >>> 8) / 2 ** 24;
  }
  const y = new Float32Array(n * classes);
  for (let i = 0; i < n; i++) y[i * classes + ((i * 7 + seed) % classes)] = 1;
  return { x: { shape: [n, h, w, c], data }, y: { shape: [n, classes], data: y } };
}

/** A training step with the layers one by one (no fusion), as `train` ran it before fusion. */
function referenceStep(model: Sequential, batch: Batch): void {
  const tape = new Tape();
  const ctx = { backend: model.backend, training: true, random: model.random, tape };
  let x: Tensor = batch.x;
  for (const layer of model.layers) x = layer.forward(x, ctx);
  const { loss, fused } = model.compiled();
  const dy = model.outputGradientBuffer(x.data.length);
  loss.compute(dy, x, batch.y, fused);
  model.zeroGradients();
  let d: Tensor = { shape: x.shape, data: dy };
  const layers = model.layers;
  for (let i = layers.length - 1; i >= 0; i--) {
    const dx = layers[i]!.backward(d, ctx, {
      fromLogits: i === layers.length - 1 && fused,
      skipInputGradient: i === 0,
    });
    if (dx !== null) d = dx;
  }
  model.applyGradients();
}

/**
 * `be` with calls counted: conv2dForward given a pooling and an argmax to fill, and
 * conv2dBackwardInput given the relu output to fold the relu's backward into dx.
 */
function counting(be: Backend) {
  const calls = { pooledWithArgmax: 0, foldedRelu: 0 };
  const spied = spyBackend(be, (method, args) => {
    if (method === "conv2dForward" && args[6] !== undefined && args[7] !== undefined) {
      calls.pooledWithArgmax++;
    }
    if (method === "conv2dBackwardInput" && args[4] !== undefined) calls.foldedRelu++;
  });
  return { spied, calls };
}

/** The lecture's CNN, or a model with a linear conv + pool (odd sizes), a relu one with a
 * channel tail and `same` padding, a direct (few-channel) one, and a pooling that cannot fuse. */
function models(backend: Backend, seed: number): [Sequential, Batch[], number, number][] {
  const cnn = mnistCnn({ seed, backend });
  const other = new Sequential({ backend, seed });
  other.add(
    new Conv2D({ filters: 16, kernelSize: 3, activation: "linear", inputShape: [15, 13, 3] }),
  );
  other.add(new MaxPooling2D({ poolSize: 2 }));
  other.add(new Conv2D({ filters: 17, kernelSize: 3, activation: "relu", padding: "same" }));
  other.add(new MaxPooling2D({ poolSize: 2 }));
  other.add(new Conv2D({ filters: 6, kernelSize: 2, activation: "relu", padding: "same" }));
  other.add(new MaxPooling2D({ poolSize: 2 }));
  other.add(new Conv2D({ filters: 5, kernelSize: 1, activation: "relu" }));
  other.add(
    new Conv2D({ filters: 3, kernelSize: 2, strides: 2, padding: "same", activation: "relu" }),
  );
  other.add(new MaxPooling2D({ poolSize: 1 }));
  other.add(new Flatten());
  other.add(new Dense({ units: 4, activation: "softmax" }));
  // conv + pool pairs that fuse, and convolutions after a relu convolution (the CNN's conv2 by
  // Winograd and conv4 direct; a strided one)
  return [
    [cnn, [batchOf(32, 28, 28, 1, 10, 1), batchOf(17, 28, 28, 1, 10, 2)], 2, 2],
    [other, [batchOf(9, 15, 13, 3, 4, 3), batchOf(4, 15, 13, 3, 4, 4)], 3, 1],
  ];
}

const backends: [string, () => Promise<Backend>][] = [["cpu", () => Promise.resolve(cpuBackend)]];
if (simdSupported()) {
  backends.push(["wasm x1", () => createWasmBackend({ workers: 1 })]);
  backends.push(["wasm x2", () => createWasmBackend({ workers: 2 })]);
}

for (const [name, make] of backends) {
  for (const optimizer of ["rmsprop", "sgd"]) {
    Deno.test(`training with fused conv + pooling equals the layers one by one (${name}, ${optimizer})`, async () => {
      const real = await make();
      const { spied: backend, calls } = counting(real);
      try {
        const fusedModels = models(backend, 5), referenceModels = models(real, 5);
        for (let m = 0; m < fusedModels.length; m++) {
          const [fused, batches, pairs, folds] = fusedModels[m]!;
          const [reference] = referenceModels[m]!;
          for (const model of [fused, reference]) {
            model.compile({ optimizer, loss: "categorical_crossentropy" });
            model.build();
          }
          calls.pooledWithArgmax = calls.foldedRelu = 0;
          for (const b of batches) {
            from([b]).pipe(train(fused)).subscribe();
            referenceStep(reference, b);
          }
          assert.equal(calls.pooledWithArgmax, pairs * batches.length, "fused calls");
          assert.equal(calls.foldedRelu, folds * batches.length, "folded relu backward");
          const a = fused.store.values, r = reference.store.values;
          assert.notDeepEqual(a.slice(0, 8), models(real, 5)[m]![0].store.values.slice(0, 8));
          const bad = a.findIndex((v, i) => !Object.is(v, r[i]));
          assert.equal(bad, -1, `${name} model ${m}: weight ${bad} is ${a[bad]} vs ${r[bad]}`);
        }
      } finally {
        real.dispose();
      }
    });
  }
}
