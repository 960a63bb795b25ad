/**
 * `batch`: collects examples into minibatches: pixels scaled to [0, 1] as float32 in NHWC
 * `[n, rows, cols, 1]`, labels one-hot `[n, numClasses]`. The last partial batch is emitted on
 * completion (60,000 examples at 64 give 938 batches, the last of 32). The two batch buffers are
 * allocated once per subscription and reused: a batch is valid until the next one is emitted,
 * which the synchronous training step respects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { of } from "rxjs";
 * import { batch } from "./batch.ts";
 * const image = new Uint8Array(4).fill(255);
 * of({ image, label: 1, rows: 2, cols: 2 }).pipe(batch(64))
 *   .subscribe((b) => assert(b.x.shape.join() === "1,2,2,1" && b.y.data[1] === 1));
 * ```
 *
 * @module
 */

import { Observable, type OperatorFunction, takeWhile } from "rxjs";
import type { Batch } from "../layers/step.ts";
import type { Example } from "./mnist.ts";

/** Options of {@linkcode batch}. */
export interface BatchOptions {
  /** Classes of the one-hot targets (default 10). */
  numClasses?: number;
}

/** Groups examples into batches of `size`. */
export function batch(size: number, options: BatchOptions = {}): OperatorFunction<Example, Batch> {
  if (!Number.isInteger(size) || size <= 0) {
    throw new RangeError(`batch(): size must be a positive integer: current value is ${size}`);
  }
  const classes = options.numClasses ?? 10;
  return (source) =>
    new Observable<Batch>((subscriber) => {
      let x: Float32Array | null = null;
      let y: Float32Array | null = null;
      let n = 0;
      let rows = 0, cols = 0;
      const emit = () => {
        const pixels = rows * cols;
        subscriber.next({
          x: { shape: [n, rows, cols, 1], data: x!.subarray(0, n * pixels) },
          y: { shape: [n, classes], data: y!.subarray(0, n * classes) },
        });
        n = 0;
      };
      // takeWhile stops a synchronous source as soon as downstream has closed (take(n), an error)
      const subscription = source.pipe(takeWhile(() => !subscriber.closed)).subscribe({
        next(e) {
          if (x === null) {
            rows = e.rows;
            cols = e.cols;
            x = new Float32Array(size * rows * cols);
            y = new Float32Array(size * classes);
          }
          const pixels = rows * cols;
          if (e.image.length !== pixels || e.rows !== rows || e.cols !== cols) {
            subscriber.error(
              new TypeError(
                `batch(): expected images of ${rows}x${cols} pixels, received ${e.rows}x${e.cols} (${e.image.length} pixels)`,
              ),
            );
            return;
          }
          if (!(Number.isInteger(e.label) && e.label >= 0 && e.label < classes)) {
            subscriber.error(
              new RangeError(`batch(): label ${e.label} is outside [0, ${classes - 1}]`),
            );
            return;
          }
          if (n === 0) y!.fill(0);
          const off = n * pixels;
          for (let i = 0; i < pixels; i++) x[off + i] = e.image[i]! / 255;
          y![n * classes + e.label] = 1;
          n++;
          if (n === size) emit();
        },
        error: (err) => subscriber.error(err),
        complete() {
          if (n > 0 && !subscriber.closed) emit();
          subscriber.complete();
        },
      });
      return () => {
        x = null;
        y = null;
        subscription.unsubscribe();
      };
    });
}
