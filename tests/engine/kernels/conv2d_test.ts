import assert from "node:assert/strict";
import { type Conv2DInfo, conv2dInfo, type Padding } from "../../../engine/conv_info.ts";
import {
  conv2dBackwardInput,
  conv2dBackwardInputNaive,
  conv2dBackwardKernel,
  conv2dBackwardKernelNaive,
  conv2dForward,
  conv2dForwardNaive,
} from "../../../engine/kernels/conv2d.ts";
import { Random } from "../../../engine/random.ts";
import { assertMaxRelError, randomArray } from "../../_helpers.ts";

const TOL = 1e-5;

function info(
  x: [number, number, number, number],
  k: [number, number],
  s: number,
  padding: Padding,
  outC: number,
): Conv2DInfo {
  return conv2dInfo(x, { kernelSize: k, strides: [s, s], padding, outChannels: outC });
}

function sizes(i: Conv2DInfo) {
  return {
    x: i.batch * i.inH * i.inW * i.inC,
    y: i.batch * i.outH * i.outW * i.outC,
    w: i.kH * i.kW * i.inC * i.outC,
  };
}

/** Runs the three fast kernels and their naive twins on random data and compares them. */
function compareWithNaive(i: Conv2DInfo, random: Random, label: string): void {
  const n = sizes(i);
  const x = randomArray(random, n.x);
  // zeros in x exercise the fast kernels' skip of zero inputs
  for (let j = 0; j < n.x; j += 5) x[j] = 0;
  const w = randomArray(random, n.w);
  const b = randomArray(random, i.outC);
  const dy = randomArray(random, n.y);

  for (const bias of [b, null]) {
    const y = new Float32Array(n.y).fill(NaN); // forward must overwrite
    const yRef = new Float32Array(n.y);
    conv2dForward(y, x, w, bias, i);
    conv2dForwardNaive(yRef, x, w, bias, i);
    assertMaxRelError(y, yRef, TOL, `${label} forward (bias ${bias !== null})`);
  }

  const dx = new Float32Array(n.x).fill(NaN); // backward input must overwrite
  const dxRef = new Float32Array(n.x);
  conv2dBackwardInput(dx, dy, w, i);
  conv2dBackwardInputNaive(dxRef, dy, w, i);
  assertMaxRelError(dx, dxRef, TOL, `${label} backward input`);

  const dw = new Float32Array(n.w), db = new Float32Array(i.outC);
  const dwRef = new Float32Array(n.w), dbRef = new Float32Array(i.outC);
  conv2dBackwardKernel(dw, db, dy, x, i);
  conv2dBackwardKernelNaive(dwRef, dbRef, dy, x, i);
  assertMaxRelError(dw, dwRef, TOL, `${label} backward kernel dw`);
  assertMaxRelError(db, dbRef, TOL, `${label} backward kernel db`);
}

const KERNELS: [number, number][] = [[3, 2], [1, 1], [5, 5], [3, 3]];
const SPATIAL: [number, number][] = [[7, 9], [5, 5]];
const CHANNELS: [number, number][] = [[1, 3], [3, 5], [5, 17], [17, 1]];

for (const k of KERNELS) {
  for (const s of [1, 2, 3]) {
    for (const padding of ["same", "valid"] as const) {
      const shapes = `x=[1|3,7x9|5x5,1|3|5|17] k=${k[0]}x${k[1]} s=${s} ${padding}`;
      Deno.test(`conv2d fast kernels equal naive twins for ${shapes}`, () => {
        const random = new Random(k[0] * 100 + k[1] * 10 + s);
        for (const batch of [1, 3]) {
          for (const [h, w] of SPATIAL) {
            for (const [inC, outC] of CHANNELS) {
              const i = info([batch, h, w, inC], k, s, padding, outC);
              if (i.outH === 0 || i.outW === 0) continue;
              const label = `x=[${batch},${h},${w},${inC}] k=${k} s=${s} ${padding} outC=${outC}`;
              compareWithNaive(i, random, label);
            }
          }
        }
      });
    }
  }
}

Deno.test("conv2d fast kernels equal naive twins for mixed strides x=[2,9,7,3] k=3x2 s=[2,3] same", () => {
  const i = conv2dInfo([2, 9, 7, 3], {
    kernelSize: [3, 2],
    strides: [2, 3],
    padding: "same",
    outChannels: 5,
  });
  compareWithNaive(i, new Random(5), "x=[2,9,7,3] k=3x2 s=[2,3] same");
});

Deno.test("conv2d forward by hand for x=[1,3,3,1] k=2 s=1 valid with bias 0.5", () => {
  const i = info([1, 3, 3, 1], [2, 2], 1, "valid", 1);
  const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const w = Float32Array.from([1, 0, 0, -1]); // y = x[h][w] - x[h+1][w+1] + 0.5
  const y = new Float32Array(4);
  conv2dForward(y, x, w, Float32Array.of(0.5), i);
  assert.deepEqual([...y], [-3.5, -3.5, -3.5, -3.5]);
});

Deno.test("conv2d forward by hand for x=[1,3,3,1] all ones, k=3 s=2 same counts in-image taps", () => {
  const i = info([1, 3, 3, 1], [3, 3], 2, "same", 1);
  assert.deepEqual([i.outH, i.outW, i.padTop, i.padBottom], [2, 2, 1, 1]);
  const y = new Float32Array(4);
  conv2dForward(y, new Float32Array(9).fill(1), new Float32Array(9).fill(1), null, i);
  // windows centred on (0,0), (0,2), (2,0), (2,2): each sees a 2x2 corner of the image
  assert.deepEqual([...y], [4, 4, 4, 4]);
});

Deno.test("conv2d backward kernel accumulates: two calls double dw and db for x=[2,7,9,5] k=3x2 s=2 same", () => {
  const random = new Random(21);
  const i = info([2, 7, 9, 5], [3, 2], 2, "same", 3);
  const n = sizes(i);
  const x = randomArray(random, n.x), dy = randomArray(random, n.y);
  const dw = new Float32Array(n.w), db = new Float32Array(3);
  conv2dBackwardKernel(dw, db, dy, x, i);
  const once = dw.slice(), onceB = db.slice();
  conv2dBackwardKernel(dw, db, dy, x, i);
  assertMaxRelError(dw, once.map((v) => 2 * v), 1e-6, "dw");
  assertMaxRelError(db, onceB.map((v) => 2 * v), 1e-6, "db");
  // and the naive twin accumulates too
  const dwRef = new Float32Array(n.w).fill(1);
  conv2dBackwardKernelNaive(dwRef, null, dy, x, i);
  assertMaxRelError(dwRef, once.map((v) => v + 1), 1e-5, "naive dw += ");
});

Deno.test("conv2d backward input overwrites: a prefilled dx gives the same result for x=[3,5,5,3] k=3 s=1 same", () => {
  const random = new Random(22);
  const i = info([3, 5, 5, 3], [3, 3], 1, "same", 4);
  const n = sizes(i);
  const w = randomArray(random, n.w), dy = randomArray(random, n.y);
  const a = new Float32Array(n.x), b = new Float32Array(n.x).fill(123);
  conv2dBackwardInput(a, dy, w, i);
  conv2dBackwardInput(b, dy, w, i);
  assert.deepEqual(b, a);
});

Deno.test("conv2d kernels without a bias (db=null) match for x=[1,5,5,17] k=5 s=1 valid", () => {
  const random = new Random(23);
  const i = info([1, 5, 5, 17], [5, 5], 1, "valid", 2);
  assert.deepEqual([i.outH, i.outW], [1, 1]);
  const n = sizes(i);
  const x = randomArray(random, n.x), dy = randomArray(random, n.y);
  const dw = new Float32Array(n.w), dwRef = new Float32Array(n.w);
  conv2dBackwardKernel(dw, null, dy, x, i);
  conv2dBackwardKernelNaive(dwRef, null, dy, x, i);
  assertMaxRelError(dw, dwRef, TOL, "dw");
  // a 1x1 output: dw[kh,kw,ci,co] = x[kh,kw,ci] * dy[co]
  for (let j = 0; j < 25 * 17; j++) {
    for (let co = 0; co < 2; co++) {
      assert.ok(Math.abs(dw[j * 2 + co]! - x[j]! * dy[co]!) < 1e-6);
    }
  }
});

Deno.test("conv2d kernels touch only the first N*outH*outW*outC values of larger buffers x=[1,5,5,3] k=3 s=2 same", () => {
  const random = new Random(24);
  const i = info([1, 5, 5, 3], [3, 3], 2, "same", 2);
  const n = sizes(i);
  const x = randomArray(random, n.x), w = randomArray(random, n.w);
  const y = new Float32Array(n.y + 4).fill(7);
  conv2dForward(y, x, w, null, i);
  assert.deepEqual([...y.subarray(n.y)], [7, 7, 7, 7]);
  const dx = new Float32Array(n.x + 3).fill(7);
  conv2dBackwardInput(dx, y.subarray(0, n.y), w, i);
  assert.deepEqual([...dx.subarray(n.x)], [7, 7, 7]);
});
