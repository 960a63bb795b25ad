// Inference fuses a Conv2D and the MaxPooling2D after it into one backend call
// (`Conv2D.forwardPooled`); the numbers must be those of the two layers run one after the other.

import assert from "node:assert/strict";
import { type Backend, cpuBackend } from "../../engine/backend.ts";
import type { Tensor } from "../../engine/tensor.ts";
import { simdSupported } from "../../engine/wasm/codegen.ts";
import { createWasmBackend } from "../../engine/wasm/wasm_backend.ts";
import { Conv2D } from "../../layers/conv2d.ts";
import { Dense } from "../../layers/dense.ts";
import { Flatten } from "../../layers/flatten.ts";
import { MaxPooling2D } from "../../layers/max_pooling2d.ts";
import { mnistCnn } from "../../pipelines/models.ts";
import { Sequential } from "../../pipelines/sequential.ts";
import { spyBackend } from "../_helpers.ts";

function images(n: number, h: number, w: number, c: number, seed: number): Tensor {
  const data = new Float32Array(n * h * w * c);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    data[i] = (s >>> 8) / 2 ** 24 < 0.6 ? 0 : (s >>> 8) / 2 ** 24;
  }
  return { shape: [n, h, w, c], data };
}

/** The layers one by one, as a training step's forward runs them (no fusion), without a tape. */
function layerByLayer(model: Sequential, x: Tensor): Tensor {
  const ctx = { backend: model.backend, training: false, random: model.random, tape: null };
  return model.layers.reduce((t, layer) => layer.forward(t, ctx), x);
}

/** `be` with its conv2dForward calls counted: all, and those given a pooling to fuse. */
function counting(be: Backend) {
  const calls = { all: 0, pooled: 0 };
  const spied = spyBackend(be, (method, args) => {
    if (method !== "conv2dForward") return;
    calls.all++;
    if (args[6] !== undefined) calls.pooled++;
  });
  return { spied, calls };
}

function assertBitwise(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  const bad = a.findIndex((v, i) => !Object.is(v, b[i]));
  assert.equal(bad, -1, `${what}: element ${bad} is ${a[bad]} vs ${b[bad]}`);
}

const backends: [string, () => Promise<Backend>][] = [["cpu", () => Promise.resolve(cpuBackend)]];
if (simdSupported()) backends.push(["wasm x2", () => createWasmBackend({ workers: 2 })]);

for (const [name, make] of backends) {
  Deno.test(`predict with fused conv + pooling equals the layers run one by one (${name})`, async () => {
    const real = await make();
    const { spied: backend, calls } = counting(real);
    try {
      // The lecture's CNN (two Winograd conv + pool pairs), and a model whose pair cannot fuse
      // (a 3x3 pooling) next to one that can with a linear convolution and odd sizes.
      const cnn = mnistCnn({ seed: 3, backend });
      const other = new Sequential({ backend, seed: 4 });
      other.add(
        new Conv2D({ filters: 16, kernelSize: 3, activation: "linear", inputShape: [15, 13, 3] }),
      );
      other.add(new MaxPooling2D({ poolSize: 2 }));
      other.add(new Conv2D({ filters: 17, kernelSize: 3, activation: "relu", padding: "same" }));
      other.add(new MaxPooling2D({ poolSize: 3 }));
      other.add(new Flatten());
      other.add(new Dense({ units: 5, activation: "softmax" }));
      for (
        const [model, x] of [[cnn, images(37, 28, 28, 1, 7)], [
          other,
          images(9, 15, 13, 3, 8),
        ]] as const
      ) {
        model.compile({ optimizer: "rmsprop", loss: "categorical_crossentropy" });
        model.build();
        calls.all = calls.pooled = 0;
        const fused = model.predict(x, { batchSize: x.shape[0]! });
        // Two conv + pool pairs in each model; the 3x3 pooling does not fuse.
        assert.deepEqual(calls, model === cnn ? { all: 4, pooled: 2 } : { all: 2, pooled: 1 });
        const reference = layerByLayer(model, x);
        assert.deepEqual(fused.shape, reference.shape);
        assertBitwise(fused.data, reference.data, `${name} ${model.layers.length} layers`);
      }
    } finally {
      real.dispose();
    }
  });
}
