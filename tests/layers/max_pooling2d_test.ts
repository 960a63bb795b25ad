import assert from "node:assert/strict";
import { cpuBackend } from "../../engine/backend.ts";
import { Random } from "../../engine/random.ts";
import { MaxPooling2D } from "../../layers/max_pooling2d.ts";
import type { Pooling2DOptions } from "../../layers/pooling2d.ts";
import {
  buildLayer,
  checkLayerGradients,
  distinctValues,
  randomArray,
  trainingContext,
} from "../_helpers.ts";

const CASES: [[number, number, number, number], Pooling2DOptions][] = [
  [[3, 7, 9, 5], { poolSize: [3, 2], strides: 2, padding: "same" }],
  [[1, 5, 5, 3], { poolSize: 2 }],
  [[3, 7, 7, 1], { poolSize: 3, strides: 1 }],
  [[2, 6, 5, 17], { poolSize: 2, strides: [2, 1], padding: "same" }],
  [[1, 5, 5, 3], { poolSize: 5, strides: 3, padding: "same" }],
];

for (const [x, options] of CASES) {
  const name = `max_pooling2d backward matches finite differences for x=[${x}] ` +
    `pool=${options.poolSize} s=${options.strides ?? options.poolSize} ${
      options.padding ?? "valid"
    }`;
  Deno.test(name, () => {
    const random = new Random(x.reduce((a, b) => a * 11 + b, 3));
    const layer = new MaxPooling2D(options);
    buildLayer(layer, x.slice(1), random);
    // values 0.02 apart and a step of 5e-3: a perturbation never changes a window's argmax
    const data = distinctValues(random, x.reduce((a, b) => a * b, 1), 0.02);
    checkLayerGradients(layer, { shape: x, data }, random, { h: 5e-3 });
  });
}

Deno.test("max_pooling2d forward by hand for x=[1,4,4,1] pool=2: maxima and scatter backward", () => {
  const random = new Random(1);
  const layer = new MaxPooling2D({ poolSize: 2 });
  buildLayer(layer, [4, 4, 1], random);
  const ctx = trainingContext(random);
  const x = Float32Array.of(1, 5, 2, 0, 3, 4, 8, 1, -1, -2, 0, 0, -3, -4, 0, 9);
  const y = layer.forward({ shape: [1, 4, 4, 1], data: x }, ctx);
  assert.deepEqual(y.shape, [1, 2, 2, 1]);
  assert.deepEqual([...y.data], [5, 8, -1, 9]);
  const dx = layer.backward({ shape: [1, 2, 2, 1], data: Float32Array.of(1, 2, 3, 4) }, ctx)!;
  assert.deepEqual(dx.shape, [1, 4, 4, 1]);
  const expected = new Array(16).fill(0);
  expected[1] = 1, expected[6] = 2, expected[8] = 3, expected[15] = 4;
  assert.deepEqual([...dx.data], expected);
});

Deno.test("max_pooling2d gradient of a tied window goes to the first maximum only, x=[1,2,2,1]", () => {
  const random = new Random(2);
  const layer = new MaxPooling2D({ poolSize: 2 });
  buildLayer(layer, [2, 2, 1], random);
  const ctx = trainingContext(random);
  layer.forward({ shape: [1, 2, 2, 1], data: Float32Array.of(2, 2, 2, 2) }, ctx);
  const dx = layer.backward({ shape: [1, 1, 1, 1], data: Float32Array.of(5) }, ctx)!;
  assert.deepEqual([...dx.data], [5, 0, 0, 0]);
});

Deno.test("max_pooling2d forward then backward twice in sequence routes each gradient to that batch's maximum, x=[1,2,2,1]", () => {
  const random = new Random(3);
  const layer = new MaxPooling2D({ poolSize: 2 });
  buildLayer(layer, [2, 2, 1], random);
  const c1 = trainingContext(random), c2 = trainingContext(random);
  layer.forward({ shape: [1, 2, 2, 1], data: Float32Array.of(9, 0, 0, 0) }, c1);
  const dx1 = layer.backward({ shape: [1, 1, 1, 1], data: Float32Array.of(1) }, c1)!.data.slice();
  layer.forward({ shape: [1, 2, 2, 1], data: Float32Array.of(0, 0, 0, 9) }, c2);
  const dx2 = layer.backward({ shape: [1, 1, 1, 1], data: Float32Array.of(1) }, c2)!.data.slice();
  assert.deepEqual([...dx1], [1, 0, 0, 0]);
  assert.deepEqual([...dx2], [0, 0, 0, 1]);
});

Deno.test("max_pooling2d skipInputGradient returns null for x=[1,4,4,2]", () => {
  const random = new Random(4);
  const layer = new MaxPooling2D();
  buildLayer(layer, [4, 4, 2], random);
  const ctx = trainingContext(random);
  layer.forward({ shape: [1, 4, 4, 2], data: randomArray(random, 32) }, ctx);
  assert.equal(
    layer.backward({ shape: [1, 2, 2, 2], data: new Float32Array(8) }, ctx, {
      skipInputGradient: true,
    }),
    null,
  );
});

Deno.test("max_pooling2d in inference (tape null) returns the maxima for x=[2,3,3,1] pool=2 s=1", () => {
  const random = new Random(5);
  const layer = new MaxPooling2D({ poolSize: 2, strides: 1 });
  buildLayer(layer, [3, 3, 1], random);
  const x = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -2, -3, -4, -5, -6, -7, -8, -9);
  const y = layer.forward({ shape: [2, 3, 3, 1], data: x }, {
    backend: cpuBackend,
    training: false,
    tape: null,
    random,
  });
  assert.deepEqual([...y.data], [5, 6, 8, 9, -1, -2, -4, -5]);
});

Deno.test("max_pooling2d defaults: poolSize [2,2], strides = poolSize, padding valid, no params", () => {
  const layer = new MaxPooling2D();
  assert.deepEqual(layer.poolSize, [2, 2]);
  assert.deepEqual(layer.strides, [2, 2]);
  assert.equal(layer.padding, "valid");
  assert.deepEqual(new MaxPooling2D({ poolSize: [3, 2] }).strides, [3, 2]);
  assert.deepEqual(new MaxPooling2D({ poolSize: 3, strides: null }).strides, [3, 3]);
  assert.deepEqual(new MaxPooling2D({ poolSize: 3, strides: 1 }).strides, [1, 1]);
  assert.deepEqual(layer.paramSpecs([4, 4, 1]), []);
  const config = layer.getConfig();
  assert.deepEqual(config.poolSize, [2, 2]);
  assert.deepEqual(config.strides, [2, 2]);
  assert.equal(config.padding, "valid");
});

Deno.test("max_pooling2d output shapes: [24,24,32] pool 2 -> [12,12,32]; [5,5,64] -> [2,2,64]; [7,9,5] 3x2 s2 same -> [4,5,5]", () => {
  assert.deepEqual([...new MaxPooling2D().computeOutputShape([24, 24, 32])], [12, 12, 32]);
  assert.deepEqual([...new MaxPooling2D().computeOutputShape([5, 5, 64])], [2, 2, 64]);
  assert.deepEqual(
    [...new MaxPooling2D({ poolSize: [3, 2], strides: 2, padding: "same" }).computeOutputShape([
      7,
      9,
      5,
    ])],
    [4, 5, 5],
  );
});

Deno.test("max_pooling2d computeOutputShape rejects [1,1,3] under pool 2 valid and rank-1 input [10]", () => {
  assert.throws(() => new MaxPooling2D().computeOutputShape([1, 1, 3]), /empty/);
  assert.throws(() => new MaxPooling2D().computeOutputShape([10]), TypeError);
});

const BAD: [string, Pooling2DOptions, RegExp][] = [
  ["poolSize 0", { poolSize: 0 }, /poolSize.*0/],
  ["poolSize [2,-1]", { poolSize: [2, -1] }, /poolSize.*\[2,-1\]/],
  ["strides 0", { strides: 0 }, /strides.*0/],
  ["strides 1.5", { strides: 1.5 }, /strides.*1\.5/],
  ["padding full", { padding: "full" as "same" }, /padding.*"full"/],
];

for (const [what, bad, pattern] of BAD) {
  Deno.test(`max_pooling2d constructor rejects ${what} with an error naming the option and value`, () => {
    assert.throws(
      () => new MaxPooling2D(bad),
      (e: unknown) =>
        e instanceof RangeError && pattern.test(e.message) && /MaxPooling2D/.test(e.message),
    );
  });
}
