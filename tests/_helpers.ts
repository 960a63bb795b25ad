// Shared test helpers: seeded random tensors, error measures, and a central finite-difference
// gradient checker for layers. Private to the tests (the leading underscore, as Deno std).

import assert from "node:assert/strict";
import { type Backend, cpuBackend } from "../engine/backend.ts";
import { Random } from "../engine/random.ts";
import { type Shape, sizeOf, type Tensor } from "../engine/tensor.ts";
import { type Layer, type RunContext, Tape } from "../layers/layer.ts";
import { buildLayers } from "../layers/params.ts";

/** `n` floats uniform in [lo, hi) drawn from `random`. */
export function randomArray(random: Random, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = random.uniform(lo, hi);
  return a;
}

/** A tensor of the given shape, uniform in [lo, hi). */
export function randomTensor(random: Random, shape: Shape, lo = -1, hi = 1): Tensor {
  return { shape: [...shape], data: randomArray(random, sizeOf(shape), lo, hi) };
}

/** Floats whose magnitude is in [lo, hi) with a random sign: keeps inputs away from a kink at 0. */
export function awayFromZero(random: Random, n: number, lo = 0.1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (random.next() < 0.5 ? -1 : 1) * random.uniform(lo, hi);
  return a;
}

/**
 * `n` distinct values spaced `gap` apart, in random order and centred on 0: no two elements of a
 * max-pooling window come closer than `gap`, so a perturbation smaller than gap / 2 never moves
 * an argmax.
 */
export function distinctValues(random: Random, n: number, gap: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (i - (n - 1) / 2) * gap;
  return random.shuffle(a);
}

/** max |actual - expected| / max |expected| (0 when both are all zeros). */
export function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, "length mismatch");
  let maxDiff = 0, maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
  }
  if (Number.isNaN(maxDiff)) return NaN;
  return maxDiff === 0 ? 0 : maxDiff / (maxAbs === 0 ? Number.MIN_VALUE : maxAbs);
}

/** Asserts {@linkcode maxRelError} below `tol` (NaN fails). */
export function assertMaxRelError(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  const e = maxRelError(actual, expected);
  assert.ok(e < tol, `${what}: max relative error ${e} is not below ${tol}`);
}

/** Asserts |a - e| <= abs + rel * |e| element-wise, naming the worst element on failure. */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { rel: number; abs: number },
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length mismatch`);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    const excess = Math.abs(a - e) - (tol.abs + tol.rel * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(tolerance rel ${tol.rel}, abs ${tol.abs})`,
    );
  }
}

/** A training run context on the single-thread backend. */
export function trainingContext(random: Random): RunContext {
  return { backend: cpuBackend, training: true, tape: new Tape(), random };
}

/**
 * Builds one layer for a per-example input shape with the cpu backend, then (unless `keepInit`)
 * overwrites every parameter with uniform values in [-0.5, 0.5) so zero biases do not hide bugs.
 */
export function buildLayer(layer: Layer, inputShape: Shape, random: Random, keepInit = false) {
  const store = buildLayers([layer], inputShape, cpuBackend, random);
  if (!keepInit) {
    for (let i = 0; i < store.values.length; i++) store.values[i] = random.uniform(-0.5, 0.5);
  }
  return store;
}

/** Options of {@linkcode checkLayerGradients}. */
export interface GradCheckOptions {
  /** Step of the central difference (default 1e-2, suited to a float32 forward). */
  h?: number;
  /** Relative tolerance (default 1e-2). */
  rel?: number;
  /** Absolute tolerance (default 1e-3). */
  abs?: number;
  /** Whether the layer runs in training mode (default true). */
  training?: boolean;
  /** Seed of the fixed random projection r of the output (default 7). */
  seed?: number;
}

/** The analytic and numeric gradients of one tensor. */
export interface GradPair {
  readonly name: string;
  readonly analytic: Float64Array;
  readonly numeric: Float64Array;
}

/**
 * Central finite-difference check of a built layer's backward. The loss is L = sum(y * r) for a
 * fixed random r, so dL/dy = r; it is summed in float64, and the numeric derivative divides by
 * the perturbation the float32 input actually received. The random generator's state is restored
 * before every forward, so a dropout mask stays fixed. Returns the gradient pairs for `x` and each
 * parameter (in `layer.params` order), after asserting them close.
 */
export function checkLayerGradients(
  layer: Layer,
  x: Tensor,
  random: Random,
  options: GradCheckOptions = {},
): GradPair[] {
  const h = options.h ?? 1e-2;
  const tol = { rel: options.rel ?? 1e-2, abs: options.abs ?? 1e-3 };
  const training = options.training ?? true;
  const outShape = [x.shape[0]!, ...layer.computeOutputShape(x.shape.slice(1))];
  const r = randomArray(new Random(options.seed ?? 7), sizeOf(outShape));
  const start = random.getState();

  // analytic: one forward on a tape, then the backward with dy = r
  const ctx: RunContext = { backend: cpuBackend, training, tape: new Tape(), random };
  for (const p of layer.params) p.grad.fill(0);
  const y = layer.forward(x, ctx);
  assert.deepEqual([...y.shape], outShape, `${layer.name}: output shape`);
  const dx = layer.backward({ shape: outShape, data: r.slice() }, ctx);
  assert.ok(dx !== null, `${layer.name}: backward returned no input gradient`);
  assert.deepEqual([...dx.shape], [...x.shape], `${layer.name}: dx shape`);
  const analytic = [
    Float64Array.from(dx.data),
    ...layer.params.map((p) => Float64Array.from(p.grad)),
  ];

  // numeric: L(+h) - L(-h) over the actual float32 step, each forward from the same random state
  const loss = (): number => {
    random.setState(start);
    const out = layer.forward(x, { backend: cpuBackend, training, tape: null, random });
    let s = 0;
    for (let i = 0; i < r.length; i++) s += out.data[i]! * r[i]!;
    return s;
  };
  const numericOf = (values: Float32Array): Float64Array => {
    const g = new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      values[i] = v + h;
      const up = values[i]!;
      const lossUp = loss();
      values[i] = v - h;
      const down = values[i]!;
      const lossDown = loss();
      values[i] = v;
      g[i] = (lossUp - lossDown) / (up - down);
    }
    return g;
  };
  const pairs: GradPair[] = [
    { name: "dx", analytic: analytic[0]!, numeric: numericOf(x.data) },
    ...layer.params.map((p, k) => ({
      name: `d${p.name}`,
      analytic: analytic[k + 1]!,
      numeric: numericOf(p.value),
    })),
  ];
  random.setState(start);
  for (const p of pairs) {
    assertAllClose(p.analytic, p.numeric, tol, `${layer.name} ${p.name} vs finite differences`);
  }
  return pairs;
}

/**
 * `be` with `spy(method, args)` called before each call of one of its methods (tests count the
 * fused calls a model makes this way).
 */
export function spyBackend(be: Backend, spy: (method: string, args: unknown[]) => void): Backend {
  return new Proxy(be, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        spy(String(key), args);
        return value.apply(target, args);
      };
    },
  });
}
