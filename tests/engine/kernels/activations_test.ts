import assert from "node:assert/strict";
import {
  ACTIVATION_NAMES,
  activationBackward,
  activationForward,
  type ActivationName,
  softmaxBackward,
  softmaxForward,
} from "../../../engine/kernels/activations.ts";
import { Random } from "../../../engine/random.ts";
import { assertAllClose, assertMaxRelError, awayFromZero, randomArray } from "../../_helpers.ts";

function forward(name: ActivationName, x: number[], cols = x.length): number[] {
  const y = new Float32Array(x.length);
  activationForward(name, y, Float32Array.from(x), x.length, cols);
  return [...y];
}

Deno.test("activation names are linear, relu, sigmoid, tanh, softmax", () => {
  assert.deepEqual([...ACTIVATION_NAMES], ["linear", "relu", "sigmoid", "tanh", "softmax"]);
});

Deno.test("linear forward copies x=[4]", () => {
  assert.deepEqual(forward("linear", [-2, 0, 0.5, 3]), [-2, 0, 0.5, 3]);
});

Deno.test("relu forward at -2, -0.5, 0, 0.5, 3 gives 0, 0, 0, 0.5, 3", () => {
  assert.deepEqual(forward("relu", [-2, -0.5, 0, 0.5, 3]), [0, 0, 0, 0.5, 3]);
});

Deno.test("sigmoid forward at 0, 2, -2, 40, -1000 matches 1/(1+e^-x)", () => {
  const y = forward("sigmoid", [0, 2, -2, 40, -1000]);
  assertAllClose(y, [0.5, 0.8807970779778823, 0.11920292202211755, 1, 0], {
    rel: 1e-6,
    abs: 0,
  }, "sigmoid");
});

Deno.test("tanh forward at 0, 1, -0.5, 20 matches Math.tanh", () => {
  const y = forward("tanh", [0, 1, -0.5, 20]);
  assertAllClose(y, [0, 0.7615941559557649, -0.46211715726000974, 1], {
    rel: 1e-6,
    abs: 0,
  }, "tanh");
});

Deno.test("softmax forward of [1,2,3] is [0.0900, 0.2447, 0.6652]", () => {
  const y = forward("softmax", [1, 2, 3]);
  assertAllClose(y, [0.09003057317038046, 0.24472847105479767, 0.6652409557748219], {
    rel: 1e-6,
    abs: 0,
  }, "softmax");
});

Deno.test("softmax forward over x=[4,5] rows: each row sums to 1 and is shift invariant", () => {
  const random = new Random(51);
  const x = randomArray(random, 20, -5, 5);
  const y = new Float32Array(20);
  activationForward("softmax", y, x, 20, 5);
  for (let r = 0; r < 4; r++) {
    const row = y.subarray(r * 5, r * 5 + 5);
    const sum = row.reduce((a, v) => a + v, 0);
    assert.ok(Math.abs(sum - 1) < 1e-6, `row ${r} sums to ${sum}`);
    assert.ok(row.every((v) => v > 0 && v < 1));
  }
  const shifted = new Float32Array(20);
  activationForward("softmax", shifted, x.map((v, i) => v + (i < 5 ? 100 : -50)), 20, 5);
  assertMaxRelError(shifted, y, 1e-4, "softmax(x + c)");
});

Deno.test("softmax forward is stable for large inputs: [1000,1000], [1000,0,-1000], [-1000,-1000]", () => {
  assert.deepEqual(forward("softmax", [1000, 1000]), [0.5, 0.5]);
  assert.deepEqual(forward("softmax", [1000, 0, -1000]), [1, 0, 0]);
  assert.deepEqual(forward("softmax", [-1000, -1000]), [0.5, 0.5]);
  const y = forward("softmax", [1000, 999, 998, 1000, 1001, 1002], 3);
  assert.ok(y.every(Number.isFinite));
  assertAllClose(y.slice(0, 3), [0.6652409557748219, 0.24472847105479767, 0.09003057317038046], {
    rel: 1e-6,
    abs: 0,
  }, "row 0");
  assertAllClose(y.slice(3), [0.09003057317038046, 0.24472847105479767, 0.6652409557748219], {
    rel: 1e-6,
    abs: 0,
  }, "row 1");
});

Deno.test("activation backward by hand: relu mask (relu'(0)=0), sigmoid s(1-s), tanh 1-t^2", () => {
  const dy = Float32Array.of(2, 2, 2, 2);
  const dx = new Float32Array(4);
  activationBackward("relu", dx, dy, Float32Array.of(0, 1, 0, 3), 4, 4);
  assert.deepEqual([...dx], [0, 2, 0, 2]);
  activationBackward("sigmoid", dx, dy, Float32Array.of(0.5, 0.25, 0, 1), 4, 4);
  assert.deepEqual([...dx], [0.5, 0.375, 0, 0]);
  activationBackward("tanh", dx, dy, Float32Array.of(0, 0.5, -0.5, 1), 4, 4);
  assert.deepEqual([...dx], [2, 1.5, 1.5, 0]);
  activationBackward("linear", dx, dy, Float32Array.of(9, 9, 9, 9), 4, 4);
  assert.deepEqual([...dx], [2, 2, 2, 2]);
});

Deno.test("softmax backward by hand: y=[0.5,0.5], dy=[1,0] gives [0.25,-0.25]", () => {
  const dx = new Float32Array(2);
  softmaxBackward(dx, Float32Array.of(1, 0), Float32Array.of(0.5, 0.5), 1, 2);
  assert.deepEqual([...dx], [0.25, -0.25]);
});

/** dL/dx by central differences of L = sum(f(x) * r), through the float32 forward kernel. */
function numericGradient(name: ActivationName, x: Float32Array, r: Float32Array, cols: number) {
  const h = 1e-2;
  const y = new Float32Array(x.length);
  const loss = (xs: Float32Array) => {
    activationForward(name, y, xs, xs.length, cols);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * r[i]!;
    return s;
  };
  const g = new Float64Array(x.length);
  const xs = x.slice();
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    xs[i] = v + h;
    const up = xs[i]!, lUp = loss(xs);
    xs[i] = v - h;
    const down = xs[i]!, lDown = loss(xs);
    xs[i] = v;
    g[i] = (lUp - lDown) / (up - down);
  }
  return g;
}

for (const name of ACTIVATION_NAMES) {
  Deno.test(`${name} backward matches finite differences for x=[3,7]`, () => {
    const random = new Random(52);
    // inputs at least 0.1 away from relu's kink, so a step of 1e-2 never crosses it
    const x = awayFromZero(random, 21, 0.1, 2);
    const r = randomArray(random, 21);
    const y = new Float32Array(21);
    activationForward(name, y, x, 21, 7);
    const dx = new Float32Array(21);
    activationBackward(name, dx, r, y, 21, 7);
    assertAllClose(dx, numericGradient(name, x, r, 7), { rel: 1e-2, abs: 1e-3 }, name);
  });

  Deno.test(`${name} runs in place (y aliases x, dx aliases dy) for x=[2,5]`, () => {
    const random = new Random(53);
    const x = randomArray(random, 10, -3, 3);
    const dy = randomArray(random, 10);
    const y = new Float32Array(10), dx = new Float32Array(10);
    activationForward(name, y, x, 10, 5);
    activationBackward(name, dx, dy, y, 10, 5);
    const inPlace = x.slice(), dInPlace = dy.slice();
    activationForward(name, inPlace, inPlace, 10, 5);
    activationBackward(name, dInPlace, dInPlace, inPlace, 10, 5);
    assert.deepEqual(inPlace, y);
    assert.deepEqual(dInPlace, dx);
  });
}

Deno.test("softmax kernels process only the given rows for x=[2,3] in a buffer of 9", () => {
  const x = Float32Array.of(1, 2, 3, 3, 2, 1, 7, 7, 7);
  const y = new Float32Array(9).fill(-1);
  softmaxForward(y, x, 2, 3);
  assert.deepEqual([...y.subarray(6)], [-1, -1, -1]);
  assertAllClose(y.subarray(0, 3), [...y.subarray(3, 6)].reverse(), { rel: 1e-7, abs: 0 }, "rows");
});
