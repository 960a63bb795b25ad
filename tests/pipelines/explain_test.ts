import assert from "node:assert/strict";
import { join } from "node:path";
import { clearSession } from "../../layers/layer.ts";
import {
  axisArithmetic,
  explainModel,
  formatExplanation,
  modelFromSpec,
  strideWarnings,
} from "../../pipelines/explain.ts";
import { ModelFormatError } from "../../pipelines/load_model.ts";
import { mnistCnn, mnistDense } from "../../pipelines/models.ts";
import { saveModel } from "../../pipelines/save_model.ts";

Deno.test("explainModel on the lecture's CNN: params 320, 9,248, 0, 18,496, 36,928, 0, 0, 65,600, 650 and sizes 26, 24, 12, 10, 8, 4", () => {
  clearSession();
  const rows = explainModel(mnistCnn({ seed: 0 }));
  assert.deepEqual(rows.map((r) => r.params), [320, 9248, 0, 18496, 36928, 0, 0, 65600, 650]);
  assert.deepEqual(
    rows.slice(0, 6).map((r) => r.outputShape[0]),
    [26, 24, 12, 10, 8, 4],
  );
  assert.deepEqual(rows.map((r) => r.outputShape.at(-1)), [32, 32, 32, 64, 64, 64, 1024, 64, 10]);
  assert.deepEqual(
    rows.map((r) => r.paramFormula),
    [
      "(3*3*1 + 1) * 32 = 320",
      "(3*3*32 + 1) * 32 = 9,248",
      "0 (no weights)",
      "(3*3*32 + 1) * 64 = 18,496",
      "(3*3*64 + 1) * 64 = 36,928",
      "0 (no weights)",
      "0 (no weights)",
      "(1024 + 1) * 64 = 65,600",
      "(64 + 1) * 10 = 650",
    ],
  );
  assert.deepEqual(
    rows.slice(0, 6).map((r) => r.outputFormula),
    [
      "(28 - 3) / 1 + 1 = 26",
      "(26 - 3) / 1 + 1 = 24",
      "(24 - 2) / 2 + 1 = 12",
      "(12 - 3) / 1 + 1 = 10",
      "(10 - 3) / 1 + 1 = 8",
      "(8 - 2) / 2 + 1 = 4",
    ],
  );
  assert.equal(rows[6]!.outputFormula, "4 * 4 * 64 = 1,024");
  assert.deepEqual(strideWarnings(rows), []);
  assert.equal(rows.reduce((n, r) => n + r.params, 0), 131242);
});

Deno.test("formatExplanation prints every formula and the total 131,242 for the CNN, 407,050 for the Dense network", () => {
  clearSession();
  const cnn = formatExplanation(explainModel(mnistCnn())).join("\n");
  for (
    const s of [
      "conv2d (Conv2D): 32 filters 3x3, stride 1, padding valid, relu",
      "output: (28 - 3) / 1 + 1 = 26  ->  26 x 26 x 32",
      "params: (3*3*1 + 1) * 32 = 320",
      "params: (1024 + 1) * 64 = 65,600",
      "Total params: 131,242 = 320 + 9,248 + 18,496 + 36,928 + 65,600 + 650",
    ]
  ) assert.ok(cnn.includes(s), `missing ${JSON.stringify(s)} in\n${cnn}`);
  assert.ok(!cnn.includes("WARNING"));
  const dense = formatExplanation(explainModel(mnistDense())).join("\n");
  assert.ok(dense.includes("(784 + 1) * 512 = 401,920"));
  assert.ok(dense.includes("(512 + 1) * 10 = 5,130"));
  assert.ok(dense.includes("Total params: 407,050"));
});

Deno.test("axisArithmetic 7x7 input, 3x3 filter, stride 3: (7 - 3) / 3 + 1 = 2.33 -> 2, row 6 dropped", () => {
  const a = axisArithmetic(7, { window: 3, stride: 3, padding: "valid" });
  assert.equal(a.output, 2);
  assert.ok(Math.abs(a.exact - 7 / 3) < 1e-12);
  assert.equal(a.formula, "(7 - 3) / 3 + 1 = 2.33 -> 2");
  assert.deepEqual(a.dropped, [6]);
});

Deno.test("axisArithmetic 'same': P = (F - 1) / 2 for odd F at stride 1; ceil(N / S) with the odd pad after otherwise", () => {
  const a = axisArithmetic(28, { axis: "width", window: 3, stride: 1, padding: "same" });
  assert.equal(a.formula, "P = (3 - 1) / 2 = 1; (28 + 2*1 - 3) / 1 + 1 = 28");
  assert.equal(a.output, 28);
  assert.deepEqual(a.dropped, []);
  const b = axisArithmetic(28, { axis: "width", window: 3, stride: 2, padding: "same" });
  assert.equal(b.output, 14);
  assert.equal(b.padBefore + b.padAfter, 1);
  assert.equal(b.padAfter, 1);
  assert.ok(b.formula.startsWith("ceil(28 / 2) = 14"), b.formula);
  assert.deepEqual(b.dropped, []);
});

Deno.test("a 7x7 input with a 3x3 conv at stride 3 is flagged once for rows and columns: row 6 and column 6 are dropped", () => {
  const model = modelFromSpec({
    name: "stride3",
    inputShape: [7, 7, 1],
    layers: [{ class: "Conv2D", filters: 1, kernelSize: 3, strides: 3 }],
  });
  const rows = explainModel(model);
  assert.equal(rows[0]!.outputFormula, "(7 - 3) / 3 + 1 = 2.33 -> 2");
  const warnings = strideWarnings(rows);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.axis, "height and width");
  assert.deepEqual(warnings[0]!.dropped, [6]);
  assert.match(warnings[0]!.message, /2\.33/);
  assert.match(warnings[0]!.message, /row 6 and column 6/);
  const text = formatExplanation(rows).join("\n");
  assert.match(text, /WARNING: stride 3 does not fit/);
  assert.match(text, /1 stride warning/);
});

Deno.test("a non-square input flags only the axis whose stride does not fit; pooling 2x2 on 13 drops row 12", () => {
  const model = modelFromSpec({
    inputShape: [13, 12, 1],
    layers: [{ class: "MaxPooling2D", pool_size: 2 }],
  });
  const warnings = strideWarnings(explainModel(model));
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.axis, "height");
  assert.deepEqual(warnings[0]!.dropped, [12]);
  assert.match(warnings[0]!.message, /last row/);
});

Deno.test("a stride larger than the window skips pixels between windows and is flagged", () => {
  const model = modelFromSpec({
    inputShape: [5, 5, 1],
    layers: [{ class: "Conv2D", filters: 2, kernelSize: 1, strides: 2 }],
  });
  const [w] = strideWarnings(explainModel(model));
  assert.deepEqual(w!.dropped, [1, 3]);
  assert.match(w!.message, /between windows/);
});

Deno.test("modelFromSpec reads a saved model.json, snake_case specs and {class_name, config} entries", async () => {
  clearSession();
  const dir = await Deno.makeTempDir({ prefix: "explain_test_" });
  try {
    await saveModel(mnistCnn({ seed: 1 }), dir);
    const json = JSON.parse(await Deno.readTextFile(join(dir, "model.json")));
    const rows = explainModel(modelFromSpec(json, "model.json"));
    assert.deepEqual(rows.map((r) => r.params), [320, 9248, 0, 18496, 36928, 0, 0, 65600, 650]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const spec = modelFromSpec({
    layers: [
      { class_name: "Dense", config: { units: 4, batch_input_shape: [null, 3], use_bias: false } },
      { type: "Activation", activation: "relu" },
    ],
  });
  const rows = explainModel(spec);
  assert.equal(rows[0]!.paramFormula, "3 * 4 = 12");
  assert.equal(rows[1]!.outputFormula, "same shape as its input");
});

Deno.test("modelFromSpec refuses specs without layers, unknown classes and a missing input shape, naming the file", () => {
  assert.throws(() => modelFromSpec({ layers: [] }, "x.json"), ModelFormatError);
  assert.throws(
    () => modelFromSpec({ inputShape: [4], layers: [{ class: "LSTM" }] }, "x.json"),
    (e: Error) => e instanceof ModelFormatError && e.message.includes("LSTM"),
  );
  assert.throws(
    () => modelFromSpec({ layers: [{ class: "Dense", units: 2 }] }, "x.json"),
    (e: Error) => e.message.includes("x.json"),
  );
});
