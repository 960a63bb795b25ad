/**
 * `deno task bench`: how fast the engine trains and infers the lecture's CNN, and how that compares
 * with TF.js in the same process on the same machine.
 *
 * Prints, as Markdown tables:
 *
 * 1. the WASM SIMD128 peak of one core, measured (a loop of independent multiply-adds), and the
 *    same loop with a bounds-checked broadcast load per multiply-add;
 * 2. per layer and operation, as a training step calls them (forward, with the relu and a 2x2
 *    pooling in the convolution's store; input gradient dx, carrying the relu backward of the
 *    layer before; kernel gradient dw; the pooling's backward with the relu's),
 *    the kernel time at batch 64 on 1 and N participants: ms, GFLOP/s and share of the SIMD
 *    peak, and the N-worker speed-up;
 * 3. the full training step as `model.fit` runs it (forward, loss, backward, RMSprop over all
 *    131,242 parameters, through the RxJS operators of `pipelines/train.ts`) at batch 64 on 1 and
 *    N participants: median, best and quartiles in ms, GFLOP/s and share of peak, and the
 *    speed-up as the ratio of the medians and as the median of each round's ratio (the 1- and
 *    N-participant runs of a round are neighbours in time, so the host's slow spells move that
 *    one less);
 * 4. inference (`model.predict`) at batch 256 in images per second (median and best), and the
 *    paired speed-up;
 * 5. TF.js 4.22 on the same model: the `cpu` backend (training step at a small batch, scaled to
 *    64, and inference) and the `wasm` backend (inference; it cannot train, see below), with the
 *    ratios against this engine.
 *
 * GFLOP counts 2 x the multiply-adds of the direct convolutions and matrix products (the input
 * gradient counted like its forward, the first layer's input gradient not computed); "% peak" is
 * against the measured one-core peak times the participants. Times are medians (and bests) over
 * repeated runs: on a shared machine single runs swing by 2x.
 *
 * Usage:
 *   deno task bench [--quick] [--workers N] [--reps N] [--no-tfjs] [--tfjs-train-batch N]
 *
 * `--quick` takes fewer repetitions and skips the TF.js cpu training step (~15 s alone).
 *
 * @module
 */

import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { from } from "rxjs";
import type { Backend } from "../engine/backend.ts";
import { type Conv2DInfo, conv2dInfo } from "../engine/conv_info.ts";
import { assembleModule, FuncBuilder, I32, V128 } from "../engine/wasm/assembler.ts";
import { relaxedSimdSupported } from "../engine/wasm/codegen.ts";
import { createWasmBackend, isWasmBackend } from "../engine/wasm/wasm_backend.ts";
import type { Batch } from "../layers/step.ts";
import { mnistCnn } from "../pipelines/models.ts";
import type { Sequential } from "../pipelines/sequential.ts";
import { train } from "../pipelines/train.ts";

const USAGE =
  `Usage: deno task bench [--quick] [--workers N] [--reps N] [--no-tfjs] [--tfjs-train-batch N]

  --quick               fewer repetitions; skip the TF.js cpu training step
  --workers N           participants of the multi-threaded runs (default: number of cores)
  --reps N              repetitions per measurement (default 30, quick 10)
  --no-tfjs             skip the TF.js comparison
  --tfjs-train-batch N  batch of the one timed TF.js cpu training step, scaled to 64 (default 8)
`;

const BATCH = 64;
const INFER_BATCH = 256;

// ---------------------------------------------------------------------------------------------
// Measurement helpers.

/** Median, best and quartiles of a list of times. */
function stats(times: number[]): Stats {
  const s = [...times].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median = s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  const at = (f: number) => s[Math.round(f * (s.length - 1))]!;
  return { median, best: s[0]!, q1: at(0.25), q3: at(0.75) };
}

/**
 * The median over rounds of `base[i] / other[i]` (each a round's median, see `timeBlocks`): a
 * speed-up from runs timed side by side, which the machine's slow spells (seconds long, hitting
 * whichever configuration runs then) move less than the ratio of the two medians.
 */
function pairedSpeedup(base: number[], other: number[]): number {
  return stats(base.map((b, i) => b / other[i]!)).median;
}

/** What a row reports of its times (ms). */
interface Stats {
  median: number;
  best: number;
  /** First and third quartiles: the spread, which on a shared machine is mostly the machine's. */
  q1: number;
  q3: number;
}

/**
 * Runs each of `fns` `warmup` times, then times `reps` rounds, one run of each per round (ms).
 * Interleaving matters on a shared machine: the load drifts over seconds, and configurations
 * timed minutes apart are not comparable, while neighbouring runs see the same conditions.
 * Single kernels (0.1-15 ms) run back to back, as a training step calls them.
 */
function timeInterleaved(fns: (() => void)[], reps: number, warmup = 2): number[][] {
  for (const fn of fns) for (let i = 0; i < warmup; i++) fn();
  const t: number[][] = fns.map(() => []);
  for (let i = 0; i < reps; i++) {
    fns.forEach((fn, k) => {
      const t0 = performance.now();
      fn();
      t[k]!.push(performance.now() - t0);
    });
  }
  return t;
}

/** Times of {@linkcode timeBlocks}: every timed run, and each round's median, per function. */
interface BlockTimes {
  runs: number[][];
  rounds: number[][];
}

/**
 * Times runs as long as a training step the way `model.fit` and `model.predict` make them: back
 * to back. Each round runs every function in turn for a block of `block` + 1 runs and times the
 * last `block`: the first absorbs the switch from the previous function (whose worker may still
 * be polling for 2 ms after its last task, `SPIN_MS` in engine/wasm/worker.ts, while this one's
 * has gone to sleep). `reps` timed runs per function in all (rounded up to whole blocks).
 *
 * Before the seventh pass each step was timed alone after a 3 ms pause, so every 2-worker step
 * started by waking a sleeping worker, which the steps of `fit` do not: in `deno task train`
 * fewer than one call in 100 finds the worker asleep. In one process, alternating the two ways
 * (`.ab/blocks.ts`, 20-40 rounds of 5 steps each), the 2-worker step's medians differed by -2.3
 * to +5.3 ms back to back against paused: the noise. The blocks are for faithfulness to `fit`.
 */
function timeBlocks(fns: (() => void)[], reps: number, block: number, warmup = 2): BlockTimes {
  for (const fn of fns) for (let i = 0; i < warmup; i++) fn();
  const runs: number[][] = fns.map(() => []);
  const rounds: number[][] = fns.map(() => []);
  for (let r = 0; r < Math.ceil(reps / block); r++) {
    fns.forEach((fn, k) => {
      const t: number[] = [];
      for (let i = 0; i <= block; i++) {
        const t0 = performance.now();
        fn();
        if (i > 0) t.push(performance.now() - t0);
      }
      runs[k]!.push(...t);
      rounds[k]!.push(stats(t).median);
    });
  }
  return { runs, rounds };
}

/** Timed runs per block of {@linkcode timeBlocks}. */
const BLOCK = 3;

const fmt = (v: number, digits = 1) => v.toFixed(digits);
const fmtInt = (v: number) => Math.round(v).toLocaleString("en-US");

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`];
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// The SIMD peak of one core: independent multiply-add chains, no memory traffic.

/**
 * Measured GFLOP/s of one thread running f32x4 multiply-adds (relaxed FMA where available). With
 * `broadcast`, each multiply-add first broadcasts its own float from memory (`load32_splat`):
 * the ceiling of a kernel that cannot reuse its loaded values in registers. Deno runs
 * WebAssembly without V8's trap handler, so each such load carries an explicit bounds check,
 * and this ceiling sits far below the other.
 */
function measurePeak(broadcast = false): number {
  const relaxed = relaxedSimdSupported();
  const chains = relaxed ? 12 : 10;
  const f = new FuncBuilder([I32]);
  const acc: number[] = [];
  for (let i = 0; i < chains; i++) acc.push(f.local(V128));
  const a = f.local(V128), b = f.local(V128), n = f.local(I32);
  f.v128Zero().set(a).v128Zero().set(b);
  for (const x of acc) f.v128Zero().set(x);
  f.get(0).set(n);
  f.loop();
  for (let u = 0; u < 4; u++) {
    acc.forEach((x, i) => {
      // A distinct address per load (an add, as the kernels compute theirs), so none is shared.
      if (broadcast) f.get(n).i32(2).shl().i32(4 * (u * chains + i)).add().v128Load32Splat().set(a);
      if (relaxed) f.get(a).get(b).get(x).f32x4RelaxedMadd().set(x);
      else f.get(x).get(a).get(b).f32x4Mul().f32x4Add().set(x);
    });
  }
  f.get(n).i32(1).sub().tee(n).brIf(0);
  f.end();
  // Keep the results alive: store them.
  acc.forEach((x, i) => f.i32(16 * i).get(x).v128Store());
  const pages = broadcast ? 64 : 1;
  const bytes = assembleModule({ initialPages: pages, maximumPages: pages, shared: false }, [
    { body: f, exportName: "peak" },
  ]);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  const peak = inst.exports.peak as (n: number) => void;
  // The broadcast loads walk n * 4 bytes + a few hundred: 1M iterations stay within 64 pages.
  const iters = 1_000_000;
  const flop = iters * 4 * chains * 8;
  // Warm up past the baseline compiler; the best of many runs (the broadcast loop is the more
  // sensitive to the other tenants of the machine).
  for (let r = 0; r < 3; r++) peak(100_000);
  let best = Infinity;
  for (let r = 0; r < (broadcast ? 40 : 15); r++) {
    const t0 = performance.now();
    peak(iters);
    best = Math.min(best, performance.now() - t0);
  }
  return flop / (best * 1e6);
}

// ---------------------------------------------------------------------------------------------
// The seed CNN's layers as kernel calls.

interface ConvLayer {
  readonly kind: "conv";
  readonly name: string;
  readonly info: Conv2DInfo;
  readonly pool: Conv2DInfo | null;
  readonly first: boolean;
  /** Its input is a relu convolution's output: its dx carries that relu's backward. */
  readonly afterRelu: boolean;
}
interface DenseLayer {
  readonly kind: "dense";
  readonly name: string;
  readonly inDim: number;
  readonly outDim: number;
  /** relu-activated (fused into the product's store, as the model runs it). */
  readonly relu: boolean;
}
type KernelLayer = ConvLayer | DenseLayer;

function conv(
  name: string,
  shape: [number, number, number],
  outC: number,
  pool: boolean,
  first = false,
  afterRelu = false,
): ConvLayer {
  const info = conv2dInfo([BATCH, ...shape], {
    kernelSize: [3, 3],
    strides: [1, 1],
    padding: "valid",
    outChannels: outC,
  });
  const p = pool
    ? conv2dInfo([BATCH, info.outH, info.outW, outC], {
      kernelSize: [2, 2],
      strides: [2, 2],
      padding: "valid",
      outChannels: outC,
    })
    : null;
  return { kind: "conv", name, info, pool: p, first, afterRelu };
}

const LAYERS: KernelLayer[] = [
  conv("conv1 28x28x1 -> 26x26x32", [28, 28, 1], 32, false, true),
  conv("conv2 26x26x32 -> 24x24x32", [26, 26, 32], 32, true, false, true),
  conv("conv3 12x12x32 -> 10x10x64", [12, 12, 32], 64, false),
  conv("conv4 10x10x64 -> 8x8x64", [10, 10, 64], 64, true, false, true),
  { kind: "dense", name: "dense1 1024 -> 64", inDim: 1024, outDim: 64, relu: true },
  { kind: "dense", name: "dense2 64 -> 10", inDim: 64, outDim: 10, relu: false },
];

/** Multiply-adds of one forward pass of a layer at BATCH. */
function macs(l: KernelLayer, batch = BATCH): number {
  if (l.kind === "dense") return batch * l.inDim * l.outDim;
  const i = l.info;
  return batch * i.outH * i.outW * i.outC * i.kH * i.kW * i.inC;
}

/** FLOP of one training step (forward, dx except the first layer's, dw) at `batch`. */
function stepFlop(batch: number): number {
  let m = 0;
  for (const l of LAYERS) m += macs(l, batch) * (l.kind === "conv" && l.first ? 2 : 3);
  return 2 * m;
}

/** FLOP of one inference pass at `batch`. */
function forwardFlop(batch: number): number {
  return 2 * LAYERS.reduce((s, l) => s + macs(l, batch), 0);
}

function fill(a: Float32Array, seed: number): Float32Array {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

interface Bufs {
  x: Float32Array;
  y: Float32Array;
  w: Float32Array;
  b: Float32Array;
  dx: Float32Array;
  dy: Float32Array;
  dw: Float32Array;
  db: Float32Array;
  py: Float32Array;
  pdy: Float32Array;
  arg: Int32Array;
}

function buffers(be: Backend, l: KernelLayer, seed: number): Bufs {
  const [xs, ys, ws, outC, ps] = l.kind === "dense"
    ? [BATCH * l.inDim, BATCH * l.outDim, l.inDim * l.outDim, l.outDim, 0]
    : [
      BATCH * l.info.inH * l.info.inW * l.info.inC,
      BATCH * l.info.outH * l.info.outW * l.info.outC,
      l.info.kH * l.info.kW * l.info.inC * l.info.outC,
      l.info.outC,
      l.pool === null ? 0 : BATCH * l.pool.outH * l.pool.outW * l.pool.outC,
    ];
  // Buffers from the backend, as the layers allocate them (shared memory: no staging copies).
  return {
    x: fill(be.alloc(xs), seed),
    y: be.alloc(ys),
    w: fill(be.alloc(ws), seed + 1),
    b: fill(be.alloc(outC), seed + 2),
    dx: be.alloc(xs),
    dy: fill(be.alloc(ys), seed + 3),
    dw: be.alloc(ws),
    db: be.alloc(outC),
    py: be.alloc(ps),
    pdy: fill(be.alloc(ps), seed + 4),
    arg: be.allocInt32(ps),
  };
}

interface KernelRow {
  layer: string;
  op: string;
  gflop: number;
  /** Per participant count: median and best ms. */
  ms: Map<number, Stats>;
}

/** Times every kernel of the seed CNN at BATCH on each backend (`counts[i]` participants). */
function kernelTimes(bes: Backend[], counts: number[], reps: number): KernelRow[] {
  const rows: KernelRow[] = [];
  const add = (layer: string, op: string, gflop: number, fns: (() => void)[]) => {
    const ms = new Map<number, Stats>();
    timeInterleaved(fns, reps).forEach((t, i) => ms.set(counts[i]!, stats(t)));
    rows.push({ layer, op, gflop, ms });
  };
  LAYERS.forEach((l, i) => {
    const ms = bes.map((be) => buffers(be, l, 17 * i + 1));
    const each = (f: (be: Backend, m: Bufs) => void) => bes.map((be, k) => () => f(be, ms[k]!));
    const gflop = (2 * macs(l)) / 1e9;
    if (l.kind === "dense") {
      const [I, O] = [l.inDim, l.outDim];
      add(
        l.name,
        l.relu ? "fwd + relu" : "fwd",
        gflop,
        each((be, m) => be.denseForward(m.y, m.x, m.w, m.b, BATCH, I, O, l.relu)),
      );
      add(
        l.name,
        "dx",
        gflop,
        each((be, m) => be.denseBackwardInput(m.dx, m.dy, m.w, BATCH, I, O)),
      );
      add(
        l.name,
        "dw",
        gflop,
        each((be, m) => be.denseBackwardKernel(m.dw, m.db, m.dy, m.x, BATCH, I, O)),
      );
      return;
    }
    const info = l.info, p = l.pool;
    // The calls a training step makes. Every conv layer of the seed CNN is relu-activated, with
    // the relu in the convolution's store; a 2x2 pooling after it is in the store too (with its
    // argmax), and its backward carries the relu's backward; a relu convolution's backward is
    // otherwise carried by the next convolution's dx (`reluOf` = that layer's input).
    if (p === null) {
      add(
        l.name,
        "fwd + relu",
        gflop,
        each((be, m) => be.conv2dForward(m.y, m.x, m.w, m.b, info, true)),
      );
    } else {
      add(
        l.name,
        "fwd + relu + pool",
        gflop,
        each((be, m) => be.conv2dForward(m.py, m.x, m.w, m.b, info, true, p, m.arg)),
      );
    }
    if (!l.first) {
      add(
        l.name,
        l.afterRelu ? "dx + input's relu bwd" : "dx",
        gflop,
        each((be, m) =>
          be.conv2dBackwardInput(m.dx, m.dy, m.w, info, l.afterRelu ? m.x : undefined)
        ),
      );
    }
    add(l.name, "dw", gflop, each((be, m) => be.conv2dBackwardKernel(m.dw, m.db, m.dy, m.x, info)));
    if (p !== null) {
      add(
        l.name,
        "maxpool bwd + relu bwd",
        0,
        each((be, m) => be.maxPoolBackward(m.dx, m.pdy, m.arg, p, m.py)),
      );
    }
  });
  return rows;
}

// ---------------------------------------------------------------------------------------------
// The model as training and inference run it.

function mnistBatch(n: number, seed: number): Batch {
  const x = new Float32Array(n * 784);
  let s = seed >>> 0;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const v = (s >>> 8) / 2 ** 24;
    x[i] = v < 0.8 ? 0 : v; // MNIST-like: mostly background
  }
  const y = new Float32Array(n * 10);
  for (let i = 0; i < n; i++) y[i * 10 + (i % 10)] = 1;
  return { x: { shape: [n, 28, 28, 1], data: x }, y: { shape: [n, 10], data: y } };
}

function compiledModel(backend: Backend): Sequential {
  const model = mnistCnn({ seed: 1, backend });
  model.compile({ optimizer: "rmsprop", loss: "categorical_crossentropy", metrics: ["accuracy"] });
  model.build();
  return model;
}

/** One training step through the same operators as `model.fit`. */
function trainStep(model: Sequential, batch: Batch): void {
  let error: unknown = null;
  from([batch]).pipe(train(model)).subscribe({ error: (e) => (error = e) });
  if (error !== null) throw error;
}

// ---------------------------------------------------------------------------------------------
// TF.js.

interface TfjsResult {
  backend: string;
  /** ms of one training step at BATCH (scaled from a smaller batch), or why not. */
  trainMs: number | string;
  trainNote: string;
  /** Images per second at INFER_BATCH, or why not. */
  inferImgS: number | string;
}

type Tf = typeof import("@tensorflow/tfjs");

function tfModel(tf: Tf) {
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: "relu", inputShape: [28, 28, 1] }),
  );
  m.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: "relu" }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: "relu" }));
  m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: "relu" }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 64, activation: "relu" }));
  m.add(tf.layers.dense({ units: 10, activation: "softmax" }));
  m.compile({ optimizer: "rmsprop", loss: "categoricalCrossentropy" });
  return m;
}

async function tfjsInference(tf: Tf, reps: number): Promise<number> {
  const m = tfModel(tf);
  const b = mnistBatch(INFER_BATCH, 7);
  const x = tf.tensor4d(b.x.data, [INFER_BATCH, 28, 28, 1]);
  const once = async () => {
    const y = m.predict(x) as import("@tensorflow/tfjs").Tensor;
    await y.data();
    y.dispose();
  };
  await once(); // warm-up (kernel compilation, allocation)
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  x.dispose();
  m.dispose();
  return INFER_BATCH / (stats(times).median / 1000);
}

async function tfjsTrain(tf: Tf, batch: number): Promise<number> {
  const m = tfModel(tf);
  const b = mnistBatch(batch, 9);
  const x = tf.tensor4d(b.x.data, [batch, 28, 28, 1]);
  const y = tf.tensor2d(b.y.data, [batch, 10]);
  const t0 = performance.now();
  await m.trainOnBatch(x, y);
  const ms = performance.now() - t0;
  x.dispose();
  y.dispose();
  m.dispose();
  return ms;
}

async function runTfjs(
  quick: boolean,
  trainBatch: number,
  reps: number,
  log: (s: string) => void,
): Promise<TfjsResult[]> {
  const tf = await import("@tensorflow/tfjs");
  const wasmPkg = await import("@tensorflow/tfjs-backend-wasm");
  const results: TfjsResult[] = [];

  // cpu: plain JavaScript kernels.
  await tf.setBackend("cpu");
  await tf.ready();
  log(`TF.js ${tf.version.tfjs} cpu: inference at batch ${INFER_BATCH}...`);
  const cpuInfer = await tfjsInference(tf, quick ? 1 : 2);
  let cpuTrain: number | string = "skipped (--quick)";
  let note = "";
  if (!quick) {
    log(`TF.js cpu: one training step at batch ${trainBatch} (tens of seconds)...`);
    await tfjsTrain(tf, 1); // warm-up at batch 1: kernel setup, optimizer slots
    const ms = await tfjsTrain(tf, trainBatch);
    cpuTrain = (ms * BATCH) / trainBatch;
    note = `1 step at batch ${trainBatch} (${fmt(ms / 1000, 1)} s), x${BATCH / trainBatch}`;
  }
  results.push({ backend: "cpu", trainMs: cpuTrain, trainNote: note, inferImgS: cpuInfer });

  // wasm: its .wasm binaries are read from node_modules (file:// URLs work in Deno).
  let wasmInfer: number | string;
  let wasmTrain: number | string = "cannot train";
  let wasmNote = "";
  try {
    const dist = new URL("../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url);
    wasmPkg.setWasmPaths(dist.href);
    if (!(await tf.setBackend("wasm"))) throw new Error("setBackend('wasm') returned false");
    await tf.ready();
    const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
    const threads = await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT");
    log(`TF.js wasm (simd: ${simd}, threads: ${threads}): inference at batch ${INFER_BATCH}...`);
    wasmInfer = await tfjsInference(tf, reps);
    try {
      await tfjsTrain(tf, 2);
      wasmTrain = "trained?";
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      wasmNote = msg.includes("Conv2DBackpropFilter")
        ? "no Conv2DBackpropFilter kernel"
        : msg.slice(0, 80);
    }
    wasmNote = `${wasmNote}; simd ${simd}, threads ${threads}`;
  } catch (e) {
    wasmInfer = `unavailable: ${e instanceof Error ? e.message : String(e)}`.slice(0, 100);
  }
  results.push({ backend: "wasm", trainMs: wasmTrain, trainNote: wasmNote, inferImgS: wasmInfer });
  await tf.setBackend("cpu");
  return results;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      workers: { type: "string" },
      reps: { type: "string" },
      "no-tfjs": { type: "boolean", default: false },
      "tfjs-train-batch": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const quick = values.quick;
  const N = Math.max(1, Number(values.workers ?? navigator.hardwareConcurrency ?? 1));
  const reps = Math.max(3, Number(values.reps ?? (quick ? 10 : 30)));
  const tfjsBatch = Math.max(1, Number(values["tfjs-train-batch"] ?? 8));
  for (const [k, v] of [["--workers", N], ["--reps", reps], ["--tfjs-train-batch", tfjsBatch]]) {
    if (!Number.isInteger(v)) throw new TypeError(`${k} must be an integer`);
  }
  const log = (s: string) => console.error(`[bench] ${s}`);
  const started = performance.now();

  const cpuName = cpus()[0]?.model ?? "unknown CPU";
  const load0 = loadavg();

  log("measuring the SIMD128 peak of one core...");
  const peak = measurePeak();
  const broadcastPeak = measurePeak(true);
  const counts = N > 1 ? [1, N] : [1];

  // Every configuration at once, measured in alternation (see timeInterleaved, timeBlocks).
  const bes: Backend[] = [];
  const steps = new Map<number, Stats>();
  const infer = new Map<number, Stats>();
  // Each configuration's median per round (block), for the paired speed-ups.
  const stepRounds = new Map<number, number[]>();
  const inferRounds = new Map<number, number[]>();
  // Runs in which the workers did not pay for themselves (engine/wasm/contention.ts).
  const guardNotes: string[] = [];
  let kernels: KernelRow[] = [];
  let backendName = "";
  try {
    const backends = async (contentionGuard: boolean): Promise<Backend[]> => {
      const made: Backend[] = [];
      for (const w of counts) {
        const be = await createWasmBackend({ workers: w, contentionGuard });
        bes.push(be);
        made.push(be);
        if (!isWasmBackend(be)) throw new Error(`WASM SIMD backend unavailable: ${be.name}`);
        backendName = be.name.replace(/ x\d+$/, "");
      }
      return made;
    };
    // The kernel rows alternate single calls on 1 and N participants, so an N-participant call
    // often wakes a worker that slept through the 1-participant one, which the contention guard
    // (engine/wasm/contention.ts) would take for a busy machine: the kernels are timed without
    // it, the steps and inferences as users run them, with it.
    log(`kernels on ${counts.join(" and ")} participant(s), interleaved...`);
    const kernelBes = await backends(false);
    kernels = kernelTimes(kernelBes, counts, reps);
    for (const be of kernelBes) be.dispose();

    log("training steps...");
    const models = (await backends(true)).map((be) => compiledModel(be));
    const batches = [mnistBatch(BATCH, 1), mnistBatch(BATCH, 2), mnistBatch(BATCH, 3)];
    const k = models.map(() => 0);
    const stepBlocks = timeBlocks(
      models.map((m, i) => () => trainStep(m, batches[k[i]!++ % 3]!)),
      reps,
      BLOCK,
      3,
    );
    counts.forEach((w, i) => {
      steps.set(w, stats(stepBlocks.runs[i]!));
      stepRounds.set(w, stepBlocks.rounds[i]!);
    });

    log(`inference at batch ${INFER_BATCH}...`);
    const x = mnistBatch(INFER_BATCH, 4).x;
    const inferBlocks = timeBlocks(
      models.map((m) => () => m.predict(x, { batchSize: INFER_BATCH })),
      Math.max(BLOCK, Math.round(reps / 2)),
      BLOCK,
    );
    counts.forEach((w, i) => {
      infer.set(w, stats(inferBlocks.runs[i]!));
      inferRounds.set(w, inferBlocks.rounds[i]!);
    });
  } finally {
    for (const be of bes) {
      if (isWasmBackend(be) && be.contention.soloCalls > 0) {
        const { soloCalls, probes, stretches } = be.contention;
        guardNotes.push(
          `${be.name}: the contention guard ran ${soloCalls} parallel calls on the main thread ` +
            `alone (${probes} probes, ${stretches} solo stretches): the workers waited as if ` +
            `other programs had the cores, and these calls' times are the main thread's alone`,
        );
      }
      be.dispose();
    }
  }

  // TF.js.
  let peers: TfjsResult[] = [];
  let peersNote = "";
  if (values["no-tfjs"]) peersNote = "TF.js skipped (--no-tfjs).";
  else {
    try {
      peers = await runTfjs(quick, tfjsBatch, Math.max(3, Math.round(reps / 5)), log);
    } catch (e) {
      peersNote = `TF.js failed: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  // Report.
  const out: string[] = [];
  const pct = (gf: number, w: number) => `${fmt((100 * gf) / (peak * w), 0)}%`;
  out.push(
    `Seed CNN (131,242 parameters), batch ${BATCH}; ${cpuName}, ${navigator.hardwareConcurrency} ` +
      `cores; Deno ${Deno.version.deno} (V8 ${Deno.version.v8}); backend ${backendName}.`,
  );
  const load1 = loadavg();
  out.push(
    `Measured WASM SIMD128 peak: ${fmt(peak)} GFLOP/s on one core (${
      relaxedSimdSupported() ? "relaxed FMA" : "mul + add"
    }); % peak below is against ${fmt(peak)} x participants. GFLOP/s counts the direct ` +
      `convolution's FLOPs (Winograd layers do 2.25x (F(2x2, 3x3)) or 4x (F(4x4, 3x3)) fewer ` +
      `multiplications, so they can pass 100%). With a bounds-checked broadcast load per ` +
      `multiply-add (no trap handler in Deno: every WebAssembly load is checked) the same core ` +
      `runs ${fmt(broadcastPeak)} GFLOP/s, the ceiling of a kernel that cannot reuse a loaded ` +
      `value. ${reps} runs per row, the configurations interleaved; ms = median (best). Load ` +
      `average ${fmt(load0[0]!, 2)} at the start, ${fmt(load1[0]!, 2)} at the end (other ` +
      `processes on the machine).\n`,
  );

  out.push(`Kernels at batch ${BATCH}:\n`);
  const kHeader = ["layer", "op"];
  for (const w of counts) kHeader.push(`x${w} ms`, `x${w} GFLOP/s`, `x${w} % peak`);
  if (N > 1) kHeader.push(`x${N} speed-up`);
  const kRows: string[][] = [];
  const totals = new Map<number, number>();
  for (const row of kernels) {
    const r = [row.layer, row.op];
    for (const w of counts) {
      const t = row.ms.get(w)!;
      totals.set(w, (totals.get(w) ?? 0) + t.median);
      const gf = row.gflop / (t.median / 1000);
      r.push(
        `${fmt(t.median, 2)} (${fmt(t.best, 2)})`,
        row.gflop > 0 ? fmt(gf) : "",
        row.gflop > 0 ? pct(gf, w) : "",
      );
    }
    if (N > 1) r.push(`${fmt(row.ms.get(1)!.median / row.ms.get(N)!.median, 2)}x`);
    kRows.push(r);
  }
  const sumRow = ["all kernels", "sum"];
  for (const w of counts) {
    const ms = totals.get(w)!;
    const gf = stepFlop(BATCH) / 1e9 / (ms / 1000);
    sumRow.push(fmt(ms, 1), fmt(gf), pct(gf, w));
  }
  if (N > 1) sumRow.push(`${fmt(totals.get(1)! / totals.get(N)!, 2)}x`);
  kRows.push(sumRow);
  out.push(table(kHeader, kRows));

  const flop = stepFlop(BATCH) / 1e9;
  out.push(
    `\nTraining step at batch ${BATCH} (forward, loss, backward, RMSprop; ${
      fmt(flop, 2)
    } GFLOP), as model.fit runs it:\n`,
  );
  const sRows = counts.map((w) => {
    const t = steps.get(w)!;
    const gf = flop / (t.median / 1000);
    return [
      `x${w}`,
      fmt(t.median, 1),
      fmt(t.best, 1),
      `${fmt(t.q1, 1)}-${fmt(t.q3, 1)}`,
      fmt(gf),
      pct(gf, w),
      w === 1 ? "" : `${fmt(steps.get(1)!.median / t.median, 2)}x`,
      w === 1 ? "" : `${fmt(pairedSpeedup(stepRounds.get(1)!, stepRounds.get(w)!), 2)}x`,
      fmtInt((BATCH * 1000) / t.median),
    ];
  });
  out.push(
    table(
      [
        "participants",
        "median ms",
        "best ms",
        "q1-q3 ms",
        "GFLOP/s",
        "% peak",
        "speed-up",
        "paired speed-up",
        "train img/s",
      ],
      sRows,
    ),
  );

  const fFlop = forwardFlop(INFER_BATCH) / 1e9;
  out.push(`\nInference (model.predict) at batch ${INFER_BATCH} (${fmt(fFlop, 2)} GFLOP):\n`);
  out.push(
    table(
      [
        "participants",
        "median ms",
        "best ms",
        "q1-q3 ms",
        "img/s",
        "best img/s",
        "GFLOP/s",
        "% peak",
        "paired speed-up",
      ],
      counts.map((w) => {
        const t = infer.get(w)!;
        const gf = fFlop / (t.median / 1000);
        return [
          `x${w}`,
          fmt(t.median, 1),
          fmt(t.best, 1),
          `${fmt(t.q1, 1)}-${fmt(t.q3, 1)}`,
          fmtInt((INFER_BATCH * 1000) / t.median),
          fmtInt((INFER_BATCH * 1000) / t.best),
          fmt(gf),
          pct(gf, w),
          w === 1 ? "" : `${fmt(pairedSpeedup(inferRounds.get(1)!, inferRounds.get(w)!), 2)}x`,
        ];
      }),
    ),
  );

  if (peers.length > 0) {
    const ours = steps.get(N)!.median;
    const oursInfer = (INFER_BATCH * 1000) / infer.get(N)!.median;
    out.push(
      `\nTF.js in the same process (same model; ratios = TF.js time / this engine x${N}):\n`,
    );
    out.push(
      table(
        ["engine", "train step ms (batch 64)", "vs this", "inference img/s", "vs this", "notes"],
        [
          [`this engine, wasm x${N}`, fmt(ours, 1), "1x", fmtInt(oursInfer), "1x", ""],
          ...peers.map((p) => [
            `TF.js ${p.backend}`,
            typeof p.trainMs === "number" ? fmtInt(p.trainMs) : p.trainMs,
            typeof p.trainMs === "number" ? `${fmtInt(p.trainMs / ours)}x slower` : "",
            typeof p.inferImgS === "number" ? fmtInt(p.inferImgS) : p.inferImgS,
            typeof p.inferImgS === "number" ? `${fmt(oursInfer / p.inferImgS, 1)}x slower` : "",
            p.trainNote,
          ]),
        ],
      ),
    );
  }
  if (peersNote !== "") out.push(`\n${peersNote}`);
  for (const note of guardNotes) out.push(`\nNote: ${note}.`);
  out.push(`\nBench wall time: ${fmt((performance.now() - started) / 1000, 0)} s.`);
  console.log(out.join("\n"));
}

if (import.meta.main) await main();
