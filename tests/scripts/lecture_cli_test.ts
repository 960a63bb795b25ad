// The lecture's command-line tools, run as students run them: `deno run scripts/<name>.ts`.

import assert from "node:assert/strict";
import { join } from "node:path";
import { decode } from "fast-png";
import { clearSession } from "../../layers/layer.ts";
import { mnistCnn, mnistDense } from "../../pipelines/models.ts";
import { saveModel } from "../../pipelines/save_model.ts";
import { runScript, type ScriptRun } from "./_run_script.ts";

/** Runs `deno run -A scripts/<script>.ts ...args` from the repository root. */
function run(script: string, ...args: string[]): Promise<ScriptRun> {
  return runScript(script, args);
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lecture_cli_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function pngSize(path: string): Promise<[number, number]> {
  const png = decode(await Deno.readFile(path));
  return [png.width, png.height];
}

Deno.test("explain prints the CNN's formulas and parameter counts and exits 0", async () => {
  const [r, dense] = await Promise.all([run("explain"), run("explain", "--model", "dense")]);
  assert.equal(r.code, 0, r.stderr);
  for (
    const s of [
      "(28 - 3) / 1 + 1 = 26",
      "(24 - 2) / 2 + 1 = 12",
      "(3*3*1 + 1) * 32 = 320",
      "(3*3*32 + 1) * 32 = 9,248",
      "(1024 + 1) * 64 = 65,600",
      "Total params: 131,242",
    ]
  ) assert.ok(r.stdout.includes(s), `missing ${s}`);
  assert.equal(dense.code, 0, dense.stderr);
  assert.ok(dense.stdout.includes("Total params: 407,050"));
});

Deno.test("explain flags a 3x3 stride-3 conv on 7x7 (2.33), and --strict makes it exit 1; a bad flag or file exits 2", async () => {
  await withTempDir(async (dir) => {
    const spec = join(dir, "stride3.json");
    await Deno.writeTextFile(
      spec,
      JSON.stringify({
        inputShape: [7, 7, 1],
        layers: [{ class: "Conv2D", filters: 1, kernelSize: 3, strides: 3 }],
      }),
    );
    const [lenient, strict, cnnStrict, bad, bogus] = await Promise.all([
      run("explain", "--model", spec),
      run("explain", "--model", spec, "--strict"),
      run("explain", "--strict"),
      run("explain", "--model", join(dir, "missing.json")),
      run("explain", "--bogus"),
    ]);
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.match(lenient.stdout, /\(7 - 3\) \/ 3 \+ 1 = 2\.33/);
    assert.match(lenient.stdout, /WARNING/);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /row 6 and column 6/);
    assert.equal(cnnStrict.code, 0, cnnStrict.stderr);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /missing\.json/);
    assert.equal(bogus.code, 2);
    assert.ok(!bogus.stderr.includes("    at "), bogus.stderr);
  });
});

Deno.test("filters prints the 7x7 plus worked through and writes input, response and overview PNGs of the expected sizes", async () => {
  await withTempDir(async (dir) => {
    const r = await run("filters", "--out", dir, "--index", "0");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /plus shape filter/);
    assert.match(r.stdout, /\(7 - 3\) \/ 2 \+ 1 = 3/);
    assert.match(r.stdout, /divided by 273/);
    // the plus detector's 5x5 response row through the centre
    assert.match(r.stdout, /\n\s+2\s+1\s+5\s+1\s+2\n/);
    const panel: [number, number] = [240, 8 + 3 * 18 + 6 + 224 + 8];
    for (const folder of ["plus7x7", "test0_digit7"]) {
      assert.deepEqual(await pngSize(join(dir, folder, "input.png")), panel, folder);
      assert.deepEqual(await pngSize(join(dir, folder, "horizontal_s2_valid.png")), panel, folder);
      assert.deepEqual(await pngSize(join(dir, folder, "gaussian_s1_same.png")), panel, folder);
      const [w] = await pngSize(join(dir, folder, "overview.png"));
      assert.equal(w, 4 * 240 + 3 * 6);
    }
    const bad = await run("filters", "--out", dir, "--index", "x");
    assert.equal(bad.code, 2);
  });
});

Deno.test("plot writes a well-formed SVG next to the JSONL log, with 4 polylines of 2 points", async () => {
  await withTempDir(async (dir) => {
    const log = join(dir, "metrics.jsonl");
    await Deno.writeTextFile(
      log,
      '{"epoch":1,"loss":0.3,"accuracy":0.9,"val_loss":0.2,"val_accuracy":0.94,"seconds":3}\n' +
        '{"epoch":2,"loss":0.1,"accuracy":0.97,"val_loss":0.12,"val_accuracy":0.96,"seconds":3}\n' +
        '{"test_loss":0.11,"test_accuracy":0.965,"test_count":100}\n',
    );
    const r = await run("plot", log);
    assert.equal(r.code, 0, r.stderr);
    const svg = await Deno.readTextFile(join(dir, "metrics.svg"));
    assert.ok(svg.startsWith("<svg") && svg.trimEnd().endsWith("</svg>"));
    const lines = [...svg.matchAll(/<polyline[^>]* points="([^"]+)"/g)];
    assert.equal(lines.length, 4);
    for (const m of lines) assert.equal(m[1]!.split(" ").length, 2);
    const other = await run("plot", log, "--out", join(dir, "x", "curves.svg"));
    assert.equal(other.code, 0, other.stderr);
    await Deno.stat(join(dir, "x", "curves.svg"));
    assert.equal((await run("plot")).code, 2);
  });
});

Deno.test("visualize writes filters and activation grids for a saved CNN, and the confusion matrix; a Dense model is refused", async () => {
  clearSession();
  await withTempDir(async (dir) => {
    const modelDir = join(dir, "model");
    await saveModel(mnistCnn({ seed: 1 }), modelDir);
    const out = join(dir, "vis");
    const r = await run(
      "visualize",
      "--model",
      modelDir,
      "--index",
      "3",
      "--out",
      out,
      "--confusion",
      "--test-limit",
      "50",
      "--backend",
      "cpu",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /test #3: label 0/);
    assert.match(r.stdout, /50 images/);
    const width = 2 * 8 + 8 * 96 + 7 * 6;
    assert.deepEqual(await pngSize(join(out, "filters.png")), [
      width,
      8 + 36 + 6 + 4 * 105 + 3 * 6 + 8,
    ]);
    assert.deepEqual(await pngSize(join(out, "activations_conv2d.png")), [
      width,
      8 + 56 + 6 + 4 * 105 + 3 * 6 + 8,
    ]);
    assert.deepEqual(await pngSize(join(out, "activations_conv2d_3.png")), [
      width,
      8 + 56 + 6 + 8 * 105 + 7 * 6 + 8,
    ]);
    const [cw, ch] = await pngSize(join(out, "confusion_matrix.png"));
    assert.ok(cw > 560 && ch > 560);

    const denseDir = join(dir, "dense");
    await saveModel(mnistDense({ seed: 1 }), denseDir);
    const dense = await run("visualize", "--model", denseDir, "--out", out);
    assert.equal(dense.code, 2);
    assert.match(dense.stderr, /no Conv2D/);
  });
});

Deno.test("compare trains Dense(512) and the CNN on the same 128 images and prints 407,050 vs 131,242 side by side", async () => {
  const r = await run(
    "compare",
    "--limit",
    "128",
    "--test-limit",
    "128",
    "--epochs",
    "1",
    "--seed",
    "3",
  );
  assert.equal(r.code, 0, r.stderr);
  const params = r.stdout.split("\n").find((l) => l.startsWith("parameters"))!;
  assert.match(params, /407,050\s+131,242/);
  for (const row of ["test accuracy", "seconds per epoch"]) {
    const line = r.stdout.split("\n").find((l) => l.startsWith(row));
    assert.ok(line !== undefined, `missing ${row}`);
    const values = line!.slice(row.length).trim().split(/\s+/).map(Number);
    assert.equal(values.length, 2);
    assert.ok(values.every(Number.isFinite), line);
  }
  assert.match(r.stdout, /Dense\(512\)\s+CNN/);
  assert.equal((await run("compare", "--epochs", "0")).code, 2);
});
