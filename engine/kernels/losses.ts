/**
 * Loss kernels: each returns the batch-mean loss and writes the gradient of that mean with respect
 * to its input, as Keras's default `sum_over_batch_size` reduction defines it.
 *
 * Categorical cross-entropy clips probabilities to [1e-7, 1 - 1e-7] as Keras does (`epsilon()`).
 * When the model's last activation is softmax, the fused kernel is used instead: it takes the
 * softmax output and returns the gradient with respect to the logits, (p - y) / N, which is what
 * tf.keras computes in that case (it reaches through the softmax to its logits), and which stays
 * exact when a probability underflows.
 *
 * @module
 */

/** Keras's fuzz factor, `keras.backend.epsilon()`. */
export const EPSILON = 1e-7;

/** Mean categorical cross-entropy of probabilities p against targets t; dp = dL/dp. */
export function categoricalCrossentropy(
  dp: Float32Array | null,
  p: Float32Array,
  t: Float32Array,
  rows: number,
  cols: number,
): number {
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    // Keras rescales so each row sums to one before clipping
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += p[o + j]!;
    for (let j = 0; j < cols; j++) {
      const q = p[o + j]! / sum;
      const clipped = Math.min(Math.max(q, EPSILON), 1 - EPSILON);
      loss -= t[o + j]! * Math.log(clipped);
    }
    if (dp !== null) {
      // d/dp_j of -sum_k t_k log(clip(p_k / S)) = (-t_j / p_j [j unclipped] + tIn / S), where tIn
      // sums the targets of the unclipped classes only (a clipped term is constant)
      let tIn = 0;
      for (let j = 0; j < cols; j++) {
        const q = p[o + j]! / sum;
        if (q > EPSILON && q < 1 - EPSILON) tIn += t[o + j]!;
      }
      for (let j = 0; j < cols; j++) {
        const q = p[o + j]! / sum;
        const inside = q > EPSILON && q < 1 - EPSILON;
        dp[o + j] = ((inside ? -t[o + j]! / p[o + j]! : 0) + tIn / sum) / rows;
      }
    }
  }
  return loss / rows;
}

/**
 * Fused softmax + categorical cross-entropy: p is the softmax output, t the targets; writes
 * dz = dL/dlogits = (p * sum(t) - t) / N and returns the mean clipped loss.
 */
export function softmaxCrossentropyFused(
  dz: Float32Array | null,
  p: Float32Array,
  t: Float32Array,
  rows: number,
  cols: number,
): number {
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let tSum = 0;
    for (let j = 0; j < cols; j++) {
      const clipped = Math.min(Math.max(p[o + j]!, EPSILON), 1 - EPSILON);
      loss -= t[o + j]! * Math.log(clipped);
      tSum += t[o + j]!;
    }
    if (dz !== null) {
      for (let j = 0; j < cols; j++) dz[o + j] = (p[o + j]! * tSum - t[o + j]!) / rows;
    }
  }
  return loss / rows;
}

/** Mean squared error, averaged over the last axis then over the batch; dp = dL/dp. */
export function meanSquaredError(
  dp: Float32Array | null,
  p: Float32Array,
  t: Float32Array,
  rows: number,
  cols: number,
): number {
  let loss = 0;
  const n = rows * cols;
  for (let i = 0; i < n; i++) {
    const d = p[i]! - t[i]!;
    loss += d * d;
    if (dp !== null) dp[i] = (2 * d) / n;
  }
  return loss / n;
}

/** Number of rows whose arg-max of p equals the arg-max of t (Keras's `categorical_accuracy`). */
export function countCorrect(p: Float32Array, t: Float32Array, rows: number, cols: number): number {
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let bp = 0, bt = 0;
    for (let j = 1; j < cols; j++) {
      if (p[o + j]! > p[o + bp]!) bp = j;
      if (t[o + j]! > t[o + bt]!) bt = j;
    }
    if (bp === bt) correct++;
  }
  return correct;
}
