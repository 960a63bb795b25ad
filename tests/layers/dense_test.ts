import assert from "node:assert/strict";
import { cpuBackend } from "../../engine/backend.ts";
import { Random } from "../../engine/random.ts";
import { Dense, type DenseOptions } from "../../layers/dense.ts";
import {
  assertMaxRelError,
  buildLayer,
  checkLayerGradients,
  randomArray,
  randomTensor,
  trainingContext,
} from "../_helpers.ts";

const CASES: [number[], DenseOptions][] = [
  [[3, 7], { units: 5 }],
  [[1, 17], { units: 3, activation: "tanh" }],
  [[3, 5], { units: 4, activation: "sigmoid" }],
  [[3, 6], { units: 7, activation: "softmax" }],
  [[1, 1], { units: 1 }],
  [[2, 9], { units: 3, useBias: false, activation: "tanh" }],
];

for (const [x, options] of CASES) {
  const name = `dense backward matches finite differences for x=[${x}] units=${options.units} ` +
    `${options.activation ?? "linear"}${options.useBias === false ? " no bias" : ""}`;
  Deno.test(name, () => {
    const random = new Random(x[0]! * 31 + x[1]!);
    const layer = new Dense(options);
    buildLayer(layer, x.slice(1), random);
    const pairs = checkLayerGradients(layer, randomTensor(random, x), random);
    assert.equal(pairs.length, options.useBias === false ? 2 : 3);
  });
}

Deno.test("dense relu forward and backward equal the linear dense masked by y>0 for x=[3,17] units=10", () => {
  const random = new Random(81);
  const act = new Dense({ units: 10, activation: "relu" });
  const lin = new Dense({ units: 10 });
  const a = buildLayer(act, [17], random);
  buildLayer(lin, [17], random).values.set(a.values);
  const input = randomTensor(random, [3, 17]);
  const ca = trainingContext(random), cl = trainingContext(random);
  const ya = act.forward(input, ca).data.slice();
  const yl = lin.forward(input, cl).data.slice();
  assert.deepEqual(ya, yl.map((v) => Math.max(v, 0)));
  assert.ok(ya.some((v) => v === 0) && ya.some((v) => v > 0));
  const dy = randomArray(random, 30);
  const dxa = act.backward({ shape: [3, 10], data: dy }, ca)!.data.slice();
  const dxl = lin.backward({ shape: [3, 10], data: dy.map((v, i) => (yl[i]! > 0 ? v : 0)) }, cl)!;
  assertMaxRelError(dxa, dxl.data, 1e-6, "dx");
  assertMaxRelError(act.params[0]!.grad, lin.params[0]!.grad, 1e-6, "dkernel");
  assertMaxRelError(act.params[1]!.grad, lin.params[1]!.grad, 1e-6, "dbias");
});

Deno.test("dense softmax backward with fromLogits uses dy as dz for x=[3,5] units=4", () => {
  const random = new Random(82);
  const act = new Dense({ units: 4, activation: "softmax" });
  const lin = new Dense({ units: 4 });
  const a = buildLayer(act, [5], random);
  buildLayer(lin, [5], random).values.set(a.values);
  const input = randomTensor(random, [3, 5]);
  const ca = trainingContext(random), cl = trainingContext(random);
  const p = act.forward(input, ca).data;
  for (let r = 0; r < 3; r++) {
    const s = p.subarray(r * 4, r * 4 + 4).reduce((acc, v) => acc + v, 0);
    assert.ok(Math.abs(s - 1) < 1e-6);
  }
  lin.forward(input, cl);
  const dy = { shape: [3, 4], data: randomArray(random, 12) };
  assert.deepEqual(
    act.backward(dy, ca, { fromLogits: true })!.data.slice(),
    lin.backward(dy, cl)!.data,
  );
  assert.deepEqual(act.params[0]!.grad, lin.params[0]!.grad);
});

Deno.test("dense forward by hand for x=[2,3] units=2 with kernel [[1,2],[3,4],[5,6]] and bias [0.5,-0.5]", () => {
  const random = new Random(83);
  const layer = new Dense({ units: 2 });
  buildLayer(layer, [3], random).values.set([1, 2, 3, 4, 5, 6, 0.5, -0.5]);
  const y = layer.forward({ shape: [2, 3], data: Float32Array.of(1, 2, 3, -1, 0, 1) }, {
    backend: cpuBackend,
    training: false,
    tape: null,
    random,
  });
  assert.deepEqual(y.shape, [2, 2]);
  assert.deepEqual([...y.data], [22.5, 27.5, 4.5, 3.5]);
});

Deno.test("dense backward accumulates gradients and skipInputGradient returns null for x=[3,4] units=2", () => {
  const random = new Random(84);
  const layer = new Dense({ units: 2, activation: "tanh" });
  const store = buildLayer(layer, [4], random);
  const input = randomTensor(random, [3, 4]);
  const dy = { shape: [3, 2], data: randomArray(random, 6) };
  const ctx = trainingContext(random);
  layer.forward(input, ctx);
  assert.notEqual(layer.backward(dy, ctx), null);
  const once = store.grads.slice();
  layer.forward(input, ctx);
  assert.equal(layer.backward(dy, ctx, { skipInputGradient: true }), null);
  assertMaxRelError(store.grads, once.map((v) => 2 * v), 1e-6, "grads");
});

Deno.test("dense built on [1600] units=64: kernel [1600,64] + bias [64] = 102464 params, output [64]", () => {
  const layer = new Dense({ units: 64, activation: "relu" });
  buildLayer(layer, [1600], new Random(1), true);
  assert.equal(layer.paramCount(), 102464);
  assert.deepEqual([...layer.computeOutputShape([1600])], [64]);
  assert.deepEqual(layer.params.map((p) => [p.name, [...p.shape]]), [
    ["kernel", [1600, 64]],
    ["bias", [64]],
  ]);
  const limit = Math.fround(Math.sqrt(6 / (1600 + 64)));
  assert.ok(layer.params[0]!.value.every((v) => Math.abs(v) <= limit));
  assert.ok(layer.params[1]!.value.every((v) => v === 0));
});

Deno.test("dense defaults: linear, bias, glorot_uniform kernel, zeros bias", () => {
  const layer = new Dense({ units: 3 });
  assert.equal(layer.activation, "linear");
  assert.equal(layer.useBias, true);
  assert.equal(layer.kernelInitializer, "glorot_uniform");
  assert.equal(layer.biasInitializer, "zeros");
  assert.equal(layer.getConfig().units, 3);
});

Deno.test("dense computeOutputShape rejects an image input [5,5,3] with a hint to Flatten", () => {
  assert.throws(
    () => new Dense({ units: 3 }).computeOutputShape([5, 5, 3]),
    (e: unknown) => e instanceof TypeError && /5,5,3/.test(e.message) && /Flatten/.test(e.message),
  );
});

const BAD: [string, Partial<DenseOptions>, RegExp][] = [
  ["units 0", { units: 0 }, /units.*0/],
  ["units -1", { units: -1 }, /units.*-1/],
  ["units 2.5", { units: 2.5 }, /units.*2\.5/],
  ["units '3'", { units: "3" as unknown as number }, /units.*"3"/],
  ["activation swish", { activation: "swish" as "relu" }, /activation.*"swish"/],
  ["useBias 'yes'", { useBias: "yes" as unknown as boolean }, /useBias.*"yes"/],
  ["kernelInitializer nope", { kernelInitializer: "nope" }, /kernelInitializer.*"nope"/],
];

for (const [what, bad, pattern] of BAD) {
  Deno.test(`dense constructor rejects ${what} with an error naming the option and value`, () => {
    assert.throws(
      () => new Dense({ units: 2, ...bad } as DenseOptions),
      (e: unknown) => e instanceof Error && pattern.test(e.message) && /Dense/.test(e.message),
    );
  });
}
