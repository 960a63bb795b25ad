import assert from "node:assert/strict";
import {
  categoricalCrossentropy,
  countCorrect,
  EPSILON,
  meanSquaredError,
  softmaxCrossentropyFused,
} from "../../../engine/kernels/losses.ts";
import { softmaxForward } from "../../../engine/kernels/activations.ts";
import { Random } from "../../../engine/random.ts";
import { assertAllClose, assertMaxRelError, randomArray } from "../../_helpers.ts";

const f32 = (...v: number[]) => Float32Array.from(v);
const close = (a: number, b: number, tol = 1e-6) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

Deno.test("EPSILON is Keras's 1e-7", () => {
  assert.equal(EPSILON, 1e-7);
});

Deno.test("categorical crossentropy by hand for p=[2,3] one-hot t: (-ln 0.7 - ln 0.8) / 2", () => {
  const p = f32(0.7, 0.2, 0.1, 0.1, 0.8, 0.1);
  const t = f32(1, 0, 0, 0, 1, 0);
  close(categoricalCrossentropy(null, p, t, 2, 3), (-Math.log(0.7) - Math.log(0.8)) / 2);
});

Deno.test("categorical crossentropy with soft targets p=[1,2] t=[0.25,0.75]", () => {
  const loss = categoricalCrossentropy(null, f32(0.4, 0.6), f32(0.25, 0.75), 1, 2);
  close(loss, -(0.25 * Math.log(0.4) + 0.75 * Math.log(0.6)));
});

Deno.test("categorical crossentropy rescales rows to sum 1: p=[2,1,1] t=[1,0,0] gives ln 2", () => {
  close(categoricalCrossentropy(null, f32(2, 1, 1), f32(1, 0, 0), 1, 3), Math.LN2);
});

Deno.test("categorical crossentropy clips a zero true-class probability to 1e-7: -log(1e-7) = 16.118", () => {
  const loss = categoricalCrossentropy(null, f32(0, 1, 0), f32(1, 0, 0), 1, 3);
  close(loss, 16.11809565095832, 1e-9);
  close(loss, -Math.log(1e-7), 1e-12);
});

Deno.test("categorical crossentropy clips a certain prediction at 1 - 1e-7: p=[1,0,0] t=[1,0,0]", () => {
  const loss = categoricalCrossentropy(null, f32(1, 0, 0), f32(1, 0, 0), 1, 3);
  close(loss, -Math.log(1 - 1e-7), 1e-6);
  assert.ok(loss > 0);
});

Deno.test("fused softmax crossentropy gradient is (p - y) / N for one-hot targets, x=[3,5]", () => {
  const random = new Random(61);
  const logits = randomArray(random, 15, -3, 3);
  const p = new Float32Array(15);
  softmaxForward(p, logits, 3, 5);
  const t = new Float32Array(15);
  t[2] = 1, t[5] = 1, t[14] = 1;
  const dz = new Float32Array(15);
  const loss = softmaxCrossentropyFused(dz, p, t, 3, 5);
  assertAllClose(dz, p.map((v, i) => (v - t[i]!) / 3), { rel: 1e-6, abs: 1e-8 }, "dz");
  const expected = -(Math.log(p[2]!) + Math.log(p[5]!) + Math.log(p[14]!)) / 3;
  close(loss, expected);
  // the same value as the unfused loss on the probabilities
  close(loss, categoricalCrossentropy(null, p, t, 3, 5), 1e-5);
});

Deno.test("fused softmax crossentropy gradient equals finite differences through the softmax, x=[2,4]", () => {
  const random = new Random(62);
  const logits = randomArray(random, 8, -2, 2);
  const t = f32(0.1, 0.2, 0.3, 0.4, 0, 0, 1, 0);
  const p = new Float32Array(8);
  const lossAt = (z: Float32Array) => {
    softmaxForward(p, z, 2, 4);
    return softmaxCrossentropyFused(null, p, t, 2, 4);
  };
  lossAt(logits);
  const dz = new Float32Array(8);
  softmaxCrossentropyFused(dz, p, t, 2, 4);
  const numeric = new Float64Array(8);
  const h = 1e-2;
  for (let i = 0; i < 8; i++) {
    const v = logits[i]!;
    logits[i] = v + h;
    const up = logits[i]!, lUp = lossAt(logits);
    logits[i] = v - h;
    const down = logits[i]!, lDown = lossAt(logits);
    logits[i] = v;
    numeric[i] = (lUp - lDown) / (up - down);
  }
  assertAllClose(dz, numeric, { rel: 1e-2, abs: 1e-4 }, "dz vs finite differences");
});

Deno.test("fused softmax crossentropy keeps the exact gradient when p underflows to 0: p=[0,1] t=[1,0]", () => {
  const dz = new Float32Array(2);
  const loss = softmaxCrossentropyFused(dz, f32(0, 1), f32(1, 0), 1, 2);
  close(loss, -Math.log(1e-7), 1e-9);
  assert.deepEqual([...dz], [-1, 1]);
});

/** dL/dp by central differences of the unfused loss (the loss itself sums in float64). */
function numericCce(p: Float32Array, t: Float32Array, rows: number, cols: number, h: number) {
  const g = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const v = p[i]!;
    p[i] = v + h;
    const up = p[i]!, lUp = categoricalCrossentropy(null, p, t, rows, cols);
    p[i] = v - h;
    const down = p[i]!, lDown = categoricalCrossentropy(null, p, t, rows, cols);
    p[i] = v;
    g[i] = (lUp - lDown) / (up - down);
  }
  return g;
}

Deno.test("categorical crossentropy gradient matches finite differences for p=[3,4] unnormalised, soft t", () => {
  const random = new Random(63);
  // probabilities well inside (1e-7, 1 - 1e-7) after rescaling; rows do not sum to 1
  const p = randomArray(random, 12, 0.1, 1);
  const t = randomArray(random, 12, 0, 1);
  const dp = new Float32Array(12);
  categoricalCrossentropy(dp, p, t, 3, 4);
  assertAllClose(dp, numericCce(p, t, 3, 4, 1e-3), { rel: 1e-3, abs: 1e-5 }, "dp");
});

Deno.test("categorical crossentropy gradient matches finite differences for p=[2,3] softmax rows, one-hot t", () => {
  const p = f32(0.7, 0.2, 0.1, 0.1, 0.8, 0.1);
  const t = f32(1, 0, 0, 0, 1, 0);
  const dp = new Float32Array(6);
  categoricalCrossentropy(dp, p, t, 2, 3);
  // on the simplex the gradient is (-t/p + sum(t)/sum(p)) / N
  assertAllClose(dp, [(1 - 1 / 0.7) / 2, 0.5, 0.5, 0.5, (1 - 1 / 0.8) / 2, 0.5], {
    rel: 1e-6,
    abs: 1e-7,
  }, "dp by hand");
  assertAllClose(dp, numericCce(p, t, 2, 3, 1e-3), { rel: 1e-3, abs: 1e-5 }, "dp vs FD");
});

// With q_0 clipped the loss is -log(p_1 / S), whose derivative in p_0 is 1/S through the row sum.
Deno.test({
  name:
    "categorical crossentropy gradient matches finite differences when a non-target p is clipped: p=[1e-9,0.5,0.5]",
  fn() {
    const p = f32(1e-9, 0.5, 0.5);
    const t = f32(0, 1, 0);
    const dp = new Float32Array(3);
    categoricalCrossentropy(dp, p, t, 1, 3);
    assertAllClose(dp, numericCce(p, t, 1, 3, 1e-3), { rel: 1e-3, abs: 1e-5 }, "dp");
  },
});

// With the true class clipped the loss is the constant -log(1e-7) near p: every derivative is 0.
Deno.test({
  name:
    "categorical crossentropy gradient is zero when the true class is clipped: p=[0,0.5,0.5] t=[1,0,0]",
  fn() {
    const dp = new Float32Array(3);
    categoricalCrossentropy(dp, f32(0, 0.5, 0.5), f32(1, 0, 0), 1, 3);
    assert.deepEqual([...dp], [0, 0, 0]);
  },
});

Deno.test("mean squared error by hand for p=[2,2]: value 3.5 and gradient 2(p-t)/4", () => {
  const dp = new Float32Array(4);
  const loss = meanSquaredError(dp, f32(1, 2, 3, 4), f32(0, 2, 1, 1), 2, 2);
  assert.equal(loss, 3.5);
  assert.deepEqual([...dp], [0.5, 0, 1, 1.5]);
  assert.equal(meanSquaredError(null, f32(1, 2, 3, 4), f32(0, 2, 1, 1), 2, 2), 3.5);
});

Deno.test("mean squared error gradient matches finite differences for p=[3,5]", () => {
  const random = new Random(64);
  const p = randomArray(random, 15), t = randomArray(random, 15);
  const dp = new Float32Array(15);
  meanSquaredError(dp, p, t, 3, 5);
  const numeric = new Float64Array(15);
  for (let i = 0; i < 15; i++) {
    const v = p[i]!;
    p[i] = v + 1e-2;
    const up = p[i]!, lUp = meanSquaredError(null, p, t, 3, 5);
    p[i] = v - 1e-2;
    const down = p[i]!, lDown = meanSquaredError(null, p, t, 3, 5);
    p[i] = v;
    numeric[i] = (lUp - lDown) / (up - down);
  }
  assertMaxRelError(dp, numeric, 1e-4, "dp");
});

Deno.test("countCorrect counts rows whose arg-max agree for p=[4,3], ties to the first index", () => {
  const p = f32(
    0.1,
    0.7,
    0.2, // argmax 1
    0.5,
    0.3,
    0.2, // argmax 0
    0.4,
    0.4,
    0.2, // tie: argmax 0
    0.2,
    0.3,
    0.5, // argmax 2
  );
  const t = f32(0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1);
  assert.equal(countCorrect(p, t, 4, 3), 3);
  assert.equal(countCorrect(p, t, 2, 3), 1);
});
