/**
 * The tensor type: a shape and a row-major `Float32Array`, NHWC for images (channels last, as
 * Keras and TF.js lay them out). Tensors are plain records, so a worker can read one from shared
 * memory without any class machinery.
 *
 * @module
 */

/** A shape: one non-negative integer per dimension, outermost first. */
export type Shape = readonly number[];

/** A dense float32 tensor, row-major. `data.length` equals the product of `shape`. */
export interface Tensor {
  /** The dimensions, e.g. (N, H, W, C). */
  readonly shape: Shape;
  /** The values, row-major; length is the product of `shape`. */
  readonly data: Float32Array;
}

/**
 * Number of elements of a shape (1 for a scalar shape `[]`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sizeOf } from "./tensor.ts";
 * assert(sizeOf([64, 28, 28, 1]) === 50176);
 * ```
 */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Makes a tensor, zero-filled unless `data` is given; checks that the sizes agree.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensor } from "./tensor.ts";
 * const t = tensor([2, 3]);
 * assert(t.data.length === 6);
 * ```
 */
export function tensor(shape: Shape, data?: Float32Array): Tensor {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(
        `Cannot make a tensor of shape [${shape}]: every dimension must be a non-negative integer`,
      );
    }
  }
  const size = sizeOf(shape);
  if (data === undefined) return { shape: [...shape], data: new Float32Array(size) };
  if (data.length !== size) {
    throw new RangeError(
      `Cannot make a tensor of shape [${shape}] from ${data.length} values: expected ${size}`,
    );
  }
  return { shape: [...shape], data };
}

/** The shape as Keras prints it, e.g. `(None, 26, 26, 32)` for a batch shape `[null, 26, 26, 32]`. */
export function formatShape(shape: readonly (number | null)[]): string {
  const parts = shape.map((d) => (d === null ? "None" : String(d)));
  return `(${parts.join(", ")}${parts.length === 1 ? "," : ""})`;
}
