import assert from "node:assert/strict";
import { cpuBackend } from "../../engine/backend.ts";
import { Random } from "../../engine/random.ts";
import { AveragePooling2D } from "../../layers/average_pooling2d.ts";
import type { Pooling2DOptions } from "../../layers/pooling2d.ts";
import {
  assertAllClose,
  buildLayer,
  checkLayerGradients,
  randomArray,
  randomTensor,
  trainingContext,
} from "../_helpers.ts";

const CASES: [[number, number, number, number], Pooling2DOptions][] = [
  [[3, 7, 9, 5], { poolSize: [3, 2], strides: 2, padding: "same" }],
  [[1, 5, 5, 3], { poolSize: 2 }],
  [[3, 7, 7, 1], { poolSize: 3, strides: 1, padding: "same" }],
  [[2, 6, 5, 17], { poolSize: 2, strides: [2, 1], padding: "same" }],
  [[1, 5, 5, 3], { poolSize: 5, strides: 3, padding: "same" }],
];

for (const [x, options] of CASES) {
  const name = `average_pooling2d backward matches finite differences for x=[${x}] ` +
    `pool=${options.poolSize} s=${options.strides ?? options.poolSize} ${
      options.padding ?? "valid"
    }`;
  Deno.test(name, () => {
    const random = new Random(x.reduce((a, b) => a * 13 + b, 5));
    const layer = new AveragePooling2D(options);
    buildLayer(layer, x.slice(1), random);
    checkLayerGradients(layer, randomTensor(random, x), random);
  });
}

Deno.test("average_pooling2d same padding averages in-image taps only: x=[1,3,3,1] pool=2 s=2 same", () => {
  const random = new Random(1);
  const layer = new AveragePooling2D({ poolSize: 2, padding: "same" });
  buildLayer(layer, [3, 3, 1], random);
  const ctx = trainingContext(random);
  const y = layer.forward(
    { shape: [1, 3, 3, 1], data: Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9) },
    ctx,
  );
  assert.deepEqual(y.shape, [1, 2, 2, 1]);
  assert.deepEqual([...y.data], [3, 4.5, 7.5, 9]);
  const dx = layer.backward({ shape: [1, 2, 2, 1], data: Float32Array.of(4, 2, 2, 1) }, ctx)!;
  assert.deepEqual([...dx.data], [1, 1, 1, 1, 1, 1, 1, 1, 1]);
});

Deno.test("average_pooling2d of a constant x=[2,7,9,5] pool=3x2 s=2 same is that constant", () => {
  const random = new Random(2);
  const layer = new AveragePooling2D({ poolSize: [3, 2], strides: 2, padding: "same" });
  buildLayer(layer, [7, 9, 5], random);
  const y = layer.forward({ shape: [2, 7, 9, 5], data: new Float32Array(630).fill(0.75) }, {
    backend: cpuBackend,
    training: false,
    tape: null,
    random,
  });
  assert.deepEqual(y.shape, [2, 4, 5, 5]);
  assertAllClose(y.data, new Float32Array(200).fill(0.75), { rel: 1e-6, abs: 0 }, "y");
});

Deno.test("average_pooling2d skipInputGradient returns null for x=[1,4,4,3]", () => {
  const random = new Random(3);
  const layer = new AveragePooling2D();
  buildLayer(layer, [4, 4, 3], random);
  const ctx = trainingContext(random);
  layer.forward({ shape: [1, 4, 4, 3], data: randomArray(random, 48) }, ctx);
  const dy = { shape: [1, 2, 2, 3], data: new Float32Array(12) };
  assert.equal(layer.backward(dy, ctx, { skipInputGradient: true }), null);
});

Deno.test("average_pooling2d defaults: poolSize [2,2], strides = poolSize, padding valid; [5,5,3] -> [2,2,3]", () => {
  const layer = new AveragePooling2D();
  assert.deepEqual(layer.poolSize, [2, 2]);
  assert.deepEqual(layer.strides, [2, 2]);
  assert.equal(layer.padding, "valid");
  assert.equal(layer.className, "AveragePooling2D");
  assert.deepEqual([...layer.computeOutputShape([5, 5, 3])], [2, 2, 3]);
  assert.deepEqual(new AveragePooling2D({ poolSize: [2, 3] }).strides, [2, 3]);
  assert.deepEqual(
    [...new AveragePooling2D({ poolSize: 3, strides: 2, padding: "same" }).computeOutputShape([
      7,
      7,
      5,
    ])],
    [4, 4, 5],
  );
});

const BAD: [string, Pooling2DOptions, RegExp][] = [
  ["poolSize 0", { poolSize: 0 }, /poolSize.*0/],
  ["strides [0,2]", { strides: [0, 2] }, /strides.*\[0,2\]/],
  ["padding causal", { padding: "causal" as "same" }, /padding.*"causal"/],
];

for (const [what, bad, pattern] of BAD) {
  Deno.test(`average_pooling2d constructor rejects ${what} with an error naming the option and value`, () => {
    assert.throws(
      () => new AveragePooling2D(bad),
      (e: unknown) =>
        e instanceof RangeError && pattern.test(e.message) && /AveragePooling2D/.test(e.message),
    );
  });
}
