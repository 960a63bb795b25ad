/**
 * The transformed-filter cache: hits only on bit-identical weights under the same key, replaces a
 * key's version that was never hit (training) in place, else evicts the least recently used slot,
 * skips transforms over its size limit, and never keeps a claim for a
 * transform that failed; and the wasm backend's Winograd convolutions follow weights changed in
 * place (the layers' own buffers) instead of reusing a stale transform.
 *
 * Run: deno test -A tests/engine/wasm/filter_cache_test.ts
 */

import assert from "node:assert/strict";
import { conv2dInfo } from "../../../engine/conv_info.ts";
import { conv2dBackwardInputNaive, conv2dForwardNaive } from "../../../engine/kernels/conv2d.ts";
import { Random } from "../../../engine/random.ts";
import { simdSupported } from "../../../engine/wasm/codegen.ts";
import { FilterCache } from "../../../engine/wasm/filter_cache.ts";
import { createWasmBackend } from "../../../engine/wasm/wasm_backend.ts";
import { maxRelError, randomArray } from "../../_helpers.ts";

/** A cache over fake regions (slot i at 1000 * (i + 1)) that records the computes. */
function cache(capacity: number, maxBytes = 1 << 20) {
  const computed: number[] = [];
  const c = new FilterCache(capacity, (slot) => 1000 * (slot + 1), maxBytes);
  const get = (key: string, w: Float32Array, bytes = 64) =>
    c.get(key, w, bytes, (at) => computed.push(at));
  return { get, computed };
}

Deno.test("FilterCache hits on the same key and bit-identical weights only", () => {
  const { get, computed } = cache(4);
  const w = Float32Array.from([1, 2, 0, 4]);
  assert.equal(get("a", w), 1000);
  assert.equal(get("a", w.slice()), 1000, "same contents, another array: a hit");
  assert.deepEqual(computed, [1000]);
  assert.equal(get("b", w), 2000, "another key: a miss");
  const negZero = w.slice();
  negZero[2] = -0;
  assert.equal(get("a", negZero), 3000, "0 -> -0 is a change (a new slot: the first was hit)");
  w[3] = 4.000001;
  assert.equal(get("a", w), 3000, "a changed weight: a miss, over the version never hit");
  assert.deepEqual(computed, [1000, 2000, 3000, 3000]);
  assert.equal(get("a", Float32Array.from([1, 2, 0, 4])), 1000, "the first contents still cached");
  assert.equal(get("a", w.slice()), 3000, "and the last");
  assert.equal(computed.length, 4);
});

Deno.test("FilterCache: weights that change every call (training) reuse one slot", () => {
  const { get, computed } = cache(3);
  const x = Float32Array.from([9, 9]);
  assert.equal(get("x", x), 1000);
  assert.equal(get("x", x), 1000, "x hit");
  for (let step = 0; step < 6; step++) {
    assert.equal(get("k", Float32Array.from([step, 1])), 2000, `step ${step}: the same slot`);
  }
  assert.equal(get("x", x), 1000, "x kept");
  assert.deepEqual(computed, [1000, 2000, 2000, 2000, 2000, 2000, 2000]);
  // Two versions of one key that are both used (two models of the same shapes) both stay.
  const [p, q] = [Float32Array.from([1, 2]), Float32Array.from([3, 4])];
  assert.equal(get("m", p), 3000);
  assert.equal(get("m", p), 3000);
  assert.equal(get("m", q), 2000, "q over k's last version (least recent; p was hit)");
  assert.equal(get("m", q), 2000);
  assert.equal(get("m", p), 3000, "p still cached");
});

Deno.test("FilterCache evicts the least recently used slot and skips large transforms", () => {
  const { get, computed } = cache(2, 100);
  const [a, b, c] = [[1], [2], [3]].map((v) => Float32Array.from(v)) as [
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  get("k", a); // slot 0
  get("k", a); // hit (a version that was used: no longer replaced by the next miss of "k")
  get("k", b); // slot 1
  get("k", b); // hit
  get("k", a); // hit: a is now the most recent
  assert.equal(get("k", c), 2000, "b (least recent) evicted");
  assert.equal(get("k", a), 1000, "a kept");
  assert.equal(get("k", b), 2000, "b computed again, over c");
  assert.deepEqual(computed, [1000, 2000, 2000, 2000]);
  assert.equal(get("k", a, 101), undefined, "over maxBytes: not cached");
  assert.equal(computed.length, 4, "and not computed by the cache");
});

Deno.test("FilterCache keeps no claim for a transform that threw", () => {
  const c = new FilterCache(1, (slot) => 64 * (slot + 1), 1 << 20);
  const w = Float32Array.from([5, 6]);
  assert.throws(() =>
    c.get("k", w, 8, () => {
      throw new Error("kernel fault");
    }), /kernel fault/);
  let computed = 0;
  assert.equal(c.get("k", w, 8, () => computed++), 64);
  assert.equal(computed, 1, "computed again after the failure");
});

Deno.test({
  name: "Winograd convolutions follow weights changed in place (no stale transform)",
  ignore: !simdSupported(),
  fn: async () => {
    const random = new Random(7);
    // conv2 of the seed CNN (F(4x4, 3x3)) and a layer on F(2x2, 3x3): forward and input gradient.
    for (const [h, c, o] of [[26, 32, 32], [8, 16, 16]] as const) {
      const be = await createWasmBackend({ workers: 2, parallelMinMacs: 0 });
      try {
        const info = conv2dInfo([2, h, h, c], {
          kernelSize: [3, 3],
          strides: [1, 1],
          padding: "valid",
          outChannels: o,
        });
        const x = be.alloc(2 * h * h * c);
        x.set(randomArray(random, x.length));
        const dy = be.alloc(2 * info.outH * info.outW * o);
        dy.set(randomArray(random, dy.length));
        const w = be.alloc(9 * c * o); // the layer's own buffer: updated in place
        const y = be.alloc(dy.length), dx = be.alloc(x.length);
        for (let step = 0; step < 3; step++) {
          if (step < 2) w.set(randomArray(random, w.length, -0.2, 0.2));
          else w[w.length - 1] = 0.5 - w[w.length - 1]!; // only the last word changes
          for (let rep = 0; rep < 2; rep++) {
            be.conv2dForward(y, x, w, null, info);
            be.conv2dBackwardInput(dx, dy, w, info);
            const yRef = new Float32Array(y.length), dxRef = new Float32Array(dx.length);
            conv2dForwardNaive(yRef, x, w, null, info);
            conv2dBackwardInputNaive(dxRef, dy, w, info);
            const label = `${h}x${h}x${c}->${o} step ${step} rep ${rep}`;
            assert.ok(maxRelError(y, yRef) < 1e-5, `${label}: forward`);
            assert.ok(maxRelError(dx, dxRef) < 1e-5, `${label}: input gradient`);
          }
        }
      } finally {
        be.dispose();
      }
    }
  },
});
