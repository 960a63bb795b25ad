import assert from "node:assert/strict";
import { cpuBackend } from "../../engine/backend.ts";
import { Random } from "../../engine/random.ts";
import { Dropout } from "../../layers/dropout.ts";
import { Tape } from "../../layers/layer.ts";
import {
  buildLayer,
  checkLayerGradients,
  randomArray,
  randomTensor,
  trainingContext,
} from "../_helpers.ts";

for (const [x, rate] of [[[3, 4, 5], 0.4], [[1, 17], 0.5], [[3, 2, 3, 5], 0.1]] as const) {
  Deno.test(`dropout training backward matches finite differences for x=[${x}] rate=${rate}`, () => {
    const random = new Random(rate * 100);
    const layer = new Dropout({ rate });
    buildLayer(layer, x.slice(1), random);
    checkLayerGradients(layer, randomTensor(random, x), random);
  });
}

Deno.test("dropout inference backward matches finite differences for x=[3,4,5] rate=0.5", () => {
  const random = new Random(5);
  const layer = new Dropout({ rate: 0.5 });
  buildLayer(layer, [4, 5], random);
  checkLayerGradients(layer, randomTensor(random, [3, 4, 5]), random, { training: false });
});

Deno.test("dropout training x=[10,1000] rate=0.3: each value is 0 or x/0.7, about 30% dropped, dx = dy * mask", () => {
  const random = new Random(6);
  const layer = new Dropout({ rate: 0.3 });
  buildLayer(layer, [1000], random);
  const x = { shape: [10, 1000], data: randomArray(random, 10000, 0.5, 1.5) };
  const ctx = trainingContext(random);
  const y = layer.forward(x, ctx);
  assert.deepEqual(y.shape, [10, 1000]);
  let dropped = 0;
  for (let i = 0; i < 10000; i++) {
    if (y.data[i] === 0) dropped++;
    else assert.ok(Math.abs(y.data[i]! - x.data[i]! / 0.7) < 1e-6, `element ${i}`);
  }
  assert.ok(Math.abs(dropped / 10000 - 0.3) < 0.02, `dropped ${dropped}`);
  const ySaved = y.data.slice();
  const dx = layer.backward({ shape: [10, 1000], data: new Float32Array(10000).fill(2) }, ctx)!;
  for (let i = 0; i < 10000; i++) {
    assert.equal(dx.data[i], ySaved[i] === 0 ? 0 : Math.fround(2 * Math.fround(1 / 0.7)));
  }
});

Deno.test("dropout training preserves the expected sum: mean of y over x=[1,20000] of ones is near 1", () => {
  const random = new Random(7);
  const layer = new Dropout({ rate: 0.5 });
  buildLayer(layer, [20000], random);
  const y = layer.forward(
    { shape: [1, 20000], data: new Float32Array(20000).fill(1) },
    trainingContext(random),
  );
  const mean = y.data.reduce((a, v) => a + v, 0) / 20000;
  assert.ok(Math.abs(mean - 1) < 0.03, `mean ${mean}`);
});

Deno.test("dropout mask is reproducible from the seed and differs between steps, x=[2,50] rate=0.5", () => {
  const run = (seed: number) => {
    const random = new Random(seed);
    const layer = new Dropout({ rate: 0.5 });
    buildLayer(layer, [50], random);
    const x = { shape: [2, 50], data: new Float32Array(100).fill(1) };
    const a = layer.forward(x, trainingContext(random)).data.slice();
    const b = layer.forward(x, trainingContext(random)).data.slice();
    return { a, b };
  };
  const r1 = run(8), r2 = run(8);
  assert.deepEqual(r1.a, r2.a);
  assert.deepEqual(r1.b, r2.b);
  assert.notDeepEqual(r1.a, r1.b);
});

Deno.test("dropout inference x=[3,4] is the identity: same tensor out, dy back unchanged", () => {
  const random = new Random(9);
  const layer = new Dropout({ rate: 0.5 });
  buildLayer(layer, [4], random);
  const x = randomTensor(random, [3, 4]);
  const ctx = { backend: cpuBackend, training: false, tape: new Tape(), random };
  const state = random.getState();
  assert.equal(layer.forward(x, ctx), x);
  assert.deepEqual(random.getState(), state, "inference draws no random numbers");
  const dy = randomTensor(random, [3, 4]);
  assert.equal(layer.backward(dy, ctx), dy);
  assert.equal(layer.forward(x, { ...ctx, tape: null }), x);
});

Deno.test("dropout rate 0 in training is the identity for x=[2,3]", () => {
  const random = new Random(10);
  const layer = new Dropout({ rate: 0 });
  buildLayer(layer, [3], random);
  const x = randomTensor(random, [2, 3]);
  const ctx = trainingContext(random);
  assert.equal(layer.forward(x, ctx), x);
  const dy = randomTensor(random, [2, 3]);
  assert.equal(layer.backward(dy, ctx), dy);
  assert.equal(layer.backward(dy, ctx, { skipInputGradient: true }), null);
});

Deno.test("dropout keeps its shape and config: [128] -> [128], rate 0.25", () => {
  const layer = new Dropout({ rate: 0.25 });
  assert.deepEqual([...layer.computeOutputShape([128])], [128]);
  const config = layer.getConfig();
  assert.equal(config.rate, 0.25);
  assert.equal(config.noiseShape, null);
});

for (const bad of [1, -0.1, 1.5, NaN, "0.5"]) {
  Deno.test(`dropout constructor rejects rate ${typeof bad === "string" ? `"${bad}"` : bad} naming the value`, () => {
    assert.throws(
      () => new Dropout({ rate: bad as number }),
      (e: unknown) =>
        e instanceof RangeError && /Dropout/.test(e.message) && /rate/.test(e.message) &&
        e.message.includes(typeof bad === "string" ? `"${bad}"` : `current value is ${bad}`),
    );
  });
}
