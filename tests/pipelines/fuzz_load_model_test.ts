// Fuzzing loadModel: 10,000 mutated saved models. Each case mutates either model.json (JSON-aware:
// keys dropped, values of the wrong type, huge / negative / fractional shapes and sizes, wrong
// class names, bad manifest paths and dtypes; or text-level: bit flips, truncation, inserted
// bytes) or the weights file (truncated, appended, emptied, bits flipped), writes the pair into
// one reused temporary directory and loads it. The only allowed outcomes are a model or the
// documented ModelFormatError; never another exception, a hang, or memory the files' sizes
// cannot justify (a weight shape of [100000, 100000] is refused by comparing it with the file's
// size before anything is allocated).

import assert from "node:assert/strict";
import { join } from "node:path";
import { Random } from "../../engine/random.ts";
import { Conv2D } from "../../layers/conv2d.ts";
import { Dense } from "../../layers/dense.ts";
import { Dropout } from "../../layers/dropout.ts";
import { Flatten } from "../../layers/flatten.ts";
import { MaxPooling2D } from "../../layers/max_pooling2d.ts";
import { loadModel, ModelFormatError } from "../../pipelines/load_model.ts";
import { saveModel, WEIGHTS_FILE } from "../../pipelines/save_model.ts";
import { Sequential } from "../../pipelines/sequential.ts";

const CASES = 10_000;
const CASE_MS = 250;
/** Most one case may add to this isolate's memory (its files are a few KB at most). */
const MAX_CASE_JUMP = 32 * 1024 * 1024;
/** Most this isolate's memory may grow over a run of cases. */
const MAX_GROWTH = 200 * 1024 * 1024;

/**
 * This isolate's memory: V8 heap plus ArrayBuffers (which count an allocation even before its
 * pages are touched). RSS would count the other test modules that `deno test --parallel` runs in
 * the same process.
 */
function memory(): number {
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** A tiny CNN (77 parameters), so that 10,000 loads are quick. */
function tinyModel(): Sequential {
  const model = new Sequential({ seed: 3 });
  model.add(new Conv2D({ filters: 2, kernelSize: 3, activation: "relu", inputShape: [8, 8, 1] }));
  model.add(new MaxPooling2D({ poolSize: 2 }));
  model.add(new Flatten());
  model.add(new Dropout({ rate: 0.25 }));
  model.add(new Dense({ units: 3, activation: "softmax" }));
  return model;
}

function pick<T>(r: Random, xs: readonly T[]): T {
  return xs[r.int(xs.length)]!;
}

/** A random element of a list found in the (already mutated) JSON, if it has any. */
function pickSome<T>(r: Random, xs: readonly T[]): T | undefined {
  return xs.length === 0 ? undefined : xs[r.int(xs.length)];
}

/** Every location in a JSON value: [parent, key] pairs, depth first. */
function locations(value: Json): [Json, string | number][] {
  const out: [Json, string | number][] = [];
  const walk = (v: Json) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push([v, i]);
        walk(x);
      });
    } else if (v !== null && typeof v === "object") {
      for (const k of Object.keys(v)) {
        out.push([v, k]);
        walk(v[k]);
      }
    }
  };
  walk(value);
  return out;
}

const ODD_VALUES: Json[] = [
  null,
  true,
  0,
  -1,
  1.5,
  1e9,
  -1e9,
  1e300,
  "",
  "x",
  "float32",
  [],
  {},
  [null],
  [1e9, 1e9],
  { class_name: "Dense" },
];
const HUGE_DIMS = [0, -1, -3, 2.5, 1e9, 1e18, 100_000, 65536, 0x7fffffff, 3, 1];
const CLASS_NAMES = [
  "LSTM",
  "Conv1D",
  "Dense",
  "Flatten",
  "InputLayer",
  "Sequential",
  "Model",
  "Functional",
  "",
  "Conv2D",
  "MaxPool2D",
  "Dropout",
  "BatchNormalization",
];
const PATHS = [
  "../escape.bin",
  "%zz",
  "%E0%A4%A",
  "group1%2Fshard.bin",
  "missing.bin",
  "",
  "/etc/hostname",
  ".",
  "model.json",
  WEIGHTS_FILE,
  42,
  null,
];
const DTYPES = ["float32", "int32", "float16", "uint8", "string", "bool", "complex64", 7, null];

/** One JSON-aware mutation of the parsed model.json, in place; returns its kind. */
function mutateJsonValue(json: Json, r: Random): string {
  const all = locations(json);
  const list = (v: Json): Json[] => Array.isArray(v) ? v : [];
  const layers = list(json?.modelTopology?.config?.layers);
  const weights = list(json?.weightsManifest?.[0]?.weights);
  const inObject = (v: Json) => v !== null && typeof v === "object";
  switch (r.int(9)) {
    case 0: { // drop a key or an array element
      const at = pickSome(r, all);
      if (at === undefined) return "drop";
      const [parent, key] = at;
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      return "drop";
    }
    case 1: { // a value of another type
      const at = pickSome(r, all);
      if (at === undefined) return "type";
      const [parent, key] = at;
      parent[key] = structuredClone(pick(r, ODD_VALUES));
      return "type";
    }
    case 2: { // huge, negative or fractional dimensions in a shape or size
      const numeric = all.filter(([p, k]) => typeof p[k] === "number");
      const at = pickSome(r, numeric);
      if (at === undefined) return "dims";
      const [parent, key] = at;
      parent[key] = pick(r, HUGE_DIMS);
      return "dims";
    }
    case 3: { // a huge weight shape, consistent or not with the layer
      const w = pickSome(r, weights);
      if (inObject(w)) w.shape = pick(r, [[100000, 100000], [1e9, 1e9], [18, 100000], [-1, 3]]);
      if (r.int(2) === 0) {
        const dense = layers.find((l) => l?.class_name === "Dense");
        if (inObject(dense?.config)) dense.config.units = pick(r, [100000, 1e9, 2 ** 31]);
      }
      return "huge weight";
    }
    case 4: { // a wrong class name (of a layer or the model)
      const target = r.int(4) === 0 ? json?.modelTopology : pickSome(r, layers);
      if (inObject(target)) target.class_name = pick(r, CLASS_NAMES);
      return "class";
    }
    case 5: { // manifest paths and dtypes, quantization
      const group = list(json?.weightsManifest)[0];
      if (!inObject(group)) return "manifest";
      const op = r.int(3);
      if (op === 0) group.paths = [pick(r, PATHS)];
      else if (op === 1) {
        const w = pickSome(r, weights);
        if (inObject(w)) w.dtype = pick(r, DTYPES);
      } else {
        const w = pickSome(r, weights);
        if (inObject(w)) {
          w.quantization = { dtype: pick(r, DTYPES), scale: pick(r, [0.1, -1, "x"]), min: 0 };
        }
      }
      return "manifest";
    }
    case 6: { // layers swapped, duplicated or dropped
      if (layers.length === 0) return "layers";
      const i = r.int(layers.length), j = r.int(layers.length);
      const op = r.int(3);
      if (op === 0) [layers[i], layers[j]] = [layers[j], layers[i]];
      else if (op === 1) layers.splice(i, 0, structuredClone(layers[j]));
      else layers.splice(i, 1);
      return "layers";
    }
    case 7: { // config values a layer checks: activation, padding, strides, rate, data_format
      const layer = pickSome(r, layers);
      if (!inObject(layer?.config)) return "config";
      const key = pick(r, [
        "activation",
        "padding",
        "strides",
        "kernel_size",
        "pool_size",
        "rate",
        "data_format",
        "dtype",
        "dilation_rate",
        "use_bias",
        "batch_input_shape",
        "filters",
        "units",
        "kernel_initializer",
        "name",
      ]);
      layer.config[key] = structuredClone(
        pick(r, [
          ...ODD_VALUES,
          "swish",
          "same",
          "causal",
          "channels_first",
          [2, 2],
          [0, 0],
          [null, 8, 8, 1],
          [null, 1e9, 1e9, 1],
          [null, 100000, 100000, 1],
          [null],
          2,
        ]),
      );
      return "config";
    }
    default: { // top-level keys
      const key = pick(r, ["format", "modelTopology", "weightsManifest"]);
      if (!inObject(json)) return "top";
      json[key] = structuredClone(pick(r, [...ODD_VALUES, "graph-model", [{ paths: [] }]]));
      return "top";
    }
  }
}

function mutateText(text: string, r: Random): { text: string; kind: string } {
  switch (r.int(3)) {
    case 0: { // bit flips (may break UTF-8: the reader decodes with replacement characters)
      const b = new TextEncoder().encode(text);
      const n = 1 + r.int(4);
      for (let i = 0; i < n; i++) b[r.int(b.length)]! ^= 1 << r.int(8);
      return { text: new TextDecoder().decode(b), kind: "text bits" };
    }
    case 1:
      return { text: text.slice(0, r.int(text.length)), kind: "text truncation" };
    default: {
      const at = r.int(text.length + 1);
      const t = pick(r, ["{", "}", "[", "]", ",", '"', "1e999", "-", "null", "\\", "\u0000"]);
      return { text: text.slice(0, at) + t + text.slice(at), kind: "text insert" };
    }
  }
}

function mutateBin(bin: Uint8Array, r: Random): { bin: Uint8Array; kind: string } {
  switch (r.int(4)) {
    case 0:
      return { bin: bin.subarray(0, r.int(bin.length)), kind: "bin truncation" };
    case 1: {
      const out = new Uint8Array(bin.length + 1 + r.int(r.int(2) === 0 ? 8 : 4096));
      out.set(bin);
      return { bin: out, kind: "bin append" };
    }
    case 2:
      return { bin: new Uint8Array(0), kind: "bin empty" };
    default: { // flipped bits: still loads (any float32 bit pattern is a value)
      const b = bin.slice();
      for (let i = 0; i < 4; i++) b[r.int(b.length)]! ^= 1 << r.int(8);
      return { bin: b, kind: "bin bits" };
    }
  }
}

Deno.test(`loadModel survives ${CASES} mutated model.json and weight files`, async () => {
  const dir = await Deno.makeTempDir({ prefix: "fuzz_load_model_" });
  try {
    await saveModel(tinyModel(), dir);
    const jsonPath = join(dir, "model.json");
    const binPath = join(dir, WEIGHTS_FILE);
    const baseText = await Deno.readTextFile(jsonPath);
    const baseBin = await Deno.readFile(binPath);
    const reference = (await loadModel(dir)).store.values.slice();
    assert.equal(reference.length, 77);

    const r = new Random(31337);
    const before = memory();
    let peak = before;
    let loaded = 0, refused = 0, slowest = 0, largestJump = 0;
    const kinds = new Map<string, [number, number]>();
    let binWritten: Uint8Array = baseBin;
    for (let c = 0; c < CASES; c++) {
      let text = baseText, bin: Uint8Array = baseBin, kind: string;
      const target = r.int(10);
      if (target < 6) {
        const json = JSON.parse(baseText);
        kind = mutateJsonValue(json, r);
        if (r.int(4) === 0) kind += `+${mutateJsonValue(json, r)}`;
        text = JSON.stringify(json, null, r.int(2) === 0 ? 2 : undefined);
      } else if (target < 8) {
        ({ text, kind } = mutateText(baseText, r));
      } else {
        ({ bin, kind } = mutateBin(baseBin, r));
      }
      await Deno.writeTextFile(jsonPath, text);
      if (bin !== binWritten) {
        await Deno.writeFile(binPath, bin);
        binWritten = bin;
      }
      const what = `case ${c} (${kind})`;
      const t0 = performance.now();
      const m0 = memory();
      let ok = false;
      try {
        const model = await loadModel(dir);
        ok = true;
        loaded++;
        // what loaded is usable: its parameters are the weight file's
        if (kind === "bin bits") assert.equal(model.store.values.length, 77, what);
      } catch (e) {
        assert.ok(e instanceof ModelFormatError, `${what}: unexpected ${(e as Error)?.stack ?? e}`);
        assert.ok(
          e.message.includes(e.file) && e.message.includes(`expected ${e.expected}`),
          `${what}: ${e.message}`,
        );
        refused++;
      }
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      assert.ok(ms < CASE_MS, `${what} took ${ms.toFixed(0)} ms`);
      const m1 = memory();
      largestJump = Math.max(largestJump, m1 - m0);
      peak = Math.max(peak, m1);
      const k = kind.split("+")[0]!;
      const [a, b] = kinds.get(k) ?? [0, 0];
      kinds.set(k, ok ? [a + 1, b] : [a, b + 1]);
    }
    const grown = peak - before;
    assert.ok(loaded > 0 && refused > CASES / 2, `loaded ${loaded}, refused ${refused}`);
    assert.ok(grown < MAX_GROWTH, `memory grew by ${grown >> 20} MiB`);
    assert.ok(largestJump < MAX_CASE_JUMP, `a case allocated ${largestJump >> 20} MiB`);
    if (Deno.env.get("FUZZ_VERBOSE")) {
      console.log({
        loaded,
        refused,
        slowest,
        peakGrowthMiB: grown >> 20,
        largestJumpMiB: largestJump >> 20,
        kinds,
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadModel refuses huge weight shapes by the file size, before allocating", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fuzz_load_model_" });
  try {
    await saveModel(tinyModel(), dir);
    const jsonPath = join(dir, "model.json");
    const base = JSON.parse(await Deno.readTextFile(jsonPath));
    // [input height, width] -> flattened size (h - 2) / 2 * (w - 2) / 2 * 2, and Dense units
    const cases: [[number, number], number, number][] = [
      [[8, 8], 18, 100_000],
      [[502, 402], 100_000, 100_000],
      [[8, 8], 18, 1e9],
    ];
    for (const [[h, w], inputs, units] of cases) {
      // a topology and manifest that agree with each other on a huge Dense layer, with the
      // 308-byte weight file: the sizes cannot match, so nothing of the model may be allocated
      const json = structuredClone(base);
      const layers = json.modelTopology.config.layers;
      layers[0].config.batch_input_shape = [null, h, w, 1];
      layers.at(-1).config.units = units;
      const weights = json.weightsManifest[0].weights;
      weights.at(-2).shape = [inputs, units];
      weights.at(-1).shape = [units];
      await Deno.writeTextFile(jsonPath, JSON.stringify(json));
      const m0 = memory();
      const t0 = performance.now();
      await assert.rejects(loadModel(dir), (e: unknown) => {
        assert.ok(e instanceof ModelFormatError, String(e));
        assert.match(
          e.message,
          /group1-shard1of1\.bin: expected \d+ bytes of weights .* found 308 bytes \(truncated\)/,
        );
        return true;
      });
      assert.ok(performance.now() - t0 < 100, `${inputs}x${units}: took too long`);
      assert.ok(memory() - m0 < 32 * 1024 * 1024, `${inputs}x${units}: allocated`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadModel names a manifest path that is not valid URI encoding", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fuzz_load_model_" });
  try {
    await saveModel(tinyModel(), dir);
    const jsonPath = join(dir, "model.json");
    const json = JSON.parse(await Deno.readTextFile(jsonPath));
    json.weightsManifest[0].paths = ["group1%zz.bin"];
    await Deno.writeTextFile(jsonPath, JSON.stringify(json));
    await assert.rejects(
      loadModel(dir),
      (e: unknown) =>
        e instanceof ModelFormatError && /expected weightsManifest paths/.test(e.message) &&
        /group1%zz\.bin/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
