import assert from "node:assert/strict";
import { Random } from "../../engine/random.ts";
import { Flatten } from "../../layers/flatten.ts";
import { buildLayer, checkLayerGradients, randomTensor, trainingContext } from "../_helpers.ts";

for (const x of [[3, 4, 3, 5], [1, 2, 3, 1], [2, 7]]) {
  Deno.test(`flatten backward matches finite differences for x=[${x}]`, () => {
    const random = new Random(x.length);
    const layer = new Flatten();
    buildLayer(layer, x.slice(1), random);
    checkLayerGradients(layer, randomTensor(random, x), random);
  });
}

Deno.test("flatten forward of x=[3,4,3,5] is [3,60] sharing the input buffer in NHWC order", () => {
  const random = new Random(1);
  const layer = new Flatten();
  buildLayer(layer, [4, 3, 5], random);
  const x = randomTensor(random, [3, 4, 3, 5]);
  const ctx = trainingContext(random);
  const y = layer.forward(x, ctx);
  assert.deepEqual(y.shape, [3, 60]);
  assert.equal(y.data, x.data);
  const dy = randomTensor(random, [3, 60]);
  const dx = layer.backward(dy, ctx)!;
  assert.deepEqual(dx.shape, [3, 4, 3, 5]);
  assert.equal(dx.data, dy.data);
});

Deno.test("flatten computeOutputShape: [5,5,64] -> [1600], [7] -> [7], no params", () => {
  const layer = new Flatten();
  assert.deepEqual([...layer.computeOutputShape([5, 5, 64])], [1600]);
  assert.deepEqual([...layer.computeOutputShape([7])], [7]);
  assert.deepEqual(layer.paramSpecs([5, 5, 64]), []);
  assert.equal(layer.getConfig().dataFormat, "channels_last");
});

Deno.test("flatten skipInputGradient returns null for x=[2,2,2,1]", () => {
  const random = new Random(2);
  const layer = new Flatten();
  buildLayer(layer, [2, 2, 1], random);
  const ctx = trainingContext(random);
  layer.forward(randomTensor(random, [2, 2, 2, 1]), ctx);
  assert.equal(
    layer.backward(randomTensor(random, [2, 4]), ctx, { skipInputGradient: true }),
    null,
  );
});

Deno.test("flatten constructor rejects inputShape [3,-1] naming the value", () => {
  assert.throws(
    () => new Flatten({ inputShape: [3, -1] }),
    (e: unknown) =>
      e instanceof RangeError && /inputShape/.test(e.message) && /3,-1/.test(e.message),
  );
});
