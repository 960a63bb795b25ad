import assert from "node:assert/strict";
import { Random } from "../../engine/random.ts";

function draws(r: Random, n: number): number[] {
  return Array.from({ length: n }, () => r.nextUint32());
}

Deno.test("Random with the same seed 42 gives the same 1000 uint32s", () => {
  assert.deepEqual(draws(new Random(42), 1000), draws(new Random(42), 1000));
});

Deno.test("Random with seeds 1 and 2 (and 0 and 1) give different sequences", () => {
  assert.notDeepEqual(draws(new Random(1), 16), draws(new Random(2), 16));
  assert.notDeepEqual(draws(new Random(0), 16), draws(new Random(1), 16));
});

Deno.test("Random seed 0 and the default seed give a non-degenerate sequence", () => {
  const a = draws(new Random(0), 64);
  assert.deepEqual(draws(new Random(), 64), a);
  assert.ok(new Set(a).size > 60);
});

Deno.test("Random xoshiro128** from state [1,2,3,4] gives 11520, 0, 5927040", () => {
  // hand-stepped from the reference algorithm (Blackman and Vigna)
  const r = new Random(0);
  r.setState({ s: [1, 2, 3, 4], spareNormal: null });
  assert.deepEqual(draws(r, 3), [11520, 0, 5927040]);
});

Deno.test("Random getState/setState resumes the uint32 sequence exactly after 37 draws", () => {
  const r = new Random(9);
  draws(r, 37);
  const state = r.getState();
  const expected = draws(r, 100);
  const other = new Random(12345);
  other.setState(state);
  assert.deepEqual(draws(other, 100), expected);
  r.setState(state);
  assert.deepEqual(draws(r, 100), expected);
});

Deno.test("Random getState/setState keeps the spare normal of a Box-Muller pair", () => {
  const r = new Random(3);
  r.normal(); // leaves a spare
  const state = r.getState();
  assert.notEqual(state.spareNormal, null);
  const expected = [r.normal(), r.normal(), r.normal(), r.next()];
  const other = new Random(4);
  other.setState(state);
  assert.deepEqual([other.normal(), other.normal(), other.normal(), other.next()], expected);
});

Deno.test("Random getState returns a copy that later draws do not change", () => {
  const r = new Random(5);
  const state = r.getState();
  const copy = structuredClone(state);
  draws(r, 10);
  assert.deepEqual(state, copy);
});

Deno.test("Random setState rejects a state of 3 words", () => {
  assert.throws(
    () => new Random(1).setState({ s: [1, 2, 3], spareNormal: null }),
    (e: unknown) => e instanceof TypeError && /3/.test(e.message),
  );
});

Deno.test("Random constructor rejects NaN and Infinity seeds", () => {
  assert.throws(
    () => new Random(NaN),
    (e: unknown) => e instanceof RangeError && /NaN/.test(e.message),
  );
  assert.throws(() => new Random(Infinity), RangeError);
});

Deno.test("Random next is in [0, 1) and uniform(-3, 5) in [-3, 5) with mean near 1", () => {
  const r = new Random(11);
  let sum = 0;
  for (let i = 0; i < 20000; i++) {
    const u = r.next();
    assert.ok(u >= 0 && u < 1);
    const v = r.uniform(-3, 5);
    assert.ok(v >= -3 && v < 5);
    sum += v;
  }
  assert.ok(Math.abs(sum / 20000 - 1) < 0.1, `mean ${sum / 20000}`);
});

Deno.test("Random normal has mean near 0 and variance near 1 over 20000 draws", () => {
  const r = new Random(12);
  let s = 0, s2 = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    s += z;
    s2 += z * z;
  }
  const mean = s / n;
  assert.ok(Math.abs(mean) < 0.05, `mean ${mean}`);
  assert.ok(Math.abs(s2 / n - mean * mean - 1) < 0.05, `variance ${s2 / n - mean * mean}`);
});

Deno.test("Random int(n) stays in [0, n) for n=1, 2, 7, 1000, 2^32", () => {
  const r = new Random(13);
  for (const n of [1, 2, 7, 1000, 4294967296]) {
    for (let i = 0; i < 2000; i++) {
      const k = r.int(n);
      assert.ok(Number.isInteger(k) && k >= 0 && k < n, `int(${n}) gave ${k}`);
    }
  }
  assert.equal(r.int(1), 0);
});

Deno.test("Random int(10) is roughly uniform over 100000 draws (each bucket within 5%)", () => {
  const r = new Random(14);
  const counts = new Array(10).fill(0);
  const n = 100000;
  for (let i = 0; i < n; i++) counts[r.int(10)]++;
  for (let k = 0; k < 10; k++) {
    assert.ok(Math.abs(counts[k] / (n / 10) - 1) < 0.05, `bucket ${k}: ${counts[k]}`);
  }
});

Deno.test("Random int(3) passes a chi-square test (< 20 over 60000 draws)", () => {
  const r = new Random(15);
  const counts = [0, 0, 0];
  for (let i = 0; i < 60000; i++) counts[r.int(3)]!++;
  const chi2 = counts.reduce((a, c) => a + (c - 20000) ** 2 / 20000, 0);
  assert.ok(chi2 < 20, `chi-square ${chi2} for ${counts}`);
});

Deno.test("Random int rejects n=0, n=1.5, n=-3 and n=2^32+1, naming the value", () => {
  const r = new Random(1);
  for (const n of [0, 1.5, -3, 4294967297]) {
    assert.throws(
      () => r.int(n),
      (e: unknown) => e instanceof RangeError && e.message.includes(String(n)),
      `int(${n})`,
    );
  }
});

Deno.test("Random shuffle of 0..99 (array and Int32Array) is a permutation, in place", () => {
  const r = new Random(16);
  const a = Array.from({ length: 100 }, (_, i) => i);
  const back = r.shuffle(a);
  assert.equal(back, a);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.notDeepEqual(a, Array.from({ length: 100 }, (_, i) => i));
  const t = Int32Array.from({ length: 100 }, (_, i) => i);
  r.shuffle(t);
  assert.deepEqual([...t].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
});

Deno.test("Random shuffle with the same seed gives the same order; empty and one-element arrays pass", () => {
  const a = new Random(17).shuffle(Array.from({ length: 50 }, (_, i) => i));
  const b = new Random(17).shuffle(Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(a, b);
  assert.deepEqual(new Random(1).shuffle([]), []);
  assert.deepEqual(new Random(1).shuffle(["x"]), ["x"]);
});

Deno.test("Random shuffle of [0,1,2] gives each of the 6 orders about equally often", () => {
  const r = new Random(18);
  const counts = new Map<string, number>();
  const n = 60000;
  for (let i = 0; i < n; i++) {
    const key = r.shuffle([0, 1, 2]).join("");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.equal(counts.size, 6);
  for (const [k, c] of counts) assert.ok(Math.abs(c / (n / 6) - 1) < 0.05, `${k}: ${c}`);
});
