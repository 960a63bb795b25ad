/**
 * `shuffle`: a seeded shuffle of a stream with a bounded buffer, as `tf.data.Dataset.shuffle`:
 * the first `bufferSize` values fill the buffer; then each new value replaces a uniformly drawn
 * buffered one, which is emitted; on completion the rest is emitted in random order. With a buffer
 * at least as large as the stream it is a full uniform shuffle (Keras's per-epoch shuffle of
 * in-memory data). Each subscription (epoch) draws a new order from the same generator, so epochs
 * are reshuffled and the whole run is reproducible from one seed. Memory is bounded by the buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { range, toArray } from "rxjs";
 * import { shuffle } from "./shuffle.ts";
 * import { Random } from "../engine/random.ts";
 * range(0, 5).pipe(shuffle({ random: new Random(1) }), toArray())
 *   .subscribe((a) => assert(a.slice().sort().join() === "0,1,2,3,4"));
 * ```
 *
 * @module
 */

import { Observable, type OperatorFunction, takeWhile } from "rxjs";
import { Random } from "../engine/random.ts";

/** Options of {@linkcode shuffle}. */
export interface ShuffleOptions {
  /** The generator to draw from (shared with the model for one-seed runs), or... */
  random?: Random;
  /** ...a seed for a generator of its own. */
  seed?: number;
  /** Values held at most (default 65536: all of MNIST). */
  bufferSize?: number;
}

/** Shuffles a stream with a bounded, seeded buffer. */
export function shuffle<T>(options: ShuffleOptions = {}): OperatorFunction<T, T> {
  const random = options.random ?? new Random(options.seed ?? 0);
  const bufferSize = options.bufferSize ?? 65536;
  if (!Number.isInteger(bufferSize) || bufferSize <= 0) {
    throw new RangeError(
      `shuffle(): bufferSize must be a positive integer: current value is ${bufferSize}`,
    );
  }
  return (source) =>
    new Observable<T>((subscriber) => {
      let buffer: T[] = [];
      // takeWhile stops a synchronous source as soon as downstream has closed (take(n), an error)
      const subscription = source.pipe(takeWhile(() => !subscriber.closed)).subscribe({
        next(value) {
          if (buffer.length < bufferSize) {
            buffer.push(value);
            return;
          }
          const i = random.int(bufferSize);
          const out = buffer[i]!;
          buffer[i] = value;
          subscriber.next(out);
        },
        error(err) {
          buffer = [];
          subscriber.error(err);
        },
        complete() {
          if (subscriber.closed) return;
          random.shuffle(buffer);
          for (const v of buffer) {
            if (subscriber.closed) break;
            subscriber.next(v);
          }
          buffer = [];
          subscriber.complete();
        },
      });
      return () => {
        buffer = [];
        subscription.unsubscribe();
      };
    });
}
