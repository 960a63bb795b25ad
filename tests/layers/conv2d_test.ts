import assert from "node:assert/strict";
import { cpuBackend } from "../../engine/backend.ts";
import type { ActivationName } from "../../engine/kernels/activations.ts";
import { Random } from "../../engine/random.ts";
import { Conv2D, type Conv2DOptions } from "../../layers/conv2d.ts";
import { Tape } from "../../layers/layer.ts";
import {
  assertMaxRelError,
  buildLayer,
  checkLayerGradients,
  randomArray,
  randomTensor,
  trainingContext,
} from "../_helpers.ts";

interface Case {
  x: [number, number, number, number];
  options: Conv2DOptions;
}

const k = (o: Conv2DOptions) => Array.isArray(o.kernelSize) ? o.kernelSize.join("x") : o.kernelSize;
const CASES: Case[] = [
  { x: [2, 7, 7, 3], options: { filters: 4, kernelSize: 3, strides: 2, padding: "same" } },
  {
    x: [3, 7, 9, 5],
    options: { filters: 6, kernelSize: [3, 2], strides: 2, padding: "same", activation: "tanh" },
  },
  {
    x: [1, 7, 9, 1],
    options: {
      filters: 3,
      kernelSize: [3, 2],
      strides: 1,
      padding: "valid",
      activation: "sigmoid",
    },
  },
  { x: [3, 5, 5, 3], options: { filters: 5, kernelSize: 1, strides: 3, padding: "valid" } },
  { x: [1, 5, 5, 17], options: { filters: 3, kernelSize: 5, padding: "same", activation: "tanh" } },
  {
    x: [3, 6, 5, 2],
    options: {
      filters: 5,
      kernelSize: [2, 3],
      strides: [2, 1],
      padding: "same",
      activation: "softmax",
    },
  },
  {
    x: [2, 6, 6, 3],
    options: { filters: 2, kernelSize: 3, strides: 2, padding: "valid", useBias: false },
  },
];

for (const { x, options } of CASES) {
  const name = `conv2d backward matches finite differences for x=[${x}] k=${k(options)} ` +
    `s=${options.strides ?? 1} ${options.padding ?? "valid"} filters=${options.filters} ` +
    `${options.activation ?? "linear"}${options.useBias === false ? " no bias" : ""}`;
  Deno.test(name, () => {
    const random = new Random(x.reduce((a, b) => a * 7 + b, 1));
    const layer = new Conv2D(options);
    buildLayer(layer, x.slice(1), random);
    const pairs = checkLayerGradients(layer, randomTensor(random, x), random);
    assert.deepEqual(
      pairs.map((p) => p.name),
      options.useBias === false ? ["dx", "dkernel"] : ["dx", "dkernel", "dbias"],
    );
  });
}

/** Two Conv2D layers with the same kernel and bias, one with `activation`, one linear. */
function twins(x: number[], options: Conv2DOptions, activation: ActivationName, random: Random) {
  const act = new Conv2D({ ...options, activation });
  const lin = new Conv2D({ ...options, activation: "linear" });
  const a = buildLayer(act, x.slice(1), random);
  const l = buildLayer(lin, x.slice(1), random);
  l.values.set(a.values);
  return { act, lin };
}

Deno.test("conv2d relu forward and backward equal the linear conv masked by y>0 for x=[3,7,9,5] k=3x2 s=2 same", () => {
  const random = new Random(71);
  const x = [3, 7, 9, 5];
  const { act, lin } = twins(
    x,
    { filters: 6, kernelSize: [3, 2], strides: 2, padding: "same" },
    "relu",
    random,
  );
  const input = randomTensor(random, x);
  const ca = trainingContext(random), cl = trainingContext(random);
  const ya = act.forward(input, ca).data.slice();
  const yl = lin.forward(input, cl).data.slice();
  assert.deepEqual(ya, yl.map((v) => Math.max(v, 0)));
  assert.ok(ya.some((v) => v === 0) && ya.some((v) => v > 0), "the relu both passes and blocks");
  const dy = randomArray(random, ya.length);
  const dxa = act.backward({ shape: [3, 4, 5, 6], data: dy }, ca)!.data.slice();
  const dxl = lin.backward(
    { shape: [3, 4, 5, 6], data: dy.map((v, i) => (yl[i]! > 0 ? v : 0)) },
    cl,
  )!;
  assertMaxRelError(dxa, dxl.data, 1e-6, "dx");
  assertMaxRelError(act.params[0]!.grad, lin.params[0]!.grad, 1e-6, "dkernel");
  assertMaxRelError(act.params[1]!.grad, lin.params[1]!.grad, 1e-6, "dbias");
});

Deno.test("conv2d softmax backward with fromLogits passes dy through as dz for x=[2,5,5,3] k=3 same", () => {
  const random = new Random(72);
  const x = [2, 5, 5, 3];
  const { act, lin } = twins(x, { filters: 4, kernelSize: 3, padding: "same" }, "softmax", random);
  const input = randomTensor(random, x);
  const ca = trainingContext(random), cl = trainingContext(random);
  act.forward(input, ca);
  lin.forward(input, cl);
  const dy = { shape: [2, 5, 5, 4], data: randomArray(random, 200) };
  const dxa = act.backward(dy, ca, { fromLogits: true })!.data.slice();
  const dxl = lin.backward(dy, cl)!.data;
  assert.deepEqual(dxa, dxl);
  assert.deepEqual(act.params[0]!.grad, lin.params[0]!.grad);
});

Deno.test("conv2d backward accumulates kernel and bias gradients over two batches x=[2,5,5,3] k=3 s=2 same", () => {
  const random = new Random(73);
  const layer = new Conv2D({ filters: 4, kernelSize: 3, strides: 2, padding: "same" });
  const store = buildLayer(layer, [5, 5, 3], random);
  const input = randomTensor(random, [2, 5, 5, 3]);
  const dy = { shape: [2, 3, 3, 4], data: randomArray(random, 72) };
  const ctx = trainingContext(random);
  layer.forward(input, ctx);
  layer.backward(dy, ctx);
  const once = store.grads.slice();
  layer.forward(input, ctx);
  layer.backward(dy, ctx);
  assertMaxRelError(store.grads, once.map((v) => 2 * v), 1e-6, "grads");
});

Deno.test("conv2d backward with skipInputGradient returns null but fills kernel gradients, x=[1,5,5,1] k=3", () => {
  const random = new Random(74);
  const layer = new Conv2D({ filters: 2, kernelSize: 3 });
  const store = buildLayer(layer, [5, 5, 1], random);
  const ctx = trainingContext(random);
  layer.forward(randomTensor(random, [1, 5, 5, 1]), ctx);
  const dx = layer.backward({ shape: [1, 3, 3, 2], data: randomArray(random, 18) }, ctx, {
    skipInputGradient: true,
  });
  assert.equal(dx, null);
  assert.ok(store.grads.some((g) => g !== 0));
});

Deno.test("conv2d forward by hand for x=[1,3,3,1] k=2 valid with kernel [[1,0],[0,-1]] and bias 0.5", () => {
  const random = new Random(75);
  const layer = new Conv2D({ filters: 1, kernelSize: 2 });
  const store = buildLayer(layer, [3, 3, 1], random);
  store.values.set([1, 0, 0, -1, 0.5]);
  const y = layer.forward(
    { shape: [1, 3, 3, 1], data: Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9) },
    { backend: cpuBackend, training: false, tape: null, random },
  );
  assert.deepEqual(y.shape, [1, 2, 2, 1]);
  assert.deepEqual([...y.data], [-3.5, -3.5, -3.5, -3.5]);
});

Deno.test("conv2d backward without a forward on the tape throws naming the layer", () => {
  const layer = new Conv2D({ filters: 1, kernelSize: 1, name: "lonely" });
  buildLayer(layer, [2, 2, 1], new Random(1));
  assert.throws(
    () =>
      layer.backward({ shape: [1, 2, 2, 1], data: new Float32Array(4) }, {
        backend: cpuBackend,
        training: true,
        tape: new Tape(),
        random: new Random(1),
      }),
    /lonely/,
  );
});

Deno.test("conv2d defaults: strides [1,1], padding valid, linear, bias, glorot_uniform kernel and zeros bias", () => {
  const layer = new Conv2D({ filters: 8, kernelSize: 3 });
  assert.deepEqual(layer.strides, [1, 1]);
  assert.deepEqual(layer.kernelSize, [3, 3]);
  assert.equal(layer.padding, "valid");
  assert.equal(layer.activation, "linear");
  assert.equal(layer.useBias, true);
  assert.equal(layer.kernelInitializer, "glorot_uniform");
  assert.equal(layer.biasInitializer, "zeros");
  const config = layer.getConfig();
  assert.deepEqual(config.strides, [1, 1]);
  assert.equal(config.padding, "valid");
  assert.deepEqual(config.kernelInitializer, {
    className: "GlorotUniform",
    config: { seed: null },
  });
  assert.deepEqual(config.biasInitializer, { className: "Zeros", config: {} });
});

Deno.test("conv2d built on [28,28,1] with filters=32 k=3: output [26,26,32], 320 params, glorot kernel and zero bias", () => {
  const layer = new Conv2D({ filters: 32, kernelSize: 3 });
  const store = buildLayer(layer, [28, 28, 1], new Random(3), true);
  assert.deepEqual([...layer.computeOutputShape([28, 28, 1])], [26, 26, 32]);
  assert.equal(layer.paramCount(), 320);
  assert.deepEqual(layer.params.map((p) => [p.name, [...p.shape]]), [
    ["kernel", [3, 3, 1, 32]],
    ["bias", [32]],
  ]);
  const limit = Math.fround(Math.sqrt(6 / (9 + 288))); // float32 storage may round up to it
  const kernel = layer.params[0]!.value;
  assert.ok(kernel.every((v) => Math.abs(v) <= limit) && kernel.some((v) => v !== 0));
  assert.ok(layer.params[1]!.value.every((v) => v === 0));
  assert.equal(store.values.length, 320);
});

Deno.test("conv2d output shapes: [7,7,3] k=3 s=2 same -> [4,4,f]; [6,5,2] k=[2,3] s=[2,1] same -> [3,5,f]", () => {
  assert.deepEqual(
    [...new Conv2D({ filters: 4, kernelSize: 3, strides: 2, padding: "same" }).computeOutputShape([
      7,
      7,
      3,
    ])],
    [4, 4, 4],
  );
  assert.deepEqual(
    [...new Conv2D({ filters: 5, kernelSize: [2, 3], strides: [2, 1], padding: "same" })
      .computeOutputShape([6, 5, 2])],
    [3, 5, 5],
  );
  assert.deepEqual(
    [...new Conv2D({ filters: 2, kernelSize: 3, padding: "SAME" as "same" }).computeOutputShape([
      5,
      5,
      1,
    ])],
    [5, 5, 2],
  );
});

Deno.test("conv2d computeOutputShape rejects rank 2 input [28,28] and a 2x2 input under a valid 3x3 kernel", () => {
  const layer = new Conv2D({ filters: 1, kernelSize: 3 });
  assert.throws(
    () => layer.computeOutputShape([28, 28]),
    (e: unknown) => e instanceof TypeError && /28,28/.test(e.message),
  );
  assert.throws(
    () => layer.computeOutputShape([2, 2, 1]),
    (e: unknown) => e instanceof RangeError && /empty/.test(e.message),
  );
});

const BAD: [string, Partial<Conv2DOptions>, RegExp][] = [
  ["filters 0", { filters: 0 }, /filters.*0/],
  ["filters -3", { filters: -3 }, /filters.*-3/],
  ["filters 1.5", { filters: 1.5 }, /filters.*1\.5/],
  ["filters NaN", { filters: NaN }, /filters.*current value is NaN/],
  ["kernelSize 0", { kernelSize: 0 }, /kernelSize.*0/],
  ["kernelSize [3]", { kernelSize: [3] as unknown as number }, /kernelSize.*\[3\]/],
  ["strides 0", { strides: 0 }, /strides.*0/],
  ["strides [2,0]", { strides: [2, 0] }, /strides.*\[2,0\]/],
  ["padding full", { padding: "full" as "same" }, /padding.*"full"/],
  ["activation swish", { activation: "swish" as "relu" }, /activation.*"swish"/],
  ["useBias 1", { useBias: 1 as unknown as boolean }, /useBias.*1/],
  ["kernelInitializer bogus", { kernelInitializer: "bogus" }, /kernelInitializer.*"bogus"/],
  ["biasInitializer bogus", { biasInitializer: "bogus" }, /biasInitializer.*"bogus"/],
  ["inputShape [0,5,1]", { inputShape: [0, 5, 1] }, /inputShape.*0,5,1/],
];

for (const [what, bad, pattern] of BAD) {
  Deno.test(`conv2d constructor rejects ${what} with an error naming the option and value`, () => {
    assert.throws(
      () => new Conv2D({ filters: 2, kernelSize: 3, ...bad } as Conv2DOptions),
      (e: unknown) => e instanceof Error && pattern.test(e.message) && /Conv2D/.test(e.message),
    );
  });
}
