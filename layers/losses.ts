/**
 * Losses by Keras name or TF.js camelCase name. A loss computes the batch-mean value of
 * predictions against targets and writes dL/dpredictions. Cross-entropy after a softmax output is
 * fused by the model (see `engine/kernels/losses.ts`).
 *
 * @module
 */

import {
  categoricalCrossentropy,
  countCorrect,
  meanSquaredError,
  softmaxCrossentropyFused,
} from "../engine/kernels/losses.ts";
import type { Tensor } from "../engine/tensor.ts";

/** A loss function. */
export interface Loss {
  /** Keras's name, e.g. `categorical_crossentropy`. */
  readonly name: string;
  /** Mean loss of `p` against `t`; writes dL/dp into `dp` when given (or dL/dlogits when `fused`). */
  compute(dp: Float32Array | null, p: Tensor, t: Tensor, fused: boolean): number;
  /** Whether the loss can take the gradient through a softmax output directly. */
  readonly fusesWithSoftmax: boolean;
  /** Correct predictions in the batch, for the `accuracy` metric Keras pairs with this loss. */
  countCorrect(p: Tensor, t: Tensor): number;
}

function rowsCols(p: Tensor): [number, number] {
  const rows = p.shape[0]!;
  return [rows, p.data.length / rows];
}

function checkTargets(name: string, p: Tensor, t: Tensor, expected: number): void {
  if (t.data.length !== expected) {
    throw new TypeError(
      `Cannot compute ${name}: targets of shape [${t.shape}] do not match predictions of shape [${p.shape}]`,
    );
  }
}

const categorical: Loss = {
  name: "categorical_crossentropy",
  fusesWithSoftmax: true,
  compute(dp, p, t, fused) {
    const [rows, cols] = rowsCols(p);
    checkTargets(this.name, p, t, p.data.length);
    return fused
      ? softmaxCrossentropyFused(dp, p.data, t.data, rows, cols)
      : categoricalCrossentropy(dp, p.data, t.data, rows, cols);
  },
  countCorrect(p, t) {
    const [rows, cols] = rowsCols(p);
    return countCorrect(p.data, t.data, rows, cols);
  },
};

/** One-hot targets for integer labels, reused between calls of the same size. */
let oneHotCache = new Float32Array(0);
function oneHot(name: string, p: Tensor, t: Tensor): Float32Array {
  const [rows, cols] = rowsCols(p);
  if (t.data.length !== rows) {
    throw new TypeError(
      `Cannot compute ${name}: expected one integer label per example (${rows}), received targets of shape [${t.shape}]`,
    );
  }
  if (oneHotCache.length !== rows * cols) oneHotCache = new Float32Array(rows * cols);
  else oneHotCache.fill(0);
  for (let r = 0; r < rows; r++) {
    const label = t.data[r]!;
    if (!Number.isInteger(label) || label < 0 || label >= cols) {
      throw new RangeError(
        `Cannot compute ${name}: label ${label} of example ${r} is outside [0, ${cols - 1}]`,
      );
    }
    oneHotCache[r * cols + label] = 1;
  }
  return oneHotCache;
}

const sparseCategorical: Loss = {
  name: "sparse_categorical_crossentropy",
  fusesWithSoftmax: true,
  compute(dp, p, t, fused) {
    const [rows, cols] = rowsCols(p);
    const targets = oneHot(this.name, p, t);
    return fused
      ? softmaxCrossentropyFused(dp, p.data, targets, rows, cols)
      : categoricalCrossentropy(dp, p.data, targets, rows, cols);
  },
  countCorrect(p, t) {
    const [rows, cols] = rowsCols(p);
    return countCorrect(p.data, oneHot(this.name, p, t), rows, cols);
  },
};

const mse: Loss = {
  name: "mean_squared_error",
  fusesWithSoftmax: false,
  compute(dp, p, t) {
    const [rows, cols] = rowsCols(p);
    checkTargets(this.name, p, t, p.data.length);
    return meanSquaredError(dp, p.data, t.data, rows, cols);
  },
  countCorrect(p, t) {
    const [rows, cols] = rowsCols(p);
    return countCorrect(p.data, t.data, rows, cols);
  },
};

const LOSSES: Record<string, Loss> = {
  categorical_crossentropy: categorical,
  categoricalCrossentropy: categorical,
  sparse_categorical_crossentropy: sparseCategorical,
  sparseCategoricalCrossentropy: sparseCategorical,
  mean_squared_error: mse,
  meanSquaredError: mse,
  mse,
};

/** Looks a loss up by name (Keras snake_case or TF.js camelCase), or passes a Loss through. */
export function getLoss(loss: string | Loss): Loss {
  if (typeof loss !== "string") return loss;
  const found = LOSSES[loss];
  if (found === undefined) {
    throw new RangeError(
      `Cannot compile the model as loss must be one of ${
        Object.keys(LOSSES).join(", ")
      }: current value is "${loss}"`,
    );
  }
  return found;
}
