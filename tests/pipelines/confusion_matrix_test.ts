import assert from "node:assert/strict";
import { join } from "node:path";
import { decode } from "fast-png";
import {
  confusionMatrix,
  confusionMatrixImage,
  countConfusions,
  formatConfusionMatrix,
  writeConfusionMatrixPng,
} from "../../pipelines/confusion_matrix.ts";
import type { MnistSplit } from "../../pipelines/mnist_files.ts";
import { loadSplitCached } from "../../pipelines/mnist.ts";
import { mnistCnn, mnistDense } from "../../pipelines/models.ts";

function rowSums(counts: number[][]): number[] {
  return counts.map((r) => r.reduce((a, b) => a + b, 0));
}

function classCounts(split: MnistSplit, n: number): number[] {
  const c = new Array(10).fill(0);
  for (let i = 0; i < n; i++) c[split.labels[i]!]++;
  return c;
}

Deno.test("countConfusions puts true labels on rows and predictions on columns", () => {
  const cm = countConfusions([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], { numClasses: 3 });
  assert.deepEqual(cm.counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]]);
  assert.equal(cm.total, 6);
  assert.equal(cm.correct, 4);
  assert.throws(() => countConfusions([0], [3], { numClasses: 3 }), RangeError);
  assert.throws(() => countConfusions([0, 1], [0], { numClasses: 3 }), RangeError);
});

Deno.test("confusionMatrix of the Dense network on 1,000 test images: rows sum to the class counts, total 1,000", async () => {
  const test = await loadSplitCached("test");
  const model = mnistDense({ seed: 1 });
  const cm = confusionMatrix(model, test, { limit: 1000, batchSize: 300 });
  assert.equal(cm.total, 1000);
  assert.deepEqual(rowSums(cm.counts), classCounts(test, 1000));
  const diagonal = cm.counts.reduce((s, r, i) => s + r[i]!, 0);
  assert.equal(cm.correct, diagonal);
});

Deno.test("confusionMatrix of the CNN on 64 test images agrees with argmax of predict", async () => {
  const test = await loadSplitCached("test");
  const model = mnistCnn({ seed: 2 });
  const cm = confusionMatrix(model, test, { limit: 64 });
  assert.equal(cm.total, 64);
  assert.deepEqual(rowSums(cm.counts), classCounts(test, 64));
  const x = Float32Array.from(test.images.subarray(0, 64 * 784), (p) => p / 255);
  const y = model.predict({ shape: [64, 28, 28, 1], data: x });
  const predicted = new Array(10).fill(0);
  for (let i = 0; i < 64; i++) {
    const row = y.data.subarray(i * 10, i * 10 + 10);
    predicted[row.indexOf(Math.max(...row))]++;
  }
  const columnSums = cm.counts[0]!.map((_, p) => cm.counts.reduce((s, r) => s + r[p]!, 0));
  assert.deepEqual(columnSums, predicted);
});

Deno.test("formatConfusionMatrix prints a header, one row per class with its total and recall, and the column totals", () => {
  const cm = countConfusions([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], { numClasses: 3 });
  const lines = formatConfusionMatrix(cm);
  assert.match(lines[0]!, /6 images, 4 correct \(accuracy 66\.7%\)/);
  const row2 = lines.find((l) => /^true +2 /.test(l))!;
  assert.deepEqual(row2.replace("|", "").trim().split(/\s+/), [
    "true",
    "2",
    "1",
    "0",
    "2",
    "3",
    "66.7%",
  ]);
  const totals = lines.find((l) => l.startsWith("total"))!;
  assert.deepEqual(totals.replace("|", "").trim().split(/\s+/), ["total", "2", "2", "2", "6"]);
});

Deno.test("writeConfusionMatrixPng writes a PNG of the image's size, with a 56-pixel cell per pair", async () => {
  const labels = Array.from({ length: 200 }, (_, i) => i % 10);
  const cm = countConfusions(labels, labels.map((l, i) => (i % 7 === 0 ? (l + 1) % 10 : l)));
  const image = confusionMatrixImage(cm);
  assert.ok(image.width >= 10 * 56 && image.height >= 10 * 56);
  const dir = await Deno.makeTempDir({ prefix: "confusion_matrix_test_" });
  try {
    const file = join(dir, "cm.png");
    await writeConfusionMatrixPng(cm, file);
    const png = decode(await Deno.readFile(file));
    assert.equal(png.width, image.width);
    assert.equal(png.height, image.height);
    assert.deepEqual(png.data, image.data);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
