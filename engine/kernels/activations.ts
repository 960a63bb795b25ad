/**
 * Element-wise activations and the row-wise softmax, each forward with its backward underneath.
 * Backwards take the forward's output `y` (not its input) where the derivative is cheaper from it,
 * so a layer only keeps its output for the backward. `y` may alias `x` (in-place forward) and `dx`
 * may alias `dy`.
 *
 * @module
 */

/** The activation names Keras accepts on Conv2D / Dense / Activation (plus `linear`). */
export type ActivationName = "linear" | "relu" | "sigmoid" | "tanh" | "softmax";

/** Activation names, for validation messages. */
export const ACTIVATION_NAMES: readonly ActivationName[] = [
  "linear",
  "relu",
  "sigmoid",
  "tanh",
  "softmax",
];

/**
 * Applies an activation in place to `y` (rows of `cols` values; only softmax uses the rows).
 */
export function activationForward(
  name: ActivationName,
  y: Float32Array,
  x: Float32Array,
  size: number,
  cols: number,
): void {
  switch (name) {
    case "linear":
      if (y !== x) y.set(x.subarray(0, size));
      return;
    case "relu":
      // NaN passes through, as TensorFlow's relu: a fault must not be hidden as a zero
      for (let i = 0; i < size; i++) {
        const v = x[i]!;
        y[i] = v < 0 ? 0 : v;
      }
      return;
    case "sigmoid":
      for (let i = 0; i < size; i++) y[i] = 1 / (1 + Math.exp(-x[i]!));
      return;
    case "tanh":
      for (let i = 0; i < size; i++) y[i] = Math.tanh(x[i]!);
      return;
    case "softmax":
      softmaxForward(y, x, size / cols, cols);
      return;
  }
}

/**
 * dx = dy * f'(.) computed from the forward's output y (overwrites dx; dx may alias dy).
 */
export function activationBackward(
  name: ActivationName,
  dx: Float32Array,
  dy: Float32Array,
  y: Float32Array,
  size: number,
  cols: number,
): void {
  switch (name) {
    case "linear":
      if (dx !== dy) dx.set(dy.subarray(0, size));
      return;
    case "relu":
      // relu'(0) = 0, as TensorFlow's ReluGrad
      for (let i = 0; i < size; i++) dx[i] = y[i]! > 0 ? dy[i]! : 0;
      return;
    case "sigmoid":
      for (let i = 0; i < size; i++) {
        const s = y[i]!;
        dx[i] = dy[i]! * s * (1 - s);
      }
      return;
    case "tanh":
      for (let i = 0; i < size; i++) {
        const t = y[i]!;
        dx[i] = dy[i]! * (1 - t * t);
      }
      return;
    case "softmax":
      softmaxBackward(dx, dy, y, size / cols, cols);
      return;
  }
}

/** y = softmax(x) along rows, with the row maximum subtracted first so exp never overflows. */
export function softmaxForward(y: Float32Array, x: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) if (x[o + j]! > m) m = x[o + j]!;
    let s = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.exp(x[o + j]! - m);
      y[o + j] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let j = 0; j < cols; j++) y[o + j]! *= inv;
  }
}

/** dx = y * (dy - sum(dy * y)) along rows (the softmax Jacobian applied to dy). */
export function softmaxBackward(
  dx: Float32Array,
  dy: Float32Array,
  y: Float32Array,
  rows: number,
  cols: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dy[o + j]! * y[o + j]!;
    for (let j = 0; j < cols; j++) dx[o + j] = y[o + j]! * (dy[o + j]! - dot);
  }
}
