import assert from "node:assert/strict";
import { getLoss, type Loss } from "../../layers/losses.ts";
import type { Tensor } from "../../engine/tensor.ts";

const t = (shape: number[], ...v: number[]): Tensor => ({ shape, data: Float32Array.from(v) });

Deno.test("getLoss resolves snake_case and camelCase names to the same loss", () => {
  assert.equal(getLoss("categorical_crossentropy"), getLoss("categoricalCrossentropy"));
  assert.equal(getLoss("categorical_crossentropy").name, "categorical_crossentropy");
  assert.equal(
    getLoss("sparse_categorical_crossentropy"),
    getLoss("sparseCategoricalCrossentropy"),
  );
  assert.equal(getLoss("sparseCategoricalCrossentropy").name, "sparse_categorical_crossentropy");
  assert.equal(getLoss("mean_squared_error"), getLoss("meanSquaredError"));
  assert.equal(getLoss("mse"), getLoss("mean_squared_error"));
  assert.equal(getLoss("mse").name, "mean_squared_error");
});

Deno.test("getLoss passes a Loss object through and rejects 'hinge' naming the value", () => {
  const loss: Loss = getLoss("mse");
  assert.equal(getLoss(loss), loss);
  assert.throws(
    () => getLoss("hinge"),
    (e: unknown) => e instanceof RangeError && /loss/.test(e.message) && /"hinge"/.test(e.message),
  );
});

Deno.test("crossentropy losses fuse with softmax, mean squared error does not", () => {
  assert.equal(getLoss("categorical_crossentropy").fusesWithSoftmax, true);
  assert.equal(getLoss("sparse_categorical_crossentropy").fusesWithSoftmax, true);
  assert.equal(getLoss("mse").fusesWithSoftmax, false);
});

Deno.test("categorical_crossentropy on p=[2,3]: value, unfused dL/dp and fused (p - y)/N", () => {
  const loss = getLoss("categorical_crossentropy");
  const p = t([2, 3], 0.7, 0.2, 0.1, 0.1, 0.8, 0.1);
  const y = t([2, 3], 1, 0, 0, 0, 1, 0);
  const expected = (-Math.log(0.7) - Math.log(0.8)) / 2;
  const dp = new Float32Array(6);
  assert.ok(Math.abs(loss.compute(dp, p, y, false) - expected) < 1e-6);
  assert.ok(Math.abs(dp[0]! - (1 - 1 / 0.7) / 2) < 1e-6);
  const dz = new Float32Array(6);
  assert.ok(Math.abs(loss.compute(dz, p, y, true) - expected) < 1e-6);
  const pm = [0.7 - 1, 0.2, 0.1, 0.1, 0.8 - 1, 0.1].map((v) => v / 2);
  dz.forEach((v, i) => assert.ok(Math.abs(v - pm[i]!) < 1e-6, `dz[${i}] = ${v}`));
  assert.equal(loss.countCorrect(p, y), 2);
});

Deno.test("sparse_categorical_crossentropy with labels [0,1] equals categorical with one-hot targets, p=[2,3]", () => {
  const p = t([2, 3], 0.7, 0.2, 0.1, 0.3, 0.3, 0.4);
  const sparse = getLoss("sparse_categorical_crossentropy");
  const dense = getLoss("categorical_crossentropy");
  for (const fused of [false, true]) {
    const ds = new Float32Array(6), dd = new Float32Array(6);
    const ls = sparse.compute(ds, p, t([2], 0, 1), fused);
    const ld = dense.compute(dd, p, t([2, 3], 1, 0, 0, 0, 1, 0), fused);
    assert.equal(ls, ld);
    assert.deepEqual(ds, dd);
  }
  assert.equal(sparse.countCorrect(p, t([2], 0, 2)), 2);
  assert.equal(sparse.countCorrect(p, t([2], 1, 2)), 1);
});

Deno.test("sparse_categorical_crossentropy rejects labels 3 and -1 out of [0,2] and 1.5, naming label and example", () => {
  const loss = getLoss("sparse_categorical_crossentropy");
  const p = t([2, 3], 0.7, 0.2, 0.1, 0.3, 0.3, 0.4);
  for (const bad of [3, -1, 1.5]) {
    assert.throws(
      () => loss.compute(null, p, t([2], 0, bad), true),
      (e: unknown) =>
        e instanceof RangeError && e.message.includes(`label ${bad}`) &&
        /example 1/.test(e.message) &&
        /\[0, 2\]/.test(e.message),
      `label ${bad}`,
    );
  }
  assert.throws(() => loss.countCorrect(p, t([2], 7, 0)), RangeError);
});

Deno.test("sparse_categorical_crossentropy rejects one-hot targets of shape [2,3] (expects one label per example)", () => {
  const loss = getLoss("sparse_categorical_crossentropy");
  const p = t([2, 3], 0.7, 0.2, 0.1, 0.3, 0.3, 0.4);
  assert.throws(
    () => loss.compute(null, p, t([2, 3], 1, 0, 0, 0, 1, 0), true),
    (e: unknown) => e instanceof TypeError && /2,3/.test(e.message),
  );
});

Deno.test("categorical_crossentropy rejects targets [2,2] for predictions [2,3]", () => {
  assert.throws(
    () =>
      getLoss("categorical_crossentropy").compute(
        null,
        t([2, 3], 1, 0, 0, 0, 1, 0),
        t([2, 2], 1, 0, 0, 1),
        false,
      ),
    (e: unknown) => e instanceof TypeError && /2,2/.test(e.message) && /2,3/.test(e.message),
  );
});

Deno.test("mean_squared_error on p=[2,2]: value 3.5, gradient 2(p - t)/4, fused flag ignored", () => {
  const loss = getLoss("mse");
  const dp = new Float32Array(4);
  assert.equal(loss.compute(dp, t([2, 2], 1, 2, 3, 4), t([2, 2], 0, 2, 1, 1), false), 3.5);
  assert.deepEqual([...dp], [0.5, 0, 1, 1.5]);
  const dpFused = new Float32Array(4);
  assert.equal(loss.compute(dpFused, t([2, 2], 1, 2, 3, 4), t([2, 2], 0, 2, 1, 1), true), 3.5);
  assert.deepEqual(dpFused, dp);
  assert.throws(() => loss.compute(null, t([2, 2], 1, 2, 3, 4), t([1, 2], 0, 2), false), TypeError);
});
