/**
 * Inference on a stream of images with dynamic micro-batching: images are gathered into a batch
 * that closes when it holds `maxBatch` images or when its oldest image has waited `maxDelayMs`,
 * whichever comes first; each batch runs one batched forward pass, and one prediction per image
 * comes out, in arrival order.
 *
 * ```
 * images.pipe(predictStream(model, { maxBatch: 64, maxDelayMs: 2 }))   // Observable<Prediction>
 * ```
 *
 * The batcher ({@linkcode microBatch}) is `bufferTime(maxDelayMs, null, maxBatch)` with one
 * difference: its timer starts when the first image of a batch arrives instead of running
 * continuously, so no image waits longer than `maxDelayMs`, and an idle stream sets no timers.
 * At most `maxBatch` images are held at a time and the forward pass is synchronous, so memory
 * stays bounded on an endless stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { from, toArray, lastValueFrom } from "rxjs";
 * import { predictStream } from "./predict_stream.ts";
 * import { mnistDense } from "./models.ts";
 * const model = mnistDense({ seed: 1 });
 * const images = [new Float32Array(784), { id: "b", pixels: new Float32Array(784).fill(1) }];
 * const predictions = await lastValueFrom(from(images).pipe(predictStream(model), toArray()));
 * assert(predictions.length === 2 && predictions[1]!.id === "b");
 * assert(predictions[0]!.probabilities.length === 10);
 * ```
 *
 * @module
 */

import {
  asyncScheduler,
  map,
  mergeMap,
  Observable,
  type OperatorFunction,
  pipe,
  type SchedulerLike,
  type Subscription,
  takeWhile,
} from "rxjs";
import type { Backend } from "../engine/backend.ts";
import { sizeOf } from "../engine/tensor.ts";
import type { Sequential } from "./sequential.ts";
import { forward } from "./train.ts";

/** An image's identifier, carried from input to prediction. */
export type ImageId = string | number;

/** An image record: the pixels (in [0, 1], `28 * 28` for MNIST models) and an optional id. */
export interface ImageRecord {
  /** Optional id, echoed in the prediction. */
  readonly id?: ImageId;
  /** The pixels, in [0, 1] (`28 * 28` values for MNIST models). */
  readonly pixels: Float32Array;
}

/** What {@linkcode predictStream} takes: bare pixels or an image record. */
export type Image = Float32Array | ImageRecord;

/** One image's prediction: the most probable class and every class's probability. */
export interface Prediction {
  /** The input's id, when it had one. */
  readonly id?: ImageId;
  /** The index of the largest output. */
  readonly label: number;
  /** The model's outputs for this image (softmax probabilities for a classifier). */
  readonly probabilities: number[];
}

/** What a batch cost, for metrics. */
export interface BatchInfo {
  /** Images in the batch. */
  readonly size: number;
  /** Wall time of the forward pass, in milliseconds. */
  readonly ms: number;
}

/** Options of {@linkcode microBatch}. */
export interface MicroBatchOptions {
  /** Scheduler of the batch timer (default `asyncScheduler`; tests pass a `TestScheduler`). */
  scheduler?: SchedulerLike;
}

/** Options of {@linkcode predictStream}. */
export interface PredictStreamOptions extends MicroBatchOptions {
  /** Largest batch (default 64). 1 turns batching off. */
  maxBatch?: number;
  /** Longest time the oldest image of a batch waits for more, in ms (default 2). */
  maxDelayMs?: number;
  /** Called after each batch's forward pass. */
  onBatch?: (info: BatchInfo) => void;
}

function checkBatching(maxBatch: number, maxDelayMs: number): void {
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    throw new RangeError(`maxBatch must be a positive integer: current value is ${maxBatch}`);
  }
  if (!(maxDelayMs >= 0 && maxDelayMs < Infinity)) {
    throw new RangeError(`maxDelayMs must be a finite number >= 0: current value is ${maxDelayMs}`);
  }
}

/**
 * Gathers values into arrays that close when `maxBatch` values are in or when the first value of
 * the array has waited `maxDelayMs` (on `options.scheduler`). On completion the open array is
 * emitted; on error it is dropped (as `bufferTime` does). Never emits an empty array. The timer
 * fires no earlier than `maxDelayMs` (Deno's timers run about 1 ms late).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { of } from "rxjs";
 * import { microBatch } from "./predict_stream.ts";
 * const sizes: number[] = [];
 * of(1, 2, 3, 4, 5).pipe(microBatch(2, 2)).subscribe((b) => sizes.push(b.length));
 * assert(sizes.join() === "2,2,1");
 * ```
 */
export function microBatch<T>(
  maxDelayMs: number,
  maxBatch: number,
  options: MicroBatchOptions = {},
): OperatorFunction<T, T[]> {
  const scheduler = options.scheduler ?? asyncScheduler;
  checkBatching(maxBatch, maxDelayMs);
  return (source) =>
    new Observable<T[]>((subscriber) => {
      let buffer: T[] = [];
      let timer: Subscription | null = null;
      const flush = () => {
        timer?.unsubscribe();
        timer = null;
        if (buffer.length === 0) return;
        const batch = buffer;
        buffer = [];
        subscriber.next(batch);
      };
      // takeWhile stops a synchronous source as soon as downstream has closed (take(n), an error)
      const subscription = source.pipe(takeWhile(() => !subscriber.closed)).subscribe({
        next(value) {
          buffer.push(value);
          if (buffer.length >= maxBatch) flush();
          else if (timer === null) timer = scheduler.schedule(flush, maxDelayMs);
        },
        error(err) {
          timer?.unsubscribe();
          buffer = [];
          subscriber.error(err);
        },
        complete() {
          flush();
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        timer?.unsubscribe();
        buffer = [];
      };
    });
}

/** Per backend, one input buffer reused by every batch (a pool backend's memory is never freed). */
const inputBuffers = new WeakMap<Backend, Float32Array>();

function inputBuffer(backend: Backend, size: number): Float32Array {
  let b = inputBuffers.get(backend);
  if (b === undefined || b.length < size) {
    // grow geometrically, so a bump allocator sees few allocations
    b = backend.alloc(Math.max(size, 2 * (b?.length ?? 0)));
    inputBuffers.set(backend, b);
  }
  return b.subarray(0, size);
}

function pixelsOf(image: Image): Float32Array {
  return image instanceof Float32Array ? image : image.pixels;
}

/**
 * Runs one batched forward pass over `images` (inference mode) and returns one prediction per
 * image, in order. Synchronous.
 *
 * @throws {TypeError} if an image does not hold as many values as the model's input.
 */
export function predictBatch(model: Sequential, images: readonly Image[]): Prediction[] {
  const n = images.length;
  if (n === 0) return [];
  const inShape = model.inputShape;
  const row = sizeOf(inShape);
  const backend = model.backend;
  model.build();
  const x = inputBuffer(backend, n * row);
  images.forEach((image, i) => {
    const pixels = pixelsOf(image);
    if (!(pixels instanceof Float32Array) || pixels.length !== row) {
      const id = image instanceof Float32Array || image.id === undefined ? `#${i}` : image.id;
      throw new TypeError(
        `Cannot predict image ${id}: expected ${row} pixel values (shape [${inShape}]), received ${
          pixels instanceof Float32Array ? pixels.length : String(pixels)
        }`,
      );
    }
    x.set(pixels, i * row);
  });
  const batch = { x: { shape: [n, ...inShape], data: x }, y: { shape: [n, 0], data: x } };
  let y: Float32Array | null = null;
  new Observable<typeof batch>((s) => {
    s.next(batch);
    s.complete();
  }).pipe(forward(model, { training: false })).subscribe((step) => (y = step.x.data));
  const out = y as Float32Array | null;
  if (out === null) throw new Error("predictBatch: the forward pass produced no output");
  const classes = out.length / n;
  const predictions: Prediction[] = [];
  for (let i = 0; i < n; i++) {
    const probabilities = Array.from(out.subarray(i * classes, (i + 1) * classes));
    let label = 0;
    for (let k = 1; k < classes; k++) if (probabilities[k]! > probabilities[label]!) label = k;
    const image = images[i]!;
    const id = image instanceof Float32Array ? undefined : image.id;
    predictions.push(id === undefined ? { label, probabilities } : { id, label, probabilities });
  }
  return predictions;
}

/**
 * Images in, predictions out (one each, in arrival order), micro-batched: see the module doc.
 * A malformed image (wrong number of values) errors the stream with a `TypeError`.
 */
export function predictStream(
  model: Sequential,
  options: PredictStreamOptions = {},
): OperatorFunction<Image, Prediction> {
  const maxBatch = options.maxBatch ?? 64;
  const maxDelayMs = options.maxDelayMs ?? 2;
  return pipe(
    microBatch<Image>(maxDelayMs, maxBatch, options),
    map((images) => {
      const t0 = performance.now();
      const predictions = predictBatch(model, images);
      options.onBatch?.({ size: images.length, ms: performance.now() - t0 });
      return predictions;
    }),
    mergeMap((predictions) => predictions),
  );
}
