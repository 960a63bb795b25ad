/**
 * Micro-benchmark of the heavy kernels on the seed CNN's layers at batch 64: forward, input
 * gradient (dx) and kernel gradient (dw) per layer, for the TypeScript backend and the WASM
 * SIMD128 backend with 1 and 2 participants; then one whole training step's kernel time
 * (forward and backward of every layer, pooling and activations included) per backend.
 *
 * GFLOP/s counts 2 x multiply-adds of the direct convolution; "% peak" is against ~55 GFLOP/s
 * of WASM SIMD128 per core (times the participants).
 *
 * Usage: deno run --allow-read --allow-env --allow-sys scripts/bench_kernels.ts [--reps 5] [--no-cpu]
 *
 * `deno task bench` (`scripts/bench.ts`) is the fuller benchmark: the training step as the model
 * runs it, inference, and TF.js side by side; this one adds the plain TypeScript backend.
 *
 * @module
 */

import { type Backend, cpuBackend } from "../engine/backend.ts";
import { type Conv2DInfo, conv2dInfo } from "../engine/conv_info.ts";
import { createWasmBackend, isWasmBackend } from "../engine/wasm/wasm_backend.ts";

const PEAK_PER_CORE = 55;
const args = Deno.args;
const repsArg = args.indexOf("--reps");
const REPS = repsArg >= 0 ? Number(args[repsArg + 1]) : 5;
const withCpu = !args.includes("--no-cpu");
const BATCH = 64;

interface ConvLayer {
  readonly kind: "conv";
  readonly name: string;
  readonly info: Conv2DInfo;
  readonly pool: Conv2DInfo | null;
}
interface DenseLayer {
  readonly kind: "dense";
  readonly name: string;
  readonly inDim: number;
  readonly outDim: number;
}
type Layer = ConvLayer | DenseLayer;

function conv(
  name: string,
  shape: [number, number, number],
  outC: number,
  pool: boolean,
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
  return { kind: "conv", name, info, pool: p };
}

const LAYERS: Layer[] = [
  conv("conv1 28x28x1->26x26x32", [28, 28, 1], 32, false),
  conv("conv2 26x26x32->24x24x32", [26, 26, 32], 32, true),
  conv("conv3 12x12x32->10x10x64", [12, 12, 32], 64, false),
  conv("conv4 10x10x64->8x8x64", [10, 10, 64], 64, true),
  { kind: "dense", name: "dense1 1024->64", inDim: 1024, outDim: 64 },
  { kind: "dense", name: "dense2 64->10", inDim: 64, outDim: 10 },
];

function macs(l: Layer): number {
  if (l.kind === "dense") return BATCH * l.inDim * l.outDim;
  const i = l.info;
  return i.batch * i.outH * i.outW * i.outC * i.kH * i.kW * i.inC;
}

function fill(a: Float32Array, seed: number): Float32Array {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

/**
 * Best wall time of `fn` over REPS runs after one warm-up, in ms. The best, not the median: on a
 * shared 2-vCPU machine the median swings by 2x with the neighbours' load.
 */
function time(fn: () => void, reps = REPS): number {
  fn();
  const t: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return Math.min(...t);
}

interface Buffers {
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

function buffers(be: Backend, l: Layer, seed: number): Buffers {
  const [xs, ys, ws, outC, ps] = l.kind === "dense"
    ? [BATCH * l.inDim, BATCH * l.outDim, l.inDim * l.outDim, l.outDim, 0]
    : [
      BATCH * l.info.inH * l.info.inW * l.info.inC,
      BATCH * l.info.outH * l.info.outW * l.info.outC,
      l.info.kH * l.info.kW * l.info.inC * l.info.outC,
      l.info.outC,
      l.pool === null ? 0 : BATCH * l.pool.outH * l.pool.outW * l.pool.outC,
    ];
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

function forward(be: Backend, l: Layer, m: Buffers): void {
  if (l.kind === "dense") be.denseForward(m.y, m.x, m.w, m.b, BATCH, l.inDim, l.outDim);
  else be.conv2dForward(m.y, m.x, m.w, m.b, l.info);
}
function backwardInput(be: Backend, l: Layer, m: Buffers): void {
  if (l.kind === "dense") be.denseBackwardInput(m.dx, m.dy, m.w, BATCH, l.inDim, l.outDim);
  else be.conv2dBackwardInput(m.dx, m.dy, m.w, l.info);
}
function backwardKernel(be: Backend, l: Layer, m: Buffers): void {
  if (l.kind === "dense") be.denseBackwardKernel(m.dw, m.db, m.dy, m.x, BATCH, l.inDim, l.outDim);
  else be.conv2dBackwardKernel(m.dw, m.db, m.dy, m.x, l.info);
}

const backends: { label: string; make: () => Promise<Backend>; cores: number }[] = [];
if (withCpu) backends.push({ label: "ts-cpu", make: () => Promise.resolve(cpuBackend), cores: 1 });
backends.push({ label: "wasm x1", make: () => createWasmBackend({ workers: 1 }), cores: 1 });
backends.push({ label: "wasm x2", make: () => createWasmBackend({ workers: 2 }), cores: 2 });

const rows: string[] = [];
const stepRows: string[] = [];
for (const spec of backends) {
  const be = await spec.make();
  if (!isWasmBackend(be) && spec.label !== "ts-cpu") {
    console.warn(`${spec.label}: fell back to ${be.name}`);
  }
  const bufs = LAYERS.map((l, i) => buffers(be, l, 17 * i + 1));
  const reps = spec.label === "ts-cpu" ? 1 : REPS;
  for (let i = 0; i < LAYERS.length; i++) {
    const l = LAYERS[i]!, m = bufs[i]!;
    const gflop = (2 * macs(l)) / 1e9;
    const ops: [string, () => void][] = [
      ["fwd", () => forward(be, l, m)],
      ["dx", () => backwardInput(be, l, m)],
      ["dw", () => backwardKernel(be, l, m)],
    ];
    for (const [op, fn] of ops) {
      const ms = time(fn, reps);
      const gf = gflop / (ms / 1e3);
      const pct = (100 * gf) / (PEAK_PER_CORE * spec.cores);
      rows.push(
        `| ${spec.label} | ${l.name} | ${op} | ${ms.toFixed(2)} | ${gf.toFixed(1)} | ${
          pct.toFixed(0)
        }% |`,
      );
    }
  }
  // A whole training step: forward with relu and pooling, then the backward of every layer.
  let tsMs = 0;
  const ts = (fn: () => void) => {
    const t0 = performance.now();
    fn();
    tsMs += performance.now() - t0;
  };
  const step = () => {
    for (let i = 0; i < LAYERS.length; i++) {
      const l = LAYERS[i]!, m = bufs[i]!;
      forward(be, l, m);
      const size = m.y.length;
      if (i < LAYERS.length - 1) ts(() => be.activationForward("relu", m.y, m.y, size, size));
      if (l.kind === "conv" && l.pool !== null) {
        const p = l.pool;
        ts(() => be.maxPoolForward(m.py, m.arg, m.y, p));
      }
    }
    for (let i = LAYERS.length - 1; i >= 0; i--) {
      const l = LAYERS[i]!, m = bufs[i]!;
      if (l.kind === "conv" && l.pool !== null) {
        const p = l.pool;
        ts(() => be.maxPoolBackward(m.dy, m.pdy, m.arg, p));
      }
      const size = m.y.length;
      if (i < LAYERS.length - 1) {
        ts(() => be.activationBackward("relu", m.dy, m.dy, m.y, size, size));
      }
      backwardKernel(be, l, m);
      if (i > 0) backwardInput(be, l, m);
    }
  };
  step();
  const stepTimes: number[] = [];
  const tsTimes: number[] = [];
  for (let r = 0; r < reps; r++) {
    tsMs = 0;
    const t0 = performance.now();
    step();
    stepTimes.push(performance.now() - t0);
    tsTimes.push(tsMs);
  }
  const best = stepTimes.indexOf(Math.min(...stepTimes));
  const stepMs = stepTimes[best]!, tsPart = tsTimes[best]!;
  stepRows.push(
    `| ${spec.label} | ${stepMs.toFixed(1)} | ${tsPart.toFixed(1)} (${
      ((100 * tsPart) / stepMs).toFixed(0)
    }%) |`,
  );
  be.dispose();
}

console.log(`Seed CNN kernels, batch ${BATCH}, best of ${REPS} (ts-cpu: 1)\n`);
console.log("| backend | layer | op | ms | GFLOP/s | % of peak |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const r of rows) console.log(r);
console.log("\n| backend | training step ms (all kernels) | of which pooling + relu ms |");
console.log("| --- | --- | --- |");
for (const r of stepRows) console.log(r);
