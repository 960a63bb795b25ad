// `deno task predict` end to end: the script runs in a subprocess on real files and stdin, and
// its JSON lines are compared with the library's decoding and model.predict on the same inputs.

import assert from "node:assert/strict";
import { join } from "node:path";
import { encode } from "fast-png";
import { gzipSync } from "fflate";
import { Conv2D } from "../../layers/conv2d.ts";
import { Dense } from "../../layers/dense.ts";
import { Flatten } from "../../layers/flatten.ts";
import { MaxPooling2D } from "../../layers/max_pooling2d.ts";
import { type DecodedImage, readImageFile } from "../../pipelines/image_input.ts";
import { saveModel } from "../../pipelines/save_model.ts";
import { Sequential } from "../../pipelines/sequential.ts";

const SCRIPT = new URL("../../scripts/predict.ts", import.meta.url).pathname;

function smallCnn(): Sequential {
  const model = new Sequential({ seed: 1 });
  model.add(new Conv2D({ filters: 4, kernelSize: 3, activation: "relu", inputShape: [28, 28, 1] }));
  model.add(new MaxPooling2D({ poolSize: 2 }));
  model.add(new Flatten());
  model.add(new Dense({ units: 10, activation: "softmax" }));
  return model;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  lines: Record<string, unknown>[];
}

async function predict(args: string[], stdin?: Uint8Array): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(stdin);
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const out = new TextDecoder().decode(stdout);
  const lines = out.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  return { code, stdout: out, stderr: new TextDecoder().decode(stderr), lines };
}

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 37 + seed * 101) % 256);
}

function idx(count: number): Uint8Array {
  const out = new Uint8Array(16 + count * 784);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x803);
  view.setUint32(4, count);
  view.setUint32(8, 28);
  view.setUint32(12, 28);
  out.set(bytes(count * 784, 9), 16);
  return out;
}

/** Writes one file of every accepted kind (and corrupt ones) into `dir`; returns their paths. */
async function writeInputs(dir: string): Promise<Record<string, string>> {
  const files: Record<string, Uint8Array> = {
    "gray8.png": encode({ width: 28, height: 28, data: bytes(784, 1), channels: 1, depth: 8 }),
    "gray16.png": encode({
      width: 28,
      height: 28,
      data: Uint16Array.from({ length: 784 }, (_, i) => (i * 4099) % 65536),
      channels: 1,
      depth: 16,
    }),
    "rgb.png": encode({ width: 28, height: 28, data: bytes(784 * 3, 2), channels: 3, depth: 8 }),
    "rgba.png": encode({ width: 28, height: 28, data: bytes(784 * 4, 3), channels: 4, depth: 8 }),
    "big.png": encode({ width: 64, height: 48, data: bytes(64 * 48, 4), channels: 1, depth: 8 }),
    "digit.pgm": new Uint8Array([
      ...new TextEncoder().encode("P5\n28 28\n255\n"),
      ...bytes(784, 5),
    ]),
    "images.idx": idx(3),
    "images.idx.gz": gzipSync(idx(2)),
    "lines.jsonl": new TextEncoder().encode(
      [
        JSON.stringify({ id: "first", pixels: [...bytes(784, 6)] }),
        JSON.stringify(new Array(783).fill(0)),
        JSON.stringify(Array.from(bytes(784, 7), (b) => b / 255)),
      ].join("\n") + "\n",
    ),
    "truncated.png": encode({ width: 28, height: 28, data: bytes(784, 8), channels: 1, depth: 8 })
      .subarray(0, 60),
    "bad.pgm": new TextEncoder().encode("P5\n28 x 255\n"),
  };
  const paths: Record<string, string> = {};
  for (const [name, data] of Object.entries(files)) {
    paths[name] = join(dir, name);
    await Deno.writeFile(paths[name], data);
  }
  return paths;
}

Deno.test("deno task predict on PNG (8/16-bit gray, RGB, RGBA, 64x48), PGM, IDX raw + gz and JSON lines prints model.predict's values in order; corrupt files give error lines", async () => {
  const dir = await Deno.makeTempDir({ prefix: "predict_cli_test_" });
  try {
    const model = smallCnn();
    const modelDir = join(dir, "model");
    await saveModel(model, modelDir);
    const paths = await writeInputs(dir);
    const order = [
      "gray8.png",
      "truncated.png",
      "gray16.png",
      "rgb.png",
      "rgba.png",
      "big.png",
      "digit.pgm",
      "bad.pgm",
      "images.idx",
      "images.idx.gz",
      "lines.jsonl",
      "missing.png",
    ];
    const args = order.map((n) => paths[n] ?? join(dir, n));
    const run = await predict([
      "--model",
      modelDir,
      "--backend",
      "cpu",
      "--max-batch",
      "4",
      ...args,
    ]);
    assert.equal(run.code, 0, run.stderr);

    // what the library makes of the same files
    const want: { id: unknown; probabilities?: number[]; error?: RegExp }[] = [];
    for (const path of args) {
      for await (const item of readImageFile(path)) {
        if ("error" in item) want.push({ id: item.id, error: /./ });
        else {
          const image = item as DecodedImage;
          want.push({
            id: image.id,
            probabilities: Array.from(
              model.predict({ shape: [1, 28, 28, 1], data: image.pixels }).data,
            ),
          });
        }
      }
    }
    assert.deepEqual(run.lines.map((l) => l.id), want.map((w) => w.id));
    assert.deepEqual(run.lines.map((l) => l.id).slice(-9), [
      `${paths["images.idx"]}#0`,
      `${paths["images.idx"]}#1`,
      `${paths["images.idx"]}#2`,
      `${paths["images.idx.gz"]}#0`,
      `${paths["images.idx.gz"]}#1`,
      "first",
      `${paths["lines.jsonl"]}:2`,
      `${paths["lines.jsonl"]}:3`,
      join(dir, "missing.png"),
    ]);
    run.lines.forEach((line, i) => {
      const w = want[i]!;
      if (w.probabilities === undefined) {
        assert.equal(typeof line.error, "string", `line ${i}`);
        assert.ok(!("label" in line));
      } else {
        assert.deepEqual(line.probabilities, w.probabilities, `line ${i} (${line.id})`);
        assert.equal(line.label, w.probabilities.indexOf(Math.max(...w.probabilities)));
      }
    });
    const errors = Object.fromEntries(
      run.lines.filter((l) => "error" in l).map((l) => [l.id, l.error]),
    );
    assert.match(errors[paths["truncated.png"]!] as string, /truncated/);
    assert.match(errors[paths["bad.pgm"]!] as string, /bad PGM header/);
    assert.match(
      errors[`${paths["lines.jsonl"]}:2`] as string,
      /expected 784 pixel values, found 783/,
    );
    assert.match(errors[join(dir, "missing.png")] as string, /cannot read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task predict reads JSON lines and a PNG from stdin; --invert inverts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "predict_cli_test_" });
  try {
    const model = smallCnn();
    await saveModel(model, dir);
    const a = bytes(784, 11), b = bytes(784, 12);
    const stdin = new TextEncoder().encode(
      `${JSON.stringify([...a])}\n\n${JSON.stringify({ id: 5, pixels: [...b] })}\n`,
    );
    const run = await predict(["--model", dir, "--backend", "cpu"], stdin);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.lines.map((l) => l.id), ["stdin:1", 5]);
    const p = (raw: Uint8Array, invert = false) =>
      Array.from(
        model.predict({
          shape: [1, 28, 28, 1],
          data: Float32Array.from(raw, (v) => (invert ? 1 - v / 255 : v / 255)),
        }).data,
      );
    assert.deepEqual(run.lines[1]!.probabilities, p(b));

    const png = encode({ width: 28, height: 28, data: a, channels: 1, depth: 8 });
    const inverted = await predict(["--model", dir, "--backend", "cpu", "--invert", "-"], png);
    assert.equal(inverted.code, 0, inverted.stderr);
    assert.equal(inverted.lines.length, 1);
    assert.equal(inverted.lines[0]!.id, "stdin");
    const got = inverted.lines[0]!.probabilities as number[];
    p(a, true).forEach((v, i) => assert.ok(Math.abs(got[i]! - v) < 1e-6));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task predict on the default wasm backend agrees with the TypeScript backend to 1e-5", async () => {
  const dir = await Deno.makeTempDir({ prefix: "predict_cli_test_" });
  try {
    const model = smallCnn();
    await saveModel(model, dir);
    const lines = [1, 2, 3].map((s) => JSON.stringify([...bytes(784, s)])).join("\n");
    const run = await predict(["--model", dir, "--workers", "2"], new TextEncoder().encode(lines));
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.lines.length, 3);
    run.lines.forEach((line, i) => {
      const want = model.predict({
        shape: [1, 28, 28, 1],
        data: Float32Array.from(bytes(784, i + 1), (v) => v / 255),
      }).data;
      (line.probabilities as number[]).forEach((v, k) => assert.ok(Math.abs(v - want[k]!) < 1e-5));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task predict exits 1 when the model does not load and 2 on bad flags", async () => {
  const dir = await Deno.makeTempDir({ prefix: "predict_cli_test_" });
  try {
    const noModel = await predict(
      ["--model", join(dir, "none"), "--backend", "cpu"],
      new Uint8Array(0),
    );
    assert.equal(noModel.code, 1);
    assert.match(
      noModel.stderr,
      /cannot load the model from .*none: .*model\.json: expected a model file, found no such file/,
    );
    assert.equal(noModel.stdout, "");

    await Deno.writeTextFile(
      join(dir, "model.json"),
      JSON.stringify({
        modelTopology: {
          class_name: "Sequential",
          config: { layers: [{ class_name: "LSTM", config: {} }] },
        },
      }),
    );
    const unknown = await predict(["--model", dir, "--backend", "cpu"], new Uint8Array(0));
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Unknown layer class "LSTM"/);

    for (
      const args of [[], ["--model", dir, "--max-batch", "0"], ["--model", dir, "--frobnicate"], [
        "--model",
        dir,
        "--backend",
        "gpu",
      ]]
    ) {
      const bad = await predict(args, new Uint8Array(0));
      assert.equal(bad.code, 2, `${args.join(" ")}: ${bad.stderr}`);
      assert.match(bad.stderr, /deno task predict --help/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
