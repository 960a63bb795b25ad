import assert from "node:assert/strict";
import {
  Adam,
  getOptimizer,
  type Optimizer,
  type ParamRange,
  RMSprop,
  SGD,
} from "../../layers/optimizers.ts";
import { assertAllClose } from "../_helpers.ts";

const TOL = { rel: 1e-6, abs: 1e-7 };
const f32 = (...v: number[]) => Float32Array.from(v);
const ALL: ParamRange[] = [{ start: 0, end: 2 }];

Deno.test("SGD lr=0.1 updates only the ranges [0,2) and [3,5) of w=[5]: w -= lr g", () => {
  const w = f32(1, 2, 3, 4, 5);
  const g = f32(0.5, -1, 2, 0, 10);
  new SGD({ learningRate: 0.1 }).step(w, g, [{ start: 0, end: 2 }, { start: 3, end: 5 }]);
  assertAllClose(w, [0.95, 2.1, 3, 4, 4], TOL, "w");
  assert.equal(w[2], 3);
});

Deno.test("SGD defaults: lr 0.01, momentum 0, nesterov false; one step of w=[2]", () => {
  const sgd = new SGD();
  assert.deepEqual(sgd.getConfig(), { learningRate: 0.01, momentum: 0, nesterov: false });
  const w = f32(1, 1);
  sgd.step(w, f32(1, -2), ALL);
  assertAllClose(w, [0.99, 1.02], TOL, "w");
  assert.equal(sgd.iterations, 1);
});

Deno.test("SGD momentum 0.9 lr 0.1, two steps of w=[2]: m = 0.9 m - lr g, w += m", () => {
  const sgd = new SGD({ learningRate: 0.1, momentum: 0.9 });
  const w = f32(1, 2);
  sgd.step(w, f32(1, -2), ALL); // m = [-0.1, 0.2]
  assertAllClose(w, [0.9, 2.2], TOL, "w after step 1");
  sgd.step(w, f32(0.5, 0.5), ALL); // m = [-0.09 - 0.05, 0.18 - 0.05] = [-0.14, 0.13]
  assertAllClose(w, [0.76, 2.33], TOL, "w after step 2");
  assertAllClose(sgd.getState().slots.momentum!, [-0.14, 0.13], TOL, "m");
});

Deno.test("SGD nesterov momentum 0.9 lr 0.1, two steps of w=[2]: w += 0.9 m - lr g", () => {
  const sgd = new SGD({ learningRate: 0.1, momentum: 0.9, nesterov: true });
  const w = f32(1, 2);
  sgd.step(w, f32(1, -2), ALL); // m = [-0.1, 0.2]; w += [-0.09 - 0.1, 0.18 + 0.2]
  assertAllClose(w, [0.81, 2.38], TOL, "w after step 1");
  sgd.step(w, f32(0.5, 0.5), ALL); // m = [-0.14, 0.13]; w += [-0.126 - 0.05, 0.117 - 0.05]
  assertAllClose(w, [0.634, 2.447], TOL, "w after step 2");
});

Deno.test("SGD momentum leaves values and momentum outside the ranges untouched, w=[4] range [1,3)", () => {
  const sgd = new SGD({ learningRate: 0.1, momentum: 0.5 });
  const w = f32(1, 1, 1, 1);
  const g = f32(1, 1, 1, 1);
  sgd.step(w, g, [{ start: 1, end: 3 }]);
  sgd.step(w, g, [{ start: 1, end: 3 }]);
  assertAllClose(w, [1, 0.75, 0.75, 1], TOL, "w"); // -0.1, then 0.5 * -0.1 - 0.1
  assertAllClose(sgd.getState().slots.momentum!, [0, -0.15, -0.15, 0], TOL, "m");
});

Deno.test("RMSprop lr 0.001 rho 0.9 eps 1e-7, one step of w=[3]: v = 0.1 g^2, w -= lr g / (sqrt(v) + eps)", () => {
  const rms = new RMSprop();
  assert.deepEqual(rms.getConfig(), { learningRate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7 });
  const w = f32(1, 1, 1);
  const g = f32(0.5, -2, 0);
  rms.step(w, g, [{ start: 0, end: 3 }]);
  // |g| / sqrt(0.1 g^2) = sqrt(10) = 3.1622776...
  assertAllClose(w, [1 - 0.0031622776, 1 + 0.0031622776, 1], TOL, "w");
  assertAllClose(rms.getState().slots.velocity!, [0.025, 0.4, 0], TOL, "v");
});

Deno.test("RMSprop adds eps outside the square root (tf.keras 2.x): g=1e-6 on w=[1] moves w by 0.0024025", () => {
  const rms = new RMSprop();
  const w = f32(1);
  const g = f32(1e-6);
  rms.step(w, g, [{ start: 0, end: 1 }]);
  const v = Math.fround(0.1 * g[0]! * g[0]!);
  const expected = 1 - 0.001 * g[0]! / (Math.sqrt(v) + 1e-7);
  assertAllClose(w, [expected], TOL, "w");
  // 0.001 * 1e-6 / (sqrt(1e-13) + 1e-7) = 2.4025e-3: Keras 3's sqrt(v + eps) would give 3.16e-6
  assertAllClose(w, [1 - 0.0024025307], TOL, "w by hand");
});

Deno.test("RMSprop two steps of w=[2] accumulate v = rho v + 0.1 g^2", () => {
  const rms = new RMSprop({ learningRate: 0.01 });
  const w = f32(0, 0);
  rms.step(w, f32(1, 2), ALL);
  rms.step(w, f32(1, -2), ALL);
  const v1 = [0.1, 0.4], v2 = [0.9 * 0.1 + 0.1, 0.9 * 0.4 + 0.4];
  const expected = [
    -0.01 * 1 / (Math.sqrt(v1[0]!) + 1e-7) - 0.01 * 1 / (Math.sqrt(v2[0]!) + 1e-7),
    -0.01 * 2 / (Math.sqrt(v1[1]!) + 1e-7) + 0.01 * 2 / (Math.sqrt(v2[1]!) + 1e-7),
  ];
  assertAllClose(w, expected, { rel: 1e-5, abs: 1e-7 }, "w");
  assertAllClose(rms.getState().slots.velocity!, v2, TOL, "v");
});

Deno.test("RMSprop with momentum 0.5 applies m = 0.5 m + lr g / sqrt(v + eps), w -= m over 2 steps", () => {
  const rms = new RMSprop({ learningRate: 0.01, momentum: 0.5 });
  const w = f32(0);
  const r: ParamRange[] = [{ start: 0, end: 1 }];
  rms.step(w, f32(1), r);
  rms.step(w, f32(1), r);
  const u1 = 0.01 / Math.sqrt(0.1 + 1e-7), u2 = 0.01 / Math.sqrt(0.19 + 1e-7);
  assertAllClose(w, [-(u1 + (0.5 * u1 + u2))], { rel: 1e-5, abs: 1e-8 }, "w");
});

Deno.test("Adam defaults, two steps of w=[2] with g1=[0.5,-1], g2=[0.1,0.2]", () => {
  const adam = new Adam();
  assert.deepEqual(adam.getConfig(), {
    learningRate: 0.001,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-7,
  });
  const w = f32(1, 1);
  adam.step(w, f32(0.5, -1), ALL);
  // m = 0.1 g, v = 0.001 g^2, alpha = 0.001 sqrt(0.001) / 0.1: the first step is lr * sign(g)
  assertAllClose(w, [0.999, 1.001], TOL, "w after step 1");
  adam.step(w, f32(0.1, 0.2), ALL);
  // m = [0.055, -0.07], v = [0.00025975, 0.001039], alpha = 0.001 sqrt(0.001999) / 0.19
  assertAllClose(w, [0.9981969703, 1.0015110213], TOL, "w after step 2");
  const state = adam.getState();
  assert.equal(state.iterations, 2);
  assertAllClose(state.slots.m!, [0.055, -0.07], TOL, "m");
  assertAllClose(state.slots.v!, [0.00025975, 0.001039], { rel: 1e-5, abs: 1e-10 }, "v");
});

Deno.test("Adam updates only the range [2,4) of w=[6], leaving values and slots elsewhere at their start", () => {
  const adam = new Adam({ learningRate: 0.1 });
  const w = f32(1, 2, 3, 4, 5, 6);
  const g = f32(1, 1, 1, -1, 1, 1);
  adam.step(w, g, [{ start: 2, end: 4 }]);
  assertAllClose(w, [1, 2, 2.9, 4.1, 5, 6], TOL, "w");
  const { m, v } = adam.getState().slots;
  assert.deepEqual([...m!], [0, 0, Math.fround(0.1), Math.fround(-0.1), 0, 0]);
  assert.equal(v![0], 0);
  assert.equal(v![5], 0);
});

Deno.test("optimizers with zero gradients leave w=[3] unchanged (SGD, momentum, RMSprop, Adam)", () => {
  const optimizers: Optimizer[] = [
    new SGD(),
    new SGD({ momentum: 0.9, nesterov: true }),
    new RMSprop(),
    new Adam(),
  ];
  for (const opt of optimizers) {
    const w = f32(1, -2, 3);
    opt.step(w, new Float32Array(3), [{ start: 0, end: 3 }]);
    assert.deepEqual([...w], [1, -2, 3], opt.name);
  }
});

for (
  const [name, make] of [
    ["SGD momentum", () => new SGD({ learningRate: 0.1, momentum: 0.9 })],
    ["RMSprop momentum", () => new RMSprop({ momentum: 0.5 })],
    ["Adam", () => new Adam({ learningRate: 0.01 })],
  ] as const
) {
  Deno.test(`${name} getState/setState round trip resumes exactly on w=[3]`, () => {
    const r: ParamRange[] = [{ start: 0, end: 3 }];
    const a = make();
    const w = f32(1, 2, 3);
    a.step(w, f32(0.3, -0.2, 0.1), r);
    const state = a.getState();
    const b = make();
    b.setState(state);
    const wa = w.slice(), wb = w.slice();
    a.step(wa, f32(-0.1, 0.4, 0.2), r);
    b.step(wb, f32(-0.1, 0.4, 0.2), r);
    assert.deepEqual(wb, wa);
    assert.deepEqual(b.getState(), a.getState());
    assert.equal(b.getState().iterations, 2);
  });
}

Deno.test("optimizer getState returns copies and setState copies its input (Adam, w=[2])", () => {
  const adam = new Adam();
  const w = f32(1, 1);
  adam.step(w, f32(1, 1), ALL);
  const state = adam.getState();
  const m0 = state.slots.m![0];
  adam.step(w, f32(1, 1), ALL);
  assert.equal(state.slots.m![0], m0, "a later step does not write into a returned state");
  const other = new Adam();
  other.setState(state);
  state.slots.m![0] = 99;
  assert.notEqual(other.getState().slots.m![0], 99, "setState keeps its own copy");
});

Deno.test("getOptimizer resolves sgd, rmsprop, adam (any case) with a learning rate, and passes objects through", () => {
  assert.ok(getOptimizer("sgd") instanceof SGD);
  assert.ok(getOptimizer("RMSprop") instanceof RMSprop);
  assert.ok(getOptimizer("Adam") instanceof Adam);
  assert.equal(getOptimizer("adam", 0.5).learningRate, 0.5);
  assert.equal(getOptimizer("sgd").learningRate, 0.01);
  const sgd = new SGD();
  assert.equal(getOptimizer(sgd), sgd);
});

Deno.test("getOptimizer rejects 'adagrad' naming the value", () => {
  assert.throws(
    () => getOptimizer("adagrad"),
    (e: unknown) =>
      e instanceof RangeError && /optimizer/.test(e.message) && /"adagrad"/.test(e.message),
  );
});

const BAD: [string, () => unknown, RegExp][] = [
  ["SGD learningRate -1", () => new SGD({ learningRate: -1 }), /SGD.*learningRate.*-1/],
  ["SGD momentum 1.5", () => new SGD({ momentum: 1.5 }), /SGD.*momentum.*1\.5/],
  ["RMSprop rho 2", () => new RMSprop({ rho: 2 }), /RMSprop.*rho.*2/],
  ["RMSprop epsilon -1e-7", () => new RMSprop({ epsilon: -1e-7 }), /RMSprop.*epsilon/],
  ["Adam beta1 -0.1", () => new Adam({ beta1: -0.1 }), /Adam.*beta1.*-0\.1/],
  ["Adam learningRate NaN", () => new Adam({ learningRate: NaN }), /Adam.*learningRate.*NaN/],
];

for (const [what, make, pattern] of BAD) {
  Deno.test(`optimizer constructor rejects ${what} naming the option and value`, () => {
    assert.throws(make, (e: unknown) => e instanceof RangeError && pattern.test(e.message));
  });
}
