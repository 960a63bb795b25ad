import assert from "node:assert/strict";
import { Random } from "../../engine/random.ts";
import {
  computeFans,
  getInitializer,
  initializerConfig,
  INITIALIZERS,
} from "../../layers/initializers.ts";

function stats(v: Float32Array) {
  let s = 0, s2 = 0, maxAbs = 0;
  for (const x of v) {
    s += x;
    s2 += x * x;
    maxAbs = Math.max(maxAbs, Math.abs(x));
  }
  const mean = s / v.length;
  return { mean, variance: s2 / v.length - mean * mean, maxAbs };
}

Deno.test("computeFans: conv [3,3,32,64] -> fanIn 288, fanOut 576; dense [1600,64]; bias [10]", () => {
  assert.deepEqual(computeFans([3, 3, 32, 64]), { fanIn: 288, fanOut: 576 });
  assert.deepEqual(computeFans([5, 3, 1, 8]), { fanIn: 15, fanOut: 120 });
  assert.deepEqual(computeFans([1600, 64]), { fanIn: 1600, fanOut: 64 });
  assert.deepEqual(computeFans([10]), { fanIn: 10, fanOut: 10 });
  assert.deepEqual(computeFans([]), { fanIn: 1, fanOut: 1 });
});

Deno.test("glorot_uniform on [3,3,32,64]: all within sqrt(6/864), variance near limit^2/3, mean near 0", () => {
  const shape = [3, 3, 32, 64];
  const v = new Float32Array(3 * 3 * 32 * 64);
  getInitializer("glorot_uniform", "kernelInitializer", "Conv2D")(v, shape, new Random(1));
  const limit = Math.fround(Math.sqrt(6 / (288 + 576))); // float32 storage may round up to it
  const { mean, variance, maxAbs } = stats(v);
  assert.ok(maxAbs <= limit, `max |w| ${maxAbs} > ${limit}`);
  assert.ok(maxAbs > 0.99 * limit, `max |w| ${maxAbs} does not reach the limit`);
  const expected = limit * limit / 3; // = 2 / (fanIn + fanOut)
  assert.ok(Math.abs(variance / expected - 1) < 0.05, `variance ${variance} vs ${expected}`);
  assert.ok(Math.abs(mean) < 0.02 * limit, `mean ${mean}`);
});

Deno.test("glorot_uniform on dense [784,10]: all within sqrt(6/794) and variance near 2/794", () => {
  const v = new Float32Array(7840);
  INITIALIZERS.glorot_uniform!(v, [784, 10], new Random(2));
  const limit = Math.fround(Math.sqrt(6 / 794));
  const { variance, maxAbs } = stats(v);
  assert.ok(maxAbs <= limit);
  assert.ok(Math.abs(variance / (2 / 794) - 1) < 0.06, `variance ${variance}`);
});

Deno.test("glorot_uniform is reproducible from the seed and glorotUniform is the same function", () => {
  const a = new Float32Array(100), b = new Float32Array(100);
  INITIALIZERS.glorot_uniform!(a, [10, 10], new Random(3));
  INITIALIZERS.glorotUniform!(b, [10, 10], new Random(3));
  assert.deepEqual(a, b);
});

Deno.test("zeros and ones fill [5] whatever was there", () => {
  const v = Float32Array.of(1, 2, 3, 4, 5);
  getInitializer("zeros", "biasInitializer", "Dense")(v, [5], new Random(1));
  assert.deepEqual([...v], [0, 0, 0, 0, 0]);
  INITIALIZERS.ones!(v, [5], new Random(1));
  assert.deepEqual([...v], [1, 1, 1, 1, 1]);
});

Deno.test("he_uniform on [3,3,16,32]: within sqrt(6/144), variance near 2/144", () => {
  const v = new Float32Array(3 * 3 * 16 * 32);
  INITIALIZERS.he_uniform!(v, [3, 3, 16, 32], new Random(4));
  const { variance, maxAbs } = stats(v);
  assert.ok(maxAbs <= Math.fround(Math.sqrt(6 / 144)));
  assert.ok(Math.abs(variance / (2 / 144) - 1) < 0.06, `variance ${variance}`);
});

Deno.test("glorot_normal and he_normal on [64,256]: truncated at 2 sd, variance near the target", () => {
  for (const [name, t] of [["glorot_normal", 2 / (64 + 256)], ["he_normal", 2 / 64]] as const) {
    const v = new Float32Array(64 * 256);
    INITIALIZERS[name]!(v, [64, 256], new Random(5));
    const sd = Math.sqrt(t) / 0.87962566103423978;
    const { variance, maxAbs } = stats(v);
    assert.ok(maxAbs <= 2 * sd * (1 + 1e-6), `${name}: max ${maxAbs} beyond 2 sd ${2 * sd}`);
    assert.ok(Math.abs(variance / t - 1) < 0.06, `${name}: variance ${variance} vs ${t}`);
  }
});

Deno.test("getInitializer rejects 'uniform' naming the option, layer and value", () => {
  assert.throws(
    () => getInitializer("uniform", "kernelInitializer", "Dense"),
    (e: unknown) =>
      e instanceof RangeError && /Dense/.test(e.message) && /kernelInitializer/.test(e.message) &&
      /"uniform"/.test(e.message),
  );
});

Deno.test("initializerConfig gives TF.js class names for snake and camel names", () => {
  assert.deepEqual(initializerConfig("glorot_uniform"), {
    className: "GlorotUniform",
    config: { seed: null },
  });
  assert.deepEqual(initializerConfig("glorotUniform"), {
    className: "GlorotUniform",
    config: { seed: null },
  });
  assert.deepEqual(initializerConfig("heNormal"), {
    className: "HeNormal",
    config: { seed: null },
  });
  assert.deepEqual(initializerConfig("zeros"), { className: "Zeros", config: {} });
});
