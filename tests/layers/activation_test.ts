import assert from "node:assert/strict";
import { ACTIVATION_NAMES } from "../../engine/kernels/activations.ts";
import { Random } from "../../engine/random.ts";
import { Activation } from "../../layers/activation.ts";
import {
  awayFromZero,
  buildLayer,
  checkLayerGradients,
  randomTensor,
  trainingContext,
} from "../_helpers.ts";

for (const name of ACTIVATION_NAMES) {
  for (const x of [[3, 4, 5], [1, 7], [3, 2, 3, 5]]) {
    Deno.test(`activation ${name} backward matches finite differences for x=[${x}]`, () => {
      const random = new Random(x.length * 10 + name.length);
      const layer = new Activation({ activation: name });
      buildLayer(layer, x.slice(1), random);
      // |x| >= 0.1 so the relu kink stays out of reach of the 1e-2 step
      const size = x.reduce((a, b) => a * b, 1);
      checkLayerGradients(layer, { shape: x, data: awayFromZero(random, size, 0.1, 2) }, random);
    });
  }
}

Deno.test("activation relu forward and backward by hand for x=[1,4]: mask from the output", () => {
  const random = new Random(1);
  const layer = new Activation({ activation: "relu" });
  buildLayer(layer, [4], random);
  const ctx = trainingContext(random);
  const y = layer.forward({ shape: [1, 4], data: Float32Array.of(-1, 2, 0, 3) }, ctx);
  assert.deepEqual([...y.data], [0, 2, 0, 3]);
  const dx = layer.backward({ shape: [1, 4], data: Float32Array.of(5, 6, 7, 8) }, ctx)!;
  assert.deepEqual([...dx.data], [0, 6, 0, 8]);
});

Deno.test("activation softmax runs along the last axis for x=[2,2,3]: every row of 3 sums to 1", () => {
  const random = new Random(2);
  const layer = new Activation({ activation: "softmax" });
  buildLayer(layer, [2, 3], random);
  const y = layer.forward(randomTensor(random, [2, 2, 3], -3, 3), trainingContext(random));
  assert.deepEqual(y.shape, [2, 2, 3]);
  for (let r = 0; r < 4; r++) {
    const s = y.data[r * 3]! + y.data[r * 3 + 1]! + y.data[r * 3 + 2]!;
    assert.ok(Math.abs(s - 1) < 1e-6, `row ${r}: ${s}`);
  }
});

Deno.test("activation softmax backward with fromLogits returns dy unchanged for x=[2,3]", () => {
  const random = new Random(3);
  const layer = new Activation({ activation: "softmax" });
  buildLayer(layer, [3], random);
  const ctx = trainingContext(random);
  layer.forward(randomTensor(random, [2, 3]), ctx);
  const dy = randomTensor(random, [2, 3]);
  assert.equal(layer.backward(dy, ctx, { fromLogits: true }), dy);
  assert.equal(layer.backward(dy, ctx, { skipInputGradient: true }), null);
});

Deno.test("activation does not modify its input x=[2,5] (tanh)", () => {
  const random = new Random(4);
  const layer = new Activation({ activation: "tanh" });
  buildLayer(layer, [5], random);
  const x = randomTensor(random, [2, 5]);
  const before = x.data.slice();
  layer.forward(x, trainingContext(random));
  assert.deepEqual(x.data, before);
});

Deno.test("activation keeps its shape and config: [4,4,3] -> [4,4,3], activation relu", () => {
  const layer = new Activation({ activation: "relu" });
  assert.deepEqual([...layer.computeOutputShape([4, 4, 3])], [4, 4, 3]);
  assert.equal(layer.getConfig().activation, "relu");
  assert.deepEqual(layer.paramSpecs([4, 4, 3]), []);
});

for (const bad of ["swish", "ReLU", 3, ""]) {
  Deno.test(`activation constructor rejects ${JSON.stringify(bad)} naming the option and value`, () => {
    assert.throws(
      () => new Activation({ activation: bad as "relu" }),
      (e: unknown) =>
        e instanceof RangeError && /Activation/.test(e.message) && /activation/.test(e.message) &&
        e.message.includes(typeof bad === "string" ? `"${bad}"` : String(bad)),
    );
  });
}
