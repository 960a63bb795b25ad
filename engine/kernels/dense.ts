/**
 * The dense layer's matrix products: y = x w + b, and its two gradients.
 *
 * The TypeScript kernels use the i-k-j loop order: the innermost loop runs over a contiguous row
 * of `w` (or `dy`) and a contiguous row of the result, which V8 compiles to a tight scalar loop
 * without strided loads. Zero inputs (common after relu) skip a whole row. The naive twins are the
 * dot-product definitions with float64 sums.
 *
 * @module
 */

/** y = x w + b. y is (N, out); x is (N, in); w is (in, out); b is (out) or null. */
export function denseForward(
  y: Float32Array,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array | null,
  batch: number,
  inDim: number,
  outDim: number,
): void {
  for (let n = 0; n < batch; n++) {
    const yOff = n * outDim;
    if (b !== null) { for (let j = 0; j < outDim; j++) y[yOff + j] = b[j]!; }
    else y.fill(0, yOff, yOff + outDim);
    const xOff = n * inDim;
    for (let k = 0; k < inDim; k++) {
      const xv = x[xOff + k]!;
      if (xv === 0) continue;
      const wOff = k * outDim;
      for (let j = 0; j < outDim; j++) y[yOff + j]! += xv * w[wOff + j]!;
    }
  }
}

/** dx = dy w^T (overwrites). dx is (N, in); dy is (N, out); w is (in, out). */
export function denseBackwardInput(
  dx: Float32Array,
  dy: Float32Array,
  w: Float32Array,
  batch: number,
  inDim: number,
  outDim: number,
): void {
  for (let n = 0; n < batch; n++) {
    const dyOff = n * outDim;
    for (let k = 0; k < inDim; k++) {
      const wOff = k * outDim;
      let s = 0;
      for (let j = 0; j < outDim; j++) s += dy[dyOff + j]! * w[wOff + j]!;
      dx[n * inDim + k] = s;
    }
  }
}

/** dw += x^T dy, db += column sums of dy. dw is (in, out); db is (out) or null; dy is (N, out); x is (N, in). */
export function denseBackwardKernel(
  dw: Float32Array,
  db: Float32Array | null,
  dy: Float32Array,
  x: Float32Array,
  batch: number,
  inDim: number,
  outDim: number,
): void {
  for (let n = 0; n < batch; n++) {
    const dyOff = n * outDim;
    if (db !== null) { for (let j = 0; j < outDim; j++) db[j]! += dy[dyOff + j]!; }
    const xOff = n * inDim;
    for (let k = 0; k < inDim; k++) {
      const xv = x[xOff + k]!;
      if (xv === 0) continue;
      const wOff = k * outDim;
      for (let j = 0; j < outDim; j++) dw[wOff + j]! += xv * dy[dyOff + j]!;
    }
  }
}

/** Naive twin of {@linkcode denseForward}. */
export function denseForwardNaive(
  y: Float32Array,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array | null,
  batch: number,
  inDim: number,
  outDim: number,
): void {
  for (let n = 0; n < batch; n++) {
    for (let j = 0; j < outDim; j++) {
      let s = b === null ? 0 : b[j]!;
      for (let k = 0; k < inDim; k++) s += x[n * inDim + k]! * w[k * outDim + j]!;
      y[n * outDim + j] = s;
    }
  }
}

/** Naive twin of {@linkcode denseBackwardInput}. */
export function denseBackwardInputNaive(
  dx: Float32Array,
  dy: Float32Array,
  w: Float32Array,
  batch: number,
  inDim: number,
  outDim: number,
): void {
  for (let n = 0; n < batch; n++) {
    for (let k = 0; k < inDim; k++) {
      let s = 0;
      for (let j = 0; j < outDim; j++) s += dy[n * outDim + j]! * w[k * outDim + j]!;
      dx[n * inDim + k] = s;
    }
  }
}

/** Naive twin of {@linkcode denseBackwardKernel}. */
export function denseBackwardKernelNaive(
  dw: Float32Array,
  db: Float32Array | null,
  dy: Float32Array,
  x: Float32Array,
  batch: number,
  inDim: number,
  outDim: number,
): void {
  for (let k = 0; k < inDim; k++) {
    for (let j = 0; j < outDim; j++) {
      let s = 0;
      for (let n = 0; n < batch; n++) s += x[n * inDim + k]! * dy[n * outDim + j]!;
      dw[k * outDim + j]! += s;
    }
  }
  if (db !== null) {
    for (let j = 0; j < outDim; j++) {
      let s = 0;
      for (let n = 0; n < batch; n++) s += dy[n * outDim + j]!;
      db[j]! += s;
    }
  }
}
