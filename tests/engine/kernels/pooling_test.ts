import assert from "node:assert/strict";
import { type Conv2DInfo, conv2dInfo, type Padding } from "../../../engine/conv_info.ts";
import {
  avgPoolBackward,
  avgPoolForward,
  avgPoolNaive,
  maxPoolBackward,
  maxPoolForward,
  maxPoolNaive,
} from "../../../engine/kernels/pooling.ts";
import { Random } from "../../../engine/random.ts";
import { assertMaxRelError, randomArray } from "../../_helpers.ts";

const TOL = 1e-5;

function info(
  x: [number, number, number, number],
  pool: [number, number],
  s: number,
  padding: Padding,
): Conv2DInfo {
  return conv2dInfo(x, { kernelSize: pool, strides: [s, s], padding, outChannels: x[3] });
}

function sizes(i: Conv2DInfo) {
  return { x: i.batch * i.inH * i.inW * i.inC, y: i.batch * i.outH * i.outW * i.inC };
}

const POOLS: [number, number][] = [[2, 2], [3, 3], [3, 2], [1, 1], [5, 5]];
const SPATIAL: [number, number][] = [[7, 9], [5, 5]];

for (const pool of POOLS) {
  for (const s of [1, 2, 3]) {
    for (const padding of ["same", "valid"] as const) {
      const shapes = `x=[1|3,7x9|5x5,1|3|5|17] pool=${pool[0]}x${pool[1]} s=${s} ${padding}`;
      Deno.test(`pooling fast kernels equal naive twins for ${shapes}`, () => {
        const random = new Random(pool[0] * 100 + pool[1] * 10 + s);
        for (const batch of [1, 3]) {
          for (const [h, w] of SPATIAL) {
            for (const c of [1, 3, 5, 17]) {
              const i = info([batch, h, w, c], pool, s, padding);
              if (i.outH === 0 || i.outW === 0) continue;
              const label = `x=[${batch},${h},${w},${c}] pool=${pool} s=${s} ${padding}`;
              const n = sizes(i);
              // values on a coarse grid make ties frequent, testing the first-maximum rule
              const x = randomArray(random, n.x).map((v) => Math.round(v * 3));
              const dy = randomArray(random, n.y);

              const y = new Float32Array(n.y), argmax = new Int32Array(n.y);
              const dx = new Float32Array(n.x).fill(NaN);
              const yRef = new Float32Array(n.y), dxRef = new Float32Array(n.x);
              maxPoolForward(y, argmax, x, i);
              maxPoolBackward(dx, dy, argmax, i);
              maxPoolNaive(yRef, dxRef, dy, x, i);
              assert.deepEqual(y, yRef, `${label} max forward`);
              assertMaxRelError(dx, dxRef, TOL, `${label} max backward`);

              const ya = new Float32Array(n.y), dxa = new Float32Array(n.x).fill(NaN);
              const yaRef = new Float32Array(n.y), dxaRef = new Float32Array(n.x);
              avgPoolForward(ya, x, i);
              avgPoolBackward(dxa, dy, i);
              avgPoolNaive(yaRef, dxaRef, dy, x, i);
              assertMaxRelError(ya, yaRef, TOL, `${label} avg forward`);
              assertMaxRelError(dxa, dxaRef, TOL, `${label} avg backward`);
            }
          }
        }
      });
    }
  }
}

Deno.test("max pool by hand for x=[1,4,4,1] pool=2 s=2 valid, with argmax flat indices", () => {
  const i = info([1, 4, 4, 1], [2, 2], 2, "valid");
  const x = Float32Array.of(1, 5, 2, 0, 3, 4, 8, 1, -1, -2, 0, 0, -3, -4, 0, 9);
  const y = new Float32Array(4), argmax = new Int32Array(4);
  maxPoolForward(y, argmax, x, i);
  assert.deepEqual([...y], [5, 8, -1, 9]);
  assert.deepEqual([...argmax], [1, 6, 8, 15]);
  const dx = new Float32Array(16).fill(NaN);
  maxPoolBackward(dx, Float32Array.of(10, 20, 30, 40), argmax, i);
  const expected = new Array(16).fill(0);
  expected[1] = 10, expected[6] = 20, expected[8] = 30, expected[15] = 40;
  assert.deepEqual([...dx], expected);
});

Deno.test("max pool ties go to the first maximum in row-major window order for x=[1,2,2,2]", () => {
  const i = info([1, 2, 2, 2], [2, 2], 2, "valid");
  // channel 0: all equal (tie over all 4 taps); channel 1: taps 1 and 3 tie at 7
  const x = Float32Array.of(3, 1, 3, 7, 3, 2, 3, 7);
  const y = new Float32Array(2), argmax = new Int32Array(2);
  maxPoolForward(y, argmax, x, i);
  assert.deepEqual([...y], [3, 7]);
  assert.deepEqual([...argmax], [0, 3]);
  const dx = new Float32Array(8);
  maxPoolBackward(dx, Float32Array.of(1, 2), argmax, i);
  assert.deepEqual([...dx], [1, 0, 0, 2, 0, 0, 0, 0]);
});

Deno.test("max pool of all -Infinity x=[1,2,2,1] still picks a valid argmax", () => {
  const i = info([1, 2, 2, 1], [2, 2], 2, "valid");
  const y = new Float32Array(1), argmax = new Int32Array(1).fill(-5);
  maxPoolForward(y, argmax, new Float32Array(4).fill(-Infinity), i);
  assert.equal(y[0], -Infinity);
  assert.equal(argmax[0], 0);
});

Deno.test("max pool with overlapping windows x=[1,1,3,1] pool=1x2 s=1 sums dy where argmaxes coincide", () => {
  const i = conv2dInfo([1, 1, 3, 1], {
    kernelSize: [1, 2],
    strides: [1, 1],
    padding: "valid",
    outChannels: 1,
  });
  const x = Float32Array.of(0, 5, 1);
  const y = new Float32Array(2), argmax = new Int32Array(2);
  maxPoolForward(y, argmax, x, i);
  assert.deepEqual([...y], [5, 5]);
  const dx = new Float32Array(3);
  maxPoolBackward(dx, Float32Array.of(1, 2), argmax, i);
  assert.deepEqual([...dx], [0, 3, 0]);
});

Deno.test("max pool same padding ignores padding: all-negative x=[1,3,3,1] pool=2 s=2 same", () => {
  const i = info([1, 3, 3, 1], [2, 2], 2, "same");
  assert.deepEqual([i.outH, i.outW, i.padTop, i.padBottom], [2, 2, 0, 1]);
  const x = Float32Array.of(-1, -2, -3, -4, -5, -6, -7, -8, -9);
  const y = new Float32Array(4), argmax = new Int32Array(4);
  maxPoolForward(y, argmax, x, i);
  // a zero-padded max would give 0 on the bottom/right windows
  assert.deepEqual([...y], [-1, -3, -7, -9]);
  assert.deepEqual([...argmax], [0, 2, 6, 8]);
});

Deno.test("avg pool same padding divides by in-image taps: ones x=[1,3,3,1] pool=2 s=2 same -> all 1", () => {
  const i = info([1, 3, 3, 1], [2, 2], 2, "same");
  const y = new Float32Array(4);
  avgPoolForward(y, new Float32Array(9).fill(1), i);
  assert.deepEqual([...y], [1, 1, 1, 1]);
});

Deno.test("avg pool by hand for x=[1,3,3,1] pool=2 s=2 same: windows of 4, 2, 2 and 1 taps", () => {
  const i = info([1, 3, 3, 1], [2, 2], 2, "same");
  const x = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9);
  const y = new Float32Array(4);
  avgPoolForward(y, x, i);
  assert.deepEqual([...y], [3, 4.5, 7.5, 9]);
  const dx = new Float32Array(9).fill(NaN);
  avgPoolBackward(dx, Float32Array.of(4, 2, 2, 1), i);
  // each window spreads dy / taps over its taps
  assert.deepEqual([...dx], [1, 1, 1, 1, 1, 1, 1, 1, 1]);
});

Deno.test("avg pool by hand for x=[1,3,3,1] pool=3 s=1 same: corner 4 taps, edge 6, centre 9", () => {
  const i = info([1, 3, 3, 1], [3, 3], 1, "same");
  const x = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9);
  const y = new Float32Array(9);
  avgPoolForward(y, x, i);
  const expected = [12 / 4, 21 / 6, 16 / 4, 27 / 6, 45 / 9, 33 / 6, 24 / 4, 39 / 6, 28 / 4];
  assertMaxRelError(y, expected, 1e-6, "avg pool 3x3 same");
});

Deno.test("avg pool backward overwrites dx and conserves the sum of dy for x=[3,7,9,5] pool=3x2 s=2 same", () => {
  const random = new Random(41);
  const i = info([3, 7, 9, 5], [3, 2], 2, "same");
  const n = sizes(i);
  const dy = randomArray(random, n.y);
  const dx = new Float32Array(n.x).fill(100);
  avgPoolBackward(dx, dy, i);
  const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(sum(dx) - sum(dy)) < 1e-4, `${sum(dx)} vs ${sum(dy)}`);
});
