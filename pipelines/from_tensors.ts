/**
 * A source of minibatches cut from in-memory tensors (Keras's `fit(x, y)` path). Cold: each
 * subscription is one epoch, reshuffled from the seeded generator when `shuffle` is on. Batches
 * are gathered into two reused buffers, so a batch is valid until the next one is emitted (the
 * training pipeline is synchronous, so it has finished with it by then). Emission is paced as in
 * `mnist.ts`: synchronous, yielding to the event loop every few milliseconds.
 *
 * @module
 */

import { Observable } from "rxjs";
import type { Random } from "../engine/random.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { Batch } from "../layers/step.ts";
import { emitPaced } from "./_yield.ts";

/** Options of {@linkcode fromTensors}. */
export interface FromTensorsOptions {
  /** Rows per batch (the last batch may be smaller). */
  batchSize: number;
  /** Reshuffle each subscription (default false). */
  shuffle?: boolean;
  /** The generator shuffling draws from (required when shuffling). */
  random?: Random;
  /** Use rows [start, end) only (default: all). */
  start?: number;
  /** End of the row range, exclusive (default: the row count). */
  end?: number;
  /**
   * Yield to the event loop every few milliseconds (default true). With false, a subscription
   * emits every batch and completes synchronously (for synchronous callers such as `predict`).
   */
  paced?: boolean;
}

/**
 * Minibatches of rows of `x` and `y`; the last partial batch is kept (60000 rows at 64 give 938
 * batches, the last of 32).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromTensors } from "./from_tensors.ts";
 * import { tensor } from "../engine/tensor.ts";
 * let n = 0;
 * fromTensors(tensor([10, 2]), tensor([10, 1]), { batchSize: 4 }).subscribe(() => n++);
 * assert(n === 3);
 * ```
 */
export function fromTensors(x: Tensor, y: Tensor, options: FromTensorsOptions): Observable<Batch> {
  const rows = x.shape[0]!;
  if (y.shape[0] !== rows) {
    throw new TypeError(
      `Cannot batch inputs of shape [${x.shape}] with targets of shape [${y.shape}]: the first dimensions differ`,
    );
  }
  if (!Number.isInteger(options.batchSize) || options.batchSize <= 0) {
    throw new RangeError(
      `batchSize must be a positive integer: current value is ${options.batchSize}`,
    );
  }
  const start = options.start ?? 0;
  const end = options.end ?? rows;
  if (
    !Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end || end > rows
  ) {
    throw new RangeError(
      `fromTensors: expected integers 0 <= start <= end <= ${rows}: received start ${start}, end ${end}`,
    );
  }
  const xRow = x.data.length / Math.max(rows, 1);
  const yRow = y.data.length / Math.max(rows, 1);
  return new Observable<Batch>((subscriber) => {
    const order = new Int32Array(end - start);
    for (let i = 0; i < order.length; i++) order[i] = start + i;
    if (options.shuffle) {
      if (options.random === undefined) {
        throw new TypeError("fromTensors: shuffle needs the seeded generator in options.random");
      }
      options.random.shuffle(order);
    }
    const bs = Math.max(1, Math.min(options.batchSize, order.length));
    const xBuf = new Float32Array(bs * xRow);
    const yBuf = new Float32Array(bs * yRow);
    const emitBatch = (k: number) => {
      const b = k * bs;
      const n = Math.min(bs, order.length - b);
      for (let i = 0; i < n; i++) {
        const r = order[b + i]!;
        xBuf.set(x.data.subarray(r * xRow, (r + 1) * xRow), i * xRow);
        yBuf.set(y.data.subarray(r * yRow, (r + 1) * yRow), i * yRow);
      }
      subscriber.next({
        x: { shape: [n, ...x.shape.slice(1)], data: xBuf.subarray(0, n * xRow) },
        y: { shape: [n, ...y.shape.slice(1)], data: yBuf.subarray(0, n * yRow) },
      });
    };
    const batches = Math.ceil(order.length / bs);
    if (options.paced === false) {
      for (let k = 0; k < batches && !subscriber.closed; k++) emitBatch(k);
      subscriber.complete();
      return;
    }
    emitPaced(batches, emitBatch, () => subscriber.closed).then(
      () => subscriber.complete(),
      (err) => subscriber.error(err),
    );
  });
}
