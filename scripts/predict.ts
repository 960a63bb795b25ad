// `deno task predict`: classifies images with a saved model, one JSON line per image. Thin:
// parses flags, loads the model (pipelines/load_model.ts), reads images
// (pipelines/image_input.ts) and runs them through the micro-batched predictor
// (pipelines/predict_stream.ts).

import { backendFlags, createBackend } from "../pipelines/cli_backend.ts";
import { parseArgs } from "node:util";
import { from, lastValueFrom, tap } from "rxjs";
import type { Backend } from "../engine/backend.ts";
import { intFlag, numberFlag, runCli, UsageError } from "../pipelines/cli_flags.ts";
import {
  type DecodedImage,
  type ImageInputOptions,
  type ImageItem,
  isImageError,
  readImageFile,
  readImageStream,
} from "../pipelines/image_input.ts";
import { loadModel } from "../pipelines/load_model.ts";
import { microBatch, predictBatch } from "../pipelines/predict_stream.ts";

const USAGE = `Usage: deno task predict --model DIR [flags] [FILES...]

Classifies images with a model saved in the TF.js Layers format and writes one JSON line per
image to stdout, in input order:
  {"id": "digit.png", "label": 7, "probabilities": [...]}
A bad image gives {"id": ..., "error": "..."} and the others go on.

Inputs (files, or stdin when no file or "-" is given), recognised by content:
  PNG      any bit depth, gray/RGB/alpha; other sizes than 28x28 are fitted as MNIST digits
  PGM      binary P5, maxval up to 65535
  IDX      MNIST images files, raw or .gz; ids FILE#INDEX
  JSONL    one image per line: [784 numbers] or {"id": ..., "pixels": [...]};
           a line with any value above 1 is read as 0..255, otherwise as 0..1

Flags:
  --model DIR          directory of model.json (required)
  --invert             dark digits on a light background: invert them
  --max-batch N        images per forward pass (default 64)
  --max-delay-ms X     longest wait for a batch to fill, for streamed stdin (default 2)
  --backend wasm|cpu   WebAssembly SIMD kernels on a worker pool (default), or plain TypeScript
  --workers N          threads for the wasm backend (default: number of cores)
  --help               this text

Exit status: 0 (even when some images fail), 1 if the model cannot be loaded, 2 for bad flags.
`;

/** Writes all of `bytes` to stdout, synchronously (backpressure is the pipe's). */
function writeOut(bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.length) at += Deno.stdout.writeSync(bytes.subarray(at));
}

async function* inputs(files: string[], options: ImageInputOptions): AsyncGenerator<ImageItem> {
  if (files.length === 0) files = ["-"];
  for (const f of files) {
    if (f === "-") yield* readImageStream(Deno.stdin.readable, "stdin", options);
    else yield* readImageFile(f, options);
  }
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      model: { type: "string" },
      invert: { type: "boolean" },
      "max-batch": { type: "string" },
      "max-delay-ms": { type: "string" },
      backend: { type: "string" },
      workers: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.model === undefined) throw new UsageError("--model DIR is required");
  const maxBatch = intFlag("max-batch", values["max-batch"], 64);
  const maxDelayMs = numberFlag("max-delay-ms", values["max-delay-ms"], 0, 60_000) ?? 2;
  const backendChoice = backendFlags(values);
  const options: ImageInputOptions = { invert: values.invert ?? false };

  const backend: Backend = await createBackend(backendChoice);
  try {
    let model;
    try {
      model = await loadModel(values.model, { backend });
    } catch (e) {
      console.error(`error: cannot load the model from ${values.model}: ${(e as Error).message}`);
      return 1;
    }
    const encoder = new TextEncoder();
    await lastValueFrom(
      from(inputs(positionals, options)).pipe(
        microBatch<ImageItem>(maxDelayMs, maxBatch),
        tap((items) => {
          const images = items.filter((i): i is DecodedImage => !isImageError(i));
          const predictions = predictBatch(model, images);
          let k = 0;
          const lines = items.map((item) =>
            JSON.stringify(isImageError(item) ? item : predictions[k++]!)
          );
          writeOut(encoder.encode(lines.join("\n") + "\n"));
        }),
      ),
      { defaultValue: null },
    );
  } finally {
    backend.dispose();
  }
  return 0;
}

await runCli("predict", main, {
  quietExits: (e) => e instanceof Deno.errors.BrokenPipe ? 0 : undefined,
});
