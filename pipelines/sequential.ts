/**
 * `Sequential`: Keras's linear stack of layers, with `add`, `summary`, `compile`, `fit`,
 * `evaluate` and `predict`. Training runs on the operator pipeline of `train.ts`: `fit` builds a
 * stream of batches per epoch and pipes it through `train(model)`; callbacks (the progress bar,
 * the JSONL log, checkpoints) are sinks of that stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Sequential } from "./sequential.ts";
 * import { Dense } from "../layers/dense.ts";
 * const model = new Sequential({ name: "demo" });
 * model.add(new Dense({ units: 512, activation: "relu", inputShape: [784] }));
 * model.add(new Dense({ units: 10, activation: "softmax" }));
 * assert(model.countParams() === 407050);
 * ```
 *
 * @module
 */

import {
  defer,
  from,
  lastValueFrom,
  type ObservableInput,
  type OperatorFunction,
  skip,
  tap,
} from "rxjs";
import { type Backend, cpuBackend } from "../engine/backend.ts";
import { Random, type RandomState } from "../engine/random.ts";
import { type Shape, sizeOf, type Tensor } from "../engine/tensor.ts";
import { Layer, type Param, uniqueName } from "../layers/layer.ts";
import { getLoss, type Loss } from "../layers/losses.ts";
import { getOptimizer, type Optimizer, type ParamRange } from "../layers/optimizers.ts";
import { buildLayers, type ParamStore } from "../layers/params.ts";
import type { Batch, StepMetrics } from "../layers/step.ts";
import { summaryLines } from "../layers/summary.ts";
import { fromTensors } from "./from_tensors.ts";
import { evaluate as evaluateOp, forward, type OnNan, train } from "./train.ts";
import type { Callback, EpochLogs } from "./callbacks.ts";
import { ProgressBar } from "./progress_bar.ts";
import {
  type Image,
  type Prediction,
  predictStream,
  type PredictStreamOptions,
} from "./predict_stream.ts";

/** Options of the Sequential constructor. */
export interface SequentialOptions {
  /** Default: `sequential`, `sequential_1`, ... */
  name?: string;
  layers?: Layer[];
  /** The backend kernels run on (default: the single-thread TypeScript backend). */
  backend?: Backend;
  /** Seed of the model's generator (initializers, shuffling, dropout). Default 0... */
  seed?: number;
}

/** Options of {@linkcode Sequential.compile}. */
export interface CompileOptions {
  /** Optimizer instance or Keras name (`sgd`, `rmsprop`, `adam`). */
  optimizer: string | Optimizer;
  /** Loss instance or Keras name. */
  loss: string | Loss;
  /** Only `accuracy` (`acc`) is supported. */
  metrics?: string[];
}

/** Options of {@linkcode Sequential.fit}. */
export interface FitOptions {
  /** Default 1. */
  epochs?: number;
  /** Default 32 (tensors only). */
  batchSize?: number;
  /** Reshuffle each epoch (default true; tensors only). */
  shuffle?: boolean;
  /** Evaluated at the end of each epoch. */
  validationData?: [Tensor, Tensor] | ObservableInput<Batch>;
  /** Fraction of the tensors (the last rows, as Keras) held out for validation. */
  validationSplit?: number;
  /** 0 silent, 1 progress bar, 2 one line per epoch (default 1). */
  verbose?: 0 | 1 | 2;
  /** Callbacks notified of batch and epoch ends. */
  callbacks?: Callback[];
  /** Number of the first epoch (for resuming; default 0). */
  initialEpoch?: number;
  /** Steps per epoch, for the progress bar when the source is a stream. */
  stepsPerEpoch?: number;
  /** History of the epochs before `initialEpoch` (for resuming). */
  initialHistory?: History;
  /** Where to resume inside `initialEpoch` (from a checkpoint). */
  resume?: ResumePoint;
}

/** A point inside an epoch to resume from: what a mid-epoch checkpoint records. */
export interface ResumePoint {
  /** Steps of the epoch already trained (skipped on resume). */
  readonly step: number;
  /** Examples of the epoch already seen. */
  readonly seen: number;
  /** Sum over those examples of the per-example loss. */
  readonly lossSum: number;
  /** Number of those examples predicted correctly. */
  readonly correct: number;
  /** The generator's state when the epoch began (it drew the epoch's shuffle). */
  readonly epochStartRandom: RandomState;
  /** The generator's state after `step` steps. */
  readonly random: RandomState;
}

/** Where `fit` is: the epoch, the steps done in it and the running sums of its metrics. */
export interface TrainingProgress {
  /** The current epoch (0-based). */
  epoch: number;
  /** Steps of the epoch done so far. */
  step: number;
  /** Examples of the epoch seen so far. */
  seen: number;
  /** Sum over those examples of the per-example loss. */
  lossSum: number;
  /** Number of those examples predicted correctly. */
  correct: number;
  /** The generator's state when the epoch began (it drew the epoch's shuffle). */
  epochStartRandom: RandomState;
  /** True once the epoch's last step (and its validation) is done. */
  epochComplete: boolean;
}

/** What `fit` returns: Keras's `History`. */
export interface History {
  /** The epoch numbers recorded (0-based). */
  readonly epoch: number[];
  /** Per-metric values, one per epoch (e.g. `loss`, `acc`, `val_loss`). */
  readonly history: Record<string, number[]>;
}

/** Loss and accuracy of an evaluation. */
export interface Evaluation {
  /** Mean loss over the evaluated examples. */
  readonly loss: number;
  /** Fraction of the evaluated examples predicted correctly, in [0, 1]. */
  readonly accuracy: number;
}

/** A linear stack of layers. */
export class Sequential {
  /** The model's name (default `sequential`, then `sequential_1`, ...). */
  readonly name: string;
  /** The layers, in order. */
  readonly layers: Layer[] = [];
  /** The model's seeded generator (initializers, shuffling, dropout). */
  readonly random: Random;
  #backend: Backend;
  #store: ParamStore | null = null;
  #ranges: ParamRange[] = [];
  #compiled: { loss: Loss; optimizer: Optimizer; fused: boolean } | null = null;
  #dyBuffer: Float32Array | null = null;
  /** Set by a callback (e.g. on SIGINT) to end `fit` after the current step. */
  stopTraining = false;
  /** What a non-finite loss or gradient does: `stop` (default) fails fit, `skip` drops the update. */
  onNan: OnNan = "stop";
  /** Steps whose update was skipped for non-finite values (with `onNan: "skip"`). */
  nonFiniteSteps = 0;
  /** How often `train` reruns a step whose kernels failed (`KernelFaultError`); default 0. */
  retrySteps = 0;
  /** Steps that were rerun after a kernel fault. */
  retriedSteps = 0;
  #progress: TrainingProgress | null = null;
  #fitting = false;
  #history: History = { epoch: [], history: {} };

  /** Creates a model from the options, adding any given layers. */
  constructor(options: SequentialOptions = {}) {
    this.name = options.name ?? uniqueName("sequential");
    this.#backend = options.backend ?? cpuBackend;
    this.random = new Random(options.seed ?? 0);
    for (const layer of options.layers ?? []) this.add(layer);
  }

  /** Where the current (or last) `fit` is; null before the first epoch begins. */
  get progress(): Readonly<TrainingProgress> | null {
    return this.#progress;
  }

  /** The history of the current (or last) `fit`, complete epochs only. */
  get history(): History {
    return this.#history;
  }

  /** The backend the layers run on. */
  get backend(): Backend {
    return this.#backend;
  }

  /** Moves the model (its parameters) to another backend. */
  setBackend(backend: Backend): void {
    if (backend === this.#backend) return;
    const old = this.#store;
    this.#backend = backend;
    if (old !== null) {
      const values = old.values.slice();
      this.#store = null;
      this.build();
      this.#store!.values.set(values);
    }
    this.#dyBuffer = null;
  }

  /** Appends a layer; the first layer must declare `inputShape`. */
  add(layer: Layer): void {
    if (!(layer instanceof Layer)) {
      throw new TypeError(
        `Cannot add to Sequential "${this.name}": expected a Layer, received ${String(layer)}`,
      );
    }
    if (this.layers.length === 0 && layer.declaredInputShape === null) {
      // Keras allows deferred builds; here the first layer states its input, which keeps
      // shape errors at the line that caused them.
      throw new TypeError(
        `Cannot add ${layer.className} "${layer.name}" as the first layer of "${this.name}": it needs inputShape`,
      );
    }
    if (this.layers.length > 0 && layer.declaredInputShape !== null) {
      const expected = this.outputShape;
      if (expected.join() !== layer.declaredInputShape.join()) {
        throw new TypeError(
          `Cannot add ${layer.className} "${layer.name}": its inputShape [${layer.declaredInputShape}] differs from the previous output [${expected}]`,
        );
      }
    }
    // shape inference now, so a bad layer is refused where it is added
    const inShape = this.layers.length === 0 ? layer.declaredInputShape! : this.outputShape;
    layer.computeOutputShape(inShape);
    this.layers.push(layer);
    this.#store = null;
  }

  /** Per-example input shape (from the first layer). */
  get inputShape(): Shape {
    const first = this.layers[0];
    if (first === undefined) throw new Error(`Sequential "${this.name}" has no layers`);
    return first.declaredInputShape!;
  }

  /** Per-example output shape of the whole stack. */
  get outputShape(): Shape {
    let shape = this.inputShape;
    for (const l of this.layers) shape = l.computeOutputShape(shape);
    return shape;
  }

  /** Allocates and initialises all parameters (once; `fit`/`predict` call it as needed). */
  build(): void {
    if (this.#store !== null) return;
    this.#store = buildLayers(this.layers, this.inputShape, this.#backend, this.random);
    // Adjacent layers' ranges merged: one optimizer call (one parallel kernel) for the lot.
    this.#ranges = [];
    for (const l of this.#store.layers) {
      if (!l.layer.trainable || l.end <= l.start) continue;
      const last = this.#ranges[this.#ranges.length - 1];
      if (last !== undefined && last.end === l.start) {
        this.#ranges[this.#ranges.length - 1] = {
          start: last.start,
          end: l.end,
        };
      } else this.#ranges.push({ start: l.start, end: l.end });
    }
  }

  /** The flat parameter store (builds the model if needed). */
  get store(): ParamStore {
    this.build();
    return this.#store!;
  }

  /** Total number of parameters. */
  countParams(): number {
    let shape = this.inputShape;
    let n = 0;
    for (const l of this.layers) {
      for (const s of l.paramSpecs(shape)) n += sizeOf(s.shape);
      shape = l.computeOutputShape(shape);
    }
    return n;
  }

  /** The summary table's lines (see {@linkcode Sequential.summary}). */
  summaryLines(): string[] {
    let shape = this.inputShape;
    const rows = this.layers.map((l) => {
      let params = 0;
      for (const s of l.paramSpecs(shape)) params += sizeOf(s.shape);
      shape = l.computeOutputShape(shape);
      return {
        name: l.name,
        className: l.className,
        outputShape: shape,
        params,
        trainable: l.trainable,
      };
    });
    return summaryLines(this.name, rows);
  }

  /** Prints the Keras summary table. */
  summary(printFn: (line: string) => void = console.log): void {
    for (const line of this.summaryLines()) printFn(line);
  }

  /** Sets the optimizer, loss and metrics. */
  compile(options: CompileOptions): void {
    for (const m of options.metrics ?? []) {
      if (m !== "accuracy" && m !== "acc") {
        throw new RangeError(
          `Cannot compile the model as metrics may only hold "accuracy": current value is "${m}"`,
        );
      }
    }
    const loss = getLoss(options.loss);
    const optimizer = getOptimizer(options.optimizer);
    const last = this.layers.at(-1) as Layer & { activation?: string };
    const fused = loss.fusesWithSoftmax && last?.activation === "softmax";
    this.#compiled = { loss, optimizer, fused };
  }

  /** Whether a `fit` is running (its `progress` then says where). */
  get isFitting(): boolean {
    return this.#fitting;
  }

  /** Whether `compile` has run. */
  get isCompiled(): boolean {
    return this.#compiled !== null;
  }

  /** The compiled loss and optimizer; throws if `compile` has not run. */
  compiled(): { loss: Loss; optimizer: Optimizer; fused: boolean } {
    if (this.#compiled === null) {
      throw new Error(
        `Sequential "${this.name}" must be compiled before training or evaluation: call model.compile()`,
      );
    }
    return this.#compiled;
  }

  /** The optimizer set by `compile`. */
  get optimizer(): Optimizer {
    return this.compiled().optimizer;
  }

  /** A reused buffer for dL/d(output). */
  outputGradientBuffer(size: number): Float32Array {
    if (this.#dyBuffer === null || this.#dyBuffer.length < size) {
      this.#dyBuffer = this.#backend.alloc(size);
    }
    return this.#dyBuffer.subarray(0, size);
  }

  /** Zeroes every parameter gradient. */
  zeroGradients(): void {
    this.store.grads.fill(0);
  }

  /** Applies one optimizer update from the accumulated gradients. */
  applyGradients(): void {
    const { values, grads } = this.store;
    this.compiled().optimizer.step(values, grads, this.#ranges, this.#backend);
  }

  /**
   * Trains the model. `x` is either an input tensor (then `y` holds the targets) or a source of
   * batches (an Observable, array or async iterable), which is subscribed anew each epoch.
   */
  async fit(
    x: Tensor | ObservableInput<Batch>,
    y?: Tensor | FitOptions,
    maybeOptions: FitOptions = {},
  ): Promise<History> {
    if (this.#fitting) {
      throw new Error(`Sequential "${this.name}" is already fitting: one fit at a time`);
    }
    this.#fitting = true;
    try {
      return await this.#fit(x, y, maybeOptions);
    } finally {
      this.#fitting = false;
    }
  }

  async #fit(
    x: Tensor | ObservableInput<Batch>,
    y: Tensor | FitOptions | undefined,
    maybeOptions: FitOptions,
  ): Promise<History> {
    this.compiled();
    this.build();
    const isTensor = (t: unknown): t is Tensor =>
      typeof t === "object" && t !== null && "shape" in t && "data" in t;
    const options: FitOptions = isTensor(x) ? maybeOptions : (y as FitOptions | undefined) ?? {};
    const epochs = options.epochs ?? 1;
    const verbose = options.verbose ?? 1;
    const callbacks: Callback[] = [...(options.callbacks ?? [])];
    let source: () => ObservableInput<Batch>;
    let steps: number | undefined = options.stepsPerEpoch;
    let validation: (() => ObservableInput<Batch>) | null = null;

    if (isTensor(x)) {
      if (!isTensor(y)) throw new TypeError("fit(x, y): y must be a tensor of targets");
      const rows = x.shape[0]!;
      const batchSize = options.batchSize ?? 32;
      const split = options.validationSplit ?? 0;
      if (!(split >= 0 && split < 1)) {
        throw new RangeError(`validationSplit must be in [0, 1): current value is ${split}`);
      }
      const trainRows = split > 0 ? Math.floor(rows * (1 - split)) : rows;
      source = () =>
        fromTensors(x, y, {
          batchSize,
          shuffle: options.shuffle ?? true,
          random: this.random,
          end: trainRows,
        });
      steps = Math.ceil(trainRows / batchSize);
      if (split > 0) {
        validation = () => fromTensors(x, y, { batchSize, start: trainRows });
      }
    } else {
      source = () => x;
    }
    if (options.validationData !== undefined) {
      const vd = options.validationData;
      validation = Array.isArray(vd) && vd.length === 2 && isTensor(vd[0]) && isTensor(vd[1])
        ? () =>
          fromTensors(vd[0] as Tensor, vd[1] as Tensor, { batchSize: options.batchSize ?? 32 })
        : () => vd as ObservableInput<Batch>;
    }
    if (verbose !== 0) callbacks.unshift(new ProgressBar({ verbose, steps, epochs }));

    const history: History = {
      epoch: [...(options.initialHistory?.epoch ?? [])],
      history: Object.fromEntries(
        Object.entries(options.initialHistory?.history ?? {}).map(([k, v]) => [k, [...v]]),
      ),
    };
    this.stopTraining = false;
    for (const cb of callbacks) cb.onTrainBegin?.({ epochs, steps });
    const first = options.initialEpoch ?? 0;
    for (let epoch = first; epoch < epochs && !this.stopTraining; epoch++) {
      // a resumed epoch skips the batches it already trained on, with the generator rewound to
      // the epoch's start so the skipped batches are the same ones, then set to where it was
      const resume = epoch === first ? options.resume : undefined;
      const skipSteps = resume?.step ?? 0;
      if (resume !== undefined) this.random.setState(resume.epochStartRandom);
      const progress: TrainingProgress = {
        epoch,
        step: skipSteps,
        seen: resume?.seen ?? 0,
        lossSum: resume?.lossSum ?? 0,
        correct: resume?.correct ?? 0,
        epochStartRandom: this.random.getState(),
        epochComplete: false,
      };
      this.#progress = progress;
      for (const cb of callbacks) cb.onEpochBegin?.(epoch);
      const t0 = performance.now();
      let restored = resume === undefined;
      await lastValueFrom(
        defer(() => from(source())).pipe(
          skip(skipSteps),
          tap(() => {
            if (!restored) {
              this.random.setState(resume!.random);
              restored = true;
            }
          }),
          train(this),
          tap((m: StepMetrics) => {
            progress.step++;
            progress.seen += m.size;
            progress.lossSum += m.loss * m.size;
            progress.correct += m.correct;
            const logs = {
              loss: progress.lossSum / progress.seen,
              accuracy: progress.correct / progress.seen,
            };
            const step = { ...m, step: progress.step };
            for (const cb of callbacks) cb.onBatchEnd?.(step, logs);
            if (this.stopTraining) throw new StopTraining();
          }),
        ),
        { defaultValue: null },
      ).catch((e) => {
        if (!(e instanceof StopTraining)) throw e;
      });
      // every batch of the epoch was already done before the checkpoint: still restore the state
      if (!restored) {
        this.random.setState(resume!.random);
        restored = true;
      }
      // stopped mid-epoch: no epoch end (no log line, no epoch checkpoint); `progress` says where
      if (this.stopTraining) break;
      progress.epochComplete = true;
      const logs: EpochLogs = {
        loss: progress.lossSum / Math.max(progress.seen, 1),
        accuracy: progress.correct / Math.max(progress.seen, 1),
      };
      if (validation !== null) {
        const v = await this.evaluateBatches(validation());
        logs.val_loss = v.loss;
        logs.val_accuracy = v.accuracy;
      }
      logs.seconds = (performance.now() - t0) / 1000;
      history.epoch.push(epoch);
      for (const [k, v] of Object.entries(logs)) {
        if (k === "seconds") continue;
        (history.history[k] ??= []).push(v as number);
      }
      this.#history = history;
      for (const cb of callbacks) cb.onEpochEnd?.(epoch, logs);
    }
    this.#history = history;
    for (const cb of callbacks) cb.onTrainEnd?.(history);
    return history;
  }

  /** Loss and accuracy over a source of batches (no parameter update). */
  async evaluateBatches(source: ObservableInput<Batch>): Promise<Evaluation> {
    this.compiled();
    this.build();
    let seen = 0, lossSum = 0, correct = 0;
    await lastValueFrom(
      from(source).pipe(
        evaluateOp(this),
        tap((m) => {
          seen += m.size;
          lossSum += m.loss * m.size;
          correct += m.correct;
        }),
      ),
      { defaultValue: null },
    );
    return { loss: lossSum / Math.max(seen, 1), accuracy: correct / Math.max(seen, 1) };
  }

  /** Keras's `evaluate(x, y)`: loss and accuracy over the tensors (batch size default 32). */
  evaluate(x: Tensor, y: Tensor, options: { batchSize?: number } = {}): Promise<Evaluation> {
    return this.evaluateBatches(fromTensors(x, y, { batchSize: options.batchSize ?? 32 }));
  }

  /** Keras's `predict(x)`: the outputs for every row of `x`, in a new tensor. */
  predict(x: Tensor, options: { batchSize?: number } = {}): Tensor {
    this.build();
    const rows = x.shape[0]!;
    const outShape = this.outputShape;
    const outRow = sizeOf(outShape);
    const out = new Float32Array(rows * outRow);
    const dummy = { shape: [rows, 0], data: new Float32Array(0) };
    let offset = 0;
    fromTensors(x, dummy, { batchSize: options.batchSize ?? 32, paced: false })
      .pipe(forward(this, { training: false }))
      .subscribe((step) => {
        out.set(step.x.data, offset);
        offset += step.x.data.length;
      });
    return { shape: [rows, ...outShape], data: out };
  }

  /**
   * Streaming inference: an operator from images to predictions that micro-batches what arrives
   * (a batch closes when `maxBatch` images are waiting or the oldest has waited `maxDelayMs`) and
   * emits one prediction per image in arrival order. See `predict_stream.ts`.
   */
  predictStream(options: PredictStreamOptions = {}): OperatorFunction<Image, Prediction> {
    return predictStream(this, options);
  }

  /**
   * Every parameter in layer order with its Keras weight name (`conv2d/kernel`): the order of
   * `getWeights`, of the saved weights manifest and of checkpoints.
   */
  namedParams(): { name: string; param: Param }[] {
    return this.store.layers.flatMap((l) =>
      l.params.map((param) => ({ name: `${l.layer.name}/${param.name}`, param }))
    );
  }

  /** Copies of every parameter, in layer order (Keras's `get_weights`). */
  getWeights(): Tensor[] {
    return this.namedParams().map(({ param }) => ({
      shape: param.shape,
      data: param.value.slice(),
    }));
  }

  /** Sets every parameter from tensors in `getWeights` order; shapes must match. */
  setWeights(weights: readonly Tensor[]): void {
    const params = this.namedParams();
    if (weights.length !== params.length) {
      throw new RangeError(
        `Cannot set the weights of "${this.name}": expected ${params.length} tensors, received ${weights.length}`,
      );
    }
    params.forEach(({ name, param }, i) => {
      const w = weights[i]!;
      if (w.shape.join() !== param.shape.join()) {
        throw new TypeError(
          `Cannot set ${name}: expected shape [${param.shape}], received [${w.shape}]`,
        );
      }
      param.value.set(w.data);
    });
  }
}

/** Thrown inside the step stream to end an epoch early when `stopTraining` is set. */
class StopTraining extends Error {}
