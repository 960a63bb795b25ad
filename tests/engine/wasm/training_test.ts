/**
 * The WASM backend as the model uses it: the seed CNN's training step on 1 and 2 workers against
 * the TypeScript backend, bitwise determinism across worker counts where the kernels promise it,
 * the contention guard's solo calls (bitwise those of parallel ones), and a worker fault in the
 * middle of a real training step (the step fails, naming the kernel, within a second; the next
 * steps succeed and match a fault-free run bitwise).
 *
 * Run: deno test -A tests/engine/wasm/
 */

import assert from "node:assert/strict";
import { from } from "rxjs";
import type { Backend } from "../../../engine/backend.ts";
import { cpuBackend } from "../../../engine/backend.ts";
import { simdSupported } from "../../../engine/wasm/codegen.ts";
import {
  createWasmBackend,
  isWasmBackend,
  type WasmBackend,
} from "../../../engine/wasm/wasm_backend.ts";
import type { Batch, StepMetrics } from "../../../layers/step.ts";
import { mnistCnn } from "../../../pipelines/models.ts";
import type { Sequential } from "../../../pipelines/sequential.ts";
import { train } from "../../../pipelines/train.ts";

const available = simdSupported();

/** A deterministic batch of `n` MNIST-shaped images with one-hot labels. */
function batchOf(n: number, seed: number): Batch {
  const x = new Float32Array(n * 784);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    x[i] = (s >>> 8) / 2 ** 24 < 0.7 ? 0 : (s >>> 8) / 2 ** 24;
  }
  const y = new Float32Array(n * 10);
  for (let i = 0; i < n; i++) y[i * 10 + ((i * 7 + seed) % 10)] = 1;
  return { x: { shape: [n, 28, 28, 1], data: x }, y: { shape: [n, 10], data: y } };
}

function model(backend: Backend, optimizer: "rmsprop" | "sgd" = "rmsprop"): Sequential {
  const m = mnistCnn({ seed: 3, backend });
  m.compile({ optimizer, loss: "categorical_crossentropy", metrics: ["accuracy"] });
  m.build();
  return m;
}

/** Runs one training step synchronously; returns its metrics or throws its error. */
function step(m: Sequential, batch: Batch): StepMetrics {
  let out: StepMetrics | null = null;
  let error: unknown = null;
  from([batch]).pipe(train(m)).subscribe({
    next: (v) => (out = v),
    error: (e) => (error = e),
  });
  if (error !== null) throw error;
  assert.ok(out !== null, "the step emitted no metrics");
  return out;
}

async function wasm(workers: number): Promise<WasmBackend> {
  const be = await createWasmBackend({ workers });
  assert.ok(isWasmBackend(be), `expected the wasm backend, got ${be.name}`);
  return be;
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 0, diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  return diff / (scale || 1);
}

Deno.test({
  name: "seed CNN training steps on wasm (1 and 2 workers) track the TypeScript backend",
  ignore: !available,
  fn: async () => {
    const batches = [batchOf(16, 1), batchOf(16, 2), batchOf(16, 3)];
    const ref = model(cpuBackend);
    const refLoss = batches.map((b) => step(ref, b).loss);
    // The parameters are compared after SGD steps: RMSprop divides each gradient by its own
    // running magnitude, so a gradient near zero whose sign differs by rounding (the Winograd
    // kernel gradient rounds differently from the direct one) moves its weight by a whole
    // step either way; SGD's update is the gradient itself, so it shows the kernels' accuracy.
    const refSgd = model(cpuBackend, "sgd");
    for (const b of batches) step(refSgd, b);
    for (const workers of [1, 2]) {
      const be = await wasm(workers);
      try {
        const m = model(be);
        batches.forEach((b, i) => {
          const loss = step(m, b).loss;
          assert.ok(
            Math.abs(loss - refLoss[i]!) < 1e-4 * Math.max(1, Math.abs(refLoss[i]!)),
            `step ${i} on ${be.name}: loss ${loss} vs ${refLoss[i]} on cpu`,
          );
        });
        const sgd = model(be, "sgd");
        for (const b of batches) step(sgd, b);
        const e = maxRelDiff(sgd.store.values, refSgd.store.values);
        assert.ok(e < 1e-4, `parameters after 3 SGD steps on ${be.name}: relative difference ${e}`);
      } finally {
        be.dispose();
      }
    }
  },
});

Deno.test({
  name: "parallel calls run on the main thread alone (a busy machine) train bitwise the same",
  ignore: !available,
  fn: async () => {
    const batches = [batchOf(32, 8), batchOf(32, 9), batchOf(32, 10)];
    const runs: Float32Array[] = [];
    for (const solo of [false, true]) {
      const be = await wasm(2);
      try {
        if (solo) be.testForceSolo(1_000_000);
        const m = model(be);
        for (const b of batches) step(m, b);
        runs.push(m.store.values.slice());
        // (The parallel run may have probed solo calls too, on a busy machine: the same bits.)
        if (solo) assert.ok(be.contention.soloCalls >= 3 * 20, `${be.contention.soloCalls}`);
      } finally {
        be.dispose();
      }
    }
    assert.deepEqual(
      new Uint32Array(runs[1]!.buffer),
      new Uint32Array(runs[0]!.buffer),
      "parameters differ bitwise between solo and parallel calls",
    );
  },
});

Deno.test({
  name: "a worker crash or stop in a training step fails that step and training goes on",
  ignore: !available,
  fn: async () => {
    const batches = [batchOf(32, 4), batchOf(32, 5), batchOf(32, 6), batchOf(32, 7)];
    // A fault-free reference on the same worker count.
    const clean = await wasm(2);
    let expected: Float32Array;
    try {
      const m = model(clean);
      for (const b of batches) step(m, b);
      expected = m.store.values.slice();
    } finally {
      clean.dispose();
    }
    for (const mode of ["crash", "close"] as const) {
      const be = await wasm(2);
      try {
        const m = model(be);
        step(m, batches[0]!);
        // The worker faults when it next starts a chunk of work, in whichever kernel that is
        // (usually the first of the next step; the main thread may have claimed all of a call).
        be.testArm(1, mode);
        let failed = false;
        for (let k = 1; k < batches.length; k++) {
          const t0 = performance.now();
          try {
            step(m, batches[k]!);
          } catch (e) {
            assert.ok(!failed, "only one step fails");
            failed = true;
            const ms = performance.now() - t0;
            assert.ok(ms < 1000, `${mode}: the step failed after ${ms.toFixed(0)} ms`);
            assert.match(
              String(e),
              // (any kernel: the worker may miss a step's first calls, and the next one it
              // claims may be a filter transform)
              /wasm backend: (conv2d|dense|maxPool|relu|winograd|rmsprop)\w+ failed in worker 1, which (crashed|did not finish)/,
            );
            // The failed step stopped before the optimizer: the same batch again, with the main
            // thread (and soon the replacement worker) doing the dead worker's chunks.
            step(m, batches[k]!);
          }
        }
        assert.ok(failed, `${mode}: no step failed`);
        await be.whenReady();
        assert.equal(be.activeWorkers, 1);
        assert.deepEqual(
          new Uint32Array(m.store.values.buffer, m.store.values.byteOffset, m.store.values.length),
          new Uint32Array(expected.buffer),
          `${mode}: parameters differ bitwise from the fault-free run`,
        );
      } finally {
        be.dispose();
      }
    }
  },
});

Deno.test({
  name:
    "with retrySteps, fit reruns a step whose worker crashed and ends bitwise equal to a fault-free run",
  ignore: !available,
  fn: async () => {
    const batches = [batchOf(32, 4), batchOf(32, 5), batchOf(32, 6), batchOf(32, 7)];
    const clean = await wasm(2);
    let expected: Float32Array;
    try {
      const m = model(clean);
      await m.fit(batches, { epochs: 1, verbose: 0, shuffle: false });
      expected = m.store.values.slice();
    } finally {
      clean.dispose();
    }
    const be = await wasm(2);
    try {
      const m = model(be);
      m.retrySteps = 1;
      await m.fit(batches, {
        epochs: 1,
        verbose: 0,
        callbacks: [{ onBatchEnd: (s) => void (s.step === 1 && be.testArm(1, "crash")) }],
      });
      assert.equal(m.retriedSteps, 1);
      assert.deepEqual(
        new Uint32Array(m.store.values.buffer, m.store.values.byteOffset, m.store.values.length),
        new Uint32Array(expected.buffer),
        "parameters differ bitwise from the fault-free run",
      );
    } finally {
      be.dispose();
    }
  },
});
