/**
 * The standard MNIST training pipeline that `deno task train` runs: the lecture's recipe (the CNN,
 * rmsprop, categorical cross-entropy, 5 epochs, batch 64), declared as a stream
 *
 * ```
 * mnist({split: "train", random}).pipe(batch(64))  ->  model.fit(...)  (train(model) per epoch)
 * ```
 *
 * then the test-set evaluation, the JSONL log and the saved model.
 *
 * @module
 */

import { defer } from "rxjs";
import type { Backend } from "../engine/backend.ts";
import { formatMetric } from "./progress_bar.ts";
import { batch } from "./batch.ts";
import { JsonlLog } from "./jsonl_log.ts";
import { examplesOf, loadSplitCached } from "./mnist.ts";
import { mnistCnn, mnistDense } from "./models.ts";
import { saveModel } from "./save_model.ts";
import type { Callback } from "./callbacks.ts";
import type { History, Sequential } from "./sequential.ts";
import { getOptimizer } from "../layers/optimizers.ts";
import { map } from "rxjs";
import type { Batch } from "../layers/step.ts";

/** Everything `deno task train` can be told. */
export interface MnistTrainingOptions {
  epochs: number;
  batchSize: number;
  optimizer: string;
  learningRate?: number;
  seed: number;
  dataDir?: string;
  limit?: number;
  testLimit?: number;
  validationSplit: number;
  model: "cnn" | "dense";
  metricsFile?: string;
  outDir: string | null;
  verbose: 0 | 1 | 2;
  backend: Backend;
  callbacks?: Callback[];
  /** Where text goes (default: console.log). */
  print?: (line: string) => void;
}

/** What a training run produced. */
export interface MnistTrainingResult {
  model: Sequential;
  history: History;
  test: { loss: number; accuracy: number };
  seconds: number;
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
  const log = options.metricsFile === undefined ? null : new JsonlLog(options.metricsFile);
  const callbacks = [...(options.callbacks ?? []), ...(log === null ? [] : [log])];
  const history = await model.fit(trainBatches, {
    epochs: options.epochs,
    verbose: options.verbose,
    stepsPerEpoch: Math.ceil(fitCount / options.batchSize),
    callbacks,
    ...(valBatches === undefined ? {} : { validationData: valBatches }),
  });

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
    if (options.verbose > 0) print(`saved model to ${options.outDir}`);
  }
  return { model, history, test: evaluation, seconds: (performance.now() - t0) / 1000 };
}
