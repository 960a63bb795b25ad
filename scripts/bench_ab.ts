// `deno task bench-ab`: two versions of the engine in one process, their training steps (or
// inferences) interleaved rep by rep, so both see the same load on a shared machine. The
// "before" version is a directory holding another checkout's engine/, layers/ and pipelines/
// inside this project (so that its imports resolve through deno.json), e.g.
//
//   git archive 08c1338 engine layers pipelines | (mkdir -p .ab/before && tar -x -C .ab/before)
//   deno task bench-ab --before .ab/before
//
// Thin: parses flags, loads both versions, times them, prints a Markdown table.

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { from } from "rxjs";
import { choiceFlag, intFlag, parseFlags, runCli, UsageError } from "../pipelines/cli_flags.ts";

const USAGE =
  `Usage: deno task bench-ab --before DIR [--mode step|infer|numbers] [--reps N] [--workers 1,2]
                          [--batch N]

Loads the engine of DIR (a directory in this project with another version's engine/,
layers/ and pipelines/) and this tree's, builds the lecture's CNN with each, and times
them in one process, interleaved rep by rep: the training step at batch 64 (forward,
loss, backward, RMSprop) or model.predict at batch 256 (or --batch), on each participant
count.
Prints best, quartiles and median per version.

With --mode numbers it times nothing: both versions train N steps from the same seed
(batches of 64 and 32, as an epoch ends) and predict 100 images, and it says whether
the weights and predictions are bitwise the same, and how far apart they are if not
(for optimizations meant to leave the numbers alone).

Flags:
  --before DIR       the other version (required)
  --mode MODE        step, infer or numbers (default step)
  --reps N           timed repetitions per configuration, or steps (default 30)
  --workers LIST     participant counts, comma-separated (default 1,2)
  --batch N          the step's or inference's batch (default 64 or 256)
  --help             this text
`;

/** What a version must export, as `engine/wasm/wasm_backend.ts`, `pipelines/models.ts`, `train.ts`. */
interface Version {
  createWasmBackend(options: { workers: number }): Promise<{ dispose(): void }>;
  mnistCnn(options: { seed: number; backend: unknown }): {
    compile(c: Record<string, unknown>): void;
    build(): void;
    predict(x: unknown, o: { batchSize: number }): { data: Float32Array };
    store: { values: Float32Array };
  };
  train(model: unknown): (source: unknown) => { subscribe(): unknown };
}

async function load(root: URL): Promise<Version> {
  const at = (p: string) => new URL(p, root).href;
  const [be, models, train] = await Promise.all([
    import(at("engine/wasm/wasm_backend.ts")),
    import(at("pipelines/models.ts")),
    import(at("pipelines/train.ts")),
  ]);
  return {
    createWasmBackend: be.createWasmBackend,
    mnistCnn: models.mnistCnn,
    train: train.train,
  };
}

/** A deterministic MNIST-shaped batch of `n` images (70% zeros, as digits) with one-hot labels. */
function batchOf(n: number, seed: number) {
  const x = new Float32Array(n * 784).map((_, i) => {
    const v = Math.sin(i * seed + seed);
    return v > 0.4 ? Math.abs(Math.cos(i + seed)) : 0;
  });
  const y = new Float32Array(n * 10);
  for (let i = 0; i < n; i++) y[i * 10 + ((i + seed) % 10)] = 1;
  return { x: { shape: [n, 28, 28, 1], data: x }, y: { shape: [n, 10], data: y } };
}

/** `--mode numbers`: the weights after `steps` steps and 100 predictions, version against version. */
async function compareNumbers(
  versions: [string, Version][],
  workers: number[],
  steps: number,
): Promise<number> {
  const batches = Array.from({ length: steps }, (_, i) => batchOf(i % 3 === 2 ? 32 : 64, i + 1));
  const probe = batchOf(100, 99);
  console.log(
    `Weights after ${steps} training steps (batches of 64 and 32) and 100 predictions:\n`,
  );
  console.log("| participants | weights | predictions |");
  console.log("| --- | --- | --- |");
  let allSame = true;
  for (const w of workers) {
    const out: { weights: Float32Array; predictions: Float32Array }[] = [];
    for (const [, v] of versions) {
      const backend = await v.createWasmBackend({ workers: w });
      try {
        const model = v.mnistCnn({ seed: 1, backend });
        model.compile({ optimizer: "rmsprop", loss: "categorical_crossentropy" });
        model.build();
        for (const b of batches) from([b]).pipe(v.train(model) as never).subscribe();
        out.push({
          weights: model.store.values.slice(),
          predictions: model.predict(probe.x, { batchSize: 50 }).data.slice(),
        });
      } finally {
        backend.dispose();
      }
    }
    const [a, b] = [out[0]!, out[1]!];
    const cells = [compare(a.weights, b.weights), compare(a.predictions, b.predictions)];
    allSame &&= cells.every((c) => c.startsWith("bitwise"));
    console.log(`| x${w} | ${cells.join(" | ")} |`);
  }
  return allSame ? 0 : 1;
}

/** "bitwise the same", or how many elements differ and by how much (relative to the largest). */
function compare(a: Float32Array, b: Float32Array): string {
  if (a.length !== b.length) return `different sizes (${a.length} vs ${b.length})`;
  let differ = 0, diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) differ++;
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  if (differ === 0) return `bitwise the same (${a.length})`;
  return `${differ} of ${a.length} differ, max ${(diff / (scale || 1)).toExponential(1)} relative`;
}

async function main(args: string[]): Promise<number> {
  const values = parseFlags(
    args,
    {
      before: { type: "string" },
      mode: { type: "string" },
      reps: { type: "string" },
      workers: { type: "string" },
      batch: { type: "string" },
    },
    USAGE,
  );
  if (values === null) return 0;
  if (values.before === undefined) throw new UsageError("--before DIR is required");
  const mode = choiceFlag("mode", values.mode, ["step", "infer", "numbers"] as const, "step");
  const reps = intFlag("reps", values.reps, 30, 3);
  const workers = (values.workers ?? "1,2").split(",").map((w) => intFlag("workers", w, 1));
  const beforeDir = resolve(values.before);
  try {
    await Deno.stat(`${beforeDir}/engine/wasm/wasm_backend.ts`);
  } catch {
    throw new UsageError(
      `--before ${values.before}: expected a directory with engine/wasm/wasm_backend.ts`,
    );
  }
  const versions: [string, Version][] = [
    ["before", await load(pathToFileURL(`${beforeDir}/`))],
    ["after", await load(new URL("../", import.meta.url))],
  ];
  if (mode === "numbers") return await compareNumbers(versions, workers, reps);
  const n = intFlag("batch", values.batch, mode === "step" ? 64 : 256, 1);
  const batch = batchOf(n, 1);
  const configs: { name: string; run: () => void; ms: number[]; dispose: () => void }[] = [];
  for (const w of workers) {
    for (const [name, v] of versions) {
      const backend = await v.createWasmBackend({ workers: w });
      const model = v.mnistCnn({ seed: 1, backend });
      model.compile({
        optimizer: "rmsprop",
        loss: "categorical_crossentropy",
        metrics: ["accuracy"],
      });
      model.build();
      const run = mode === "step"
        ? () => void from([batch]).pipe(v.train(model) as never).subscribe()
        : () => void model.predict(batch.x, { batchSize: n });
      for (let i = 0; i < 3; i++) run(); // warm-up: compile, plans, buffers
      configs.push({ name: `${name} x${w}`, run, ms: [], dispose: () => backend.dispose() });
    }
  }
  for (let r = 0; r < reps; r++) {
    for (const c of configs) {
      const t0 = performance.now();
      c.run();
      c.ms.push(performance.now() - t0);
    }
  }
  console.log(
    `${mode === "step" ? "Training step" : "model.predict"}, batch ${n}; ${reps} reps, ` +
      `interleaved; load average ${Deno.loadavg()[0]!.toFixed(2)}\n`,
  );
  console.log(
    "| version | best ms | q1 | median | q3 |" + (mode === "infer" ? " median img/s |" : ""),
  );
  console.log("| --- | --- | --- | --- | --- |" + (mode === "infer" ? " --- |" : ""));
  for (const c of configs) {
    c.ms.sort((a, b) => a - b);
    const q = (f: number) => c.ms[Math.round(f * (reps - 1))]!;
    const cells = [q(0), q(0.25), q(0.5), q(0.75)].map((v) => v.toFixed(v < 10 ? 2 : 1));
    const rate = mode === "infer" ? ` ${Math.round((n * 1000) / q(0.5))} |` : "";
    console.log(`| ${c.name} | ${cells.join(" | ")} |${rate}`);
    c.dispose();
  }
  return 0;
}

await runCli("bench-ab", main);
