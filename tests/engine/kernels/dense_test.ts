import assert from "node:assert/strict";
import {
  denseBackwardInput,
  denseBackwardInputNaive,
  denseBackwardKernel,
  denseBackwardKernelNaive,
  denseForward,
  denseForwardNaive,
} from "../../../engine/kernels/dense.ts";
import { Random } from "../../../engine/random.ts";
import { assertMaxRelError, randomArray } from "../../_helpers.ts";

const TOL = 1e-5;

for (const batch of [1, 3, 8]) {
  Deno.test(`dense fast kernels equal naive twins for batch=${batch} in=1|5|17|64 out=1|3|10`, () => {
    const random = new Random(batch);
    for (const inDim of [1, 5, 17, 64]) {
      for (const outDim of [1, 3, 10]) {
        const label = `x=[${batch},${inDim}] w=[${inDim},${outDim}]`;
        const x = randomArray(random, batch * inDim);
        for (let j = 0; j < x.length; j += 3) x[j] = 0; // relu-like zeros take the skip path
        const w = randomArray(random, inDim * outDim);
        const b = randomArray(random, outDim);
        const dy = randomArray(random, batch * outDim);

        for (const bias of [b, null]) {
          const y = new Float32Array(batch * outDim).fill(NaN);
          const yRef = new Float32Array(batch * outDim);
          denseForward(y, x, w, bias, batch, inDim, outDim);
          denseForwardNaive(yRef, x, w, bias, batch, inDim, outDim);
          assertMaxRelError(y, yRef, TOL, `${label} forward (bias ${bias !== null})`);
        }

        const dx = new Float32Array(batch * inDim).fill(NaN);
        const dxRef = new Float32Array(batch * inDim);
        denseBackwardInput(dx, dy, w, batch, inDim, outDim);
        denseBackwardInputNaive(dxRef, dy, w, batch, inDim, outDim);
        assertMaxRelError(dx, dxRef, TOL, `${label} backward input`);

        const dw = new Float32Array(inDim * outDim), db = new Float32Array(outDim);
        const dwRef = new Float32Array(inDim * outDim), dbRef = new Float32Array(outDim);
        denseBackwardKernel(dw, db, dy, x, batch, inDim, outDim);
        denseBackwardKernelNaive(dwRef, dbRef, dy, x, batch, inDim, outDim);
        assertMaxRelError(dw, dwRef, TOL, `${label} dw`);
        assertMaxRelError(db, dbRef, TOL, `${label} db`);
      }
    }
  });
}

Deno.test("dense forward by hand for x=[2,3] w=[3,2] b=[2]", () => {
  const x = Float32Array.of(1, 2, 3, -1, 0, 1);
  const w = Float32Array.of(1, 2, 3, 4, 5, 6); // rows: [1,2], [3,4], [5,6]
  const y = new Float32Array(4);
  denseForward(y, x, w, Float32Array.of(0.5, -0.5), 2, 3, 2);
  // row 0: [1+6+15, 2+8+18] + b; row 1: [-1+5, -2+6] + b
  assert.deepEqual([...y], [22.5, 27.5, 4.5, 3.5]);
});

Deno.test("dense backward by hand for x=[2,3] w=[3,2]: dx = dy w^T, dw = x^T dy, db = sum dy", () => {
  const x = Float32Array.of(1, 2, 3, -1, 0, 1);
  const w = Float32Array.of(1, 2, 3, 4, 5, 6);
  const dy = Float32Array.of(1, 0, 0.5, -1);
  const dx = new Float32Array(6);
  denseBackwardInput(dx, dy, w, 2, 3, 2);
  assert.deepEqual([...dx], [1, 3, 5, -1.5, -2.5, -3.5]);
  const dw = new Float32Array(6), db = new Float32Array(2);
  denseBackwardKernel(dw, db, dy, x, 2, 3, 2);
  // dw[k][j] = sum_n x[n][k] dy[n][j]
  assert.deepEqual([...dw], [0.5, 1, 2, 0, 3.5, -1]);
  assert.deepEqual([...db], [1.5, -1]);
});

Deno.test("dense backward kernel accumulates: two calls double dw and db for x=[3,17] w=[17,5]", () => {
  const random = new Random(31);
  const x = randomArray(random, 51), dy = randomArray(random, 15);
  const dw = new Float32Array(85), db = new Float32Array(5);
  denseBackwardKernel(dw, db, dy, x, 3, 17, 5);
  const once = dw.slice(), onceB = db.slice();
  denseBackwardKernel(dw, db, dy, x, 3, 17, 5);
  assertMaxRelError(dw, once.map((v) => 2 * v), 1e-6, "dw");
  assertMaxRelError(db, onceB.map((v) => 2 * v), 1e-6, "db");
});

Deno.test("dense forward with a zero input row gives the bias for x=[2,4] w=[4,3]", () => {
  const random = new Random(32);
  const x = new Float32Array(8);
  x.set(randomArray(random, 4), 4);
  const w = randomArray(random, 12), b = Float32Array.of(1, 2, 3);
  const y = new Float32Array(6).fill(NaN);
  denseForward(y, x, w, b, 2, 4, 3);
  assert.deepEqual([...y.subarray(0, 3)], [1, 2, 3]);
  const y0 = new Float32Array(6).fill(NaN);
  denseForward(y0, x, w, null, 2, 4, 3);
  assert.deepEqual([...y0.subarray(0, 3)], [0, 0, 0]);
});
