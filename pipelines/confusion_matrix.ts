/**
 * The confusion matrix of a classifier on a split: `counts[t][p]` is the number of images of
 * true class `t` the model predicts as `p` (rows: true labels, columns: predictions, as Keras and
 * scikit-learn print them). Each row sums to the number of images of that class, and the whole
 * matrix to the number of images evaluated; the diagonal holds the correct predictions.
 *
 * @module
 */

import { groupThousands } from "../layers/summary.ts";
import {
  createImage,
  drawText,
  fillRect,
  lineHeight,
  MARGIN,
  type Rgb,
  textWidth,
} from "./image_grid.ts";
import type { MnistSplit } from "./mnist_files.ts";
import { type RgbImage, writePng } from "./png_encode.ts";
import type { Sequential } from "./sequential.ts";

/** A confusion matrix: rows are true classes, columns predicted classes. */
export interface ConfusionMatrix {
  /** Number of classes (rows and columns). */
  readonly numClasses: number;
  /** `counts[trueClass][predictedClass]`. */
  readonly counts: number[][];
  /** Images evaluated (the sum of all counts). */
  readonly total: number;
  /** Correct predictions (the sum of the diagonal). */
  readonly correct: number;
}

/**
 * Counts (true, predicted) pairs (10 classes unless told).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countConfusions } from "./confusion_matrix.ts";
 * const cm = countConfusions([0, 1, 1], [0, 1, 0], { numClasses: 2 });
 * assert(cm.counts[1]!.join() === "1,1" && cm.correct === 2);
 * ```
 */
export function countConfusions(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  options: { numClasses?: number } = {},
): ConfusionMatrix {
  const numClasses = options.numClasses ?? 10;
  if (labels.length !== predictions.length) {
    throw new RangeError(
      `Cannot count confusions of ${labels.length} labels and ${predictions.length} predictions: the counts must match`,
    );
  }
  const counts = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i]!, p = predictions[i]!;
    if (!(t >= 0 && t < numClasses && p >= 0 && p < numClasses)) {
      throw new RangeError(
        `Cannot count the confusion of image ${i}: label ${t} or prediction ${p} is outside [0, ${
          numClasses - 1
        }]`,
      );
    }
    counts[t]![p]!++;
    if (t === p) correct++;
  }
  return { numClasses, counts, total: labels.length, correct };
}

/** Options of {@linkcode confusionMatrix}. */
export interface ConfusionMatrixOptions {
  /** Only the first `limit` images of the split. */
  limit?: number;
  /** Images per forward pass (default 256). */
  batchSize?: number;
}

/**
 * The model's confusion matrix on a split (e.g. the 10,000 test images): each image, scaled to
 * [0, 1] as in training (flattened for a Dense network), is classified by the largest output.
 *
 * @example
 * ```ts ignore
 * import { confusionMatrix, formatConfusionMatrix } from "./confusion_matrix.ts";
 * import { loadSplitCached } from "./mnist.ts";
 * const cm = confusionMatrix(model, await loadSplitCached("test"));
 * console.log(formatConfusionMatrix(cm).join("\n"));
 * ```
 */
export function confusionMatrix(
  model: Sequential,
  split: MnistSplit,
  options: ConfusionMatrixOptions = {},
): ConfusionMatrix {
  const pixels = split.rows * split.cols;
  const inputShape = model.inputShape;
  const inputSize = inputShape.reduce((a, b) => a * b, 1);
  if (inputSize !== pixels) {
    throw new TypeError(
      `Cannot evaluate "${model.name}" (input [${inputShape}]) on ${split.rows}x${split.cols} images`,
    );
  }
  const numClasses = model.outputShape[0]!;
  const count = Math.min(options.limit ?? split.count, split.count);
  const chunk = options.batchSize ?? 256;
  const predictions = new Uint8Array(count);
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start);
    // x is (n, ...inputShape), pixels / 255
    const x = new Float32Array(n * pixels);
    const images = split.images.subarray(start * pixels, (start + n) * pixels);
    for (let i = 0; i < x.length; i++) x[i] = images[i]! / 255;
    const y = model.predict({ shape: [n, ...inputShape], data: x }, { batchSize: chunk });
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < numClasses; c++) {
        if (y.data[i * numClasses + c]! > y.data[i * numClasses + best]!) best = c;
      }
      predictions[start + i] = best;
    }
  }
  return countConfusions(split.labels.subarray(0, count), predictions, { numClasses });
}

function percent(part: number, whole: number): string {
  return whole === 0 ? "-" : `${(100 * part / whole).toFixed(1)}%`;
}

/**
 * The matrix as a text table: one row per true class with its counts per predicted class, the
 * row total and the class's recall; a last row of column totals and precisions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countConfusions, formatConfusionMatrix } from "./confusion_matrix.ts";
 * const lines = formatConfusionMatrix(countConfusions([0, 1, 1], [0, 1, 0], { numClasses: 2 }));
 * assert(lines.some((l) => /^true +1 /.test(l) && l.includes("50.0%")));
 * ```
 */
export function formatConfusionMatrix(cm: ConfusionMatrix): string[] {
  const k = cm.numClasses;
  const colTotals = Array.from({ length: k }, (_, p) => cm.counts.reduce((s, r) => s + r[p]!, 0));
  const width = Math.max(7, String(cm.total).length + 2);
  const cell = (s: string) => s.padStart(width);
  const lines: string[] = [];
  lines.push(
    `Confusion matrix: ${groupThousands(cm.total)} images, ${
      groupThousands(cm.correct)
    } correct (accuracy ${percent(cm.correct, cm.total)})`,
  );
  lines.push("rows: true label, columns: predicted label");
  const header = "pred  " + " ".repeat(2) +
    Array.from({ length: k }, (_, p) => cell(String(p))).join("") +
    " |" + cell("total") + "  recall";
  lines.push(header);
  lines.push("-".repeat(header.length));
  cm.counts.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    lines.push(
      `true ${String(t).padStart(2)} ` + row.map((c) => cell(String(c))).join("") + " |" +
        cell(String(total)) + cell(percent(row[t]!, total)).padStart(8),
    );
  });
  lines.push("-".repeat(header.length));
  lines.push(
    "total   " + colTotals.map((c) => cell(String(c))).join("") + " |" + cell(String(cm.total)),
  );
  lines.push(
    "precis. " + colTotals.map((c, p) => cell(percent(cm.counts[p]![p]!, c))).join(""),
  );
  return lines;
}

const CELL = 56;
const CORRECT: Rgb = [31, 119, 180];
const WRONG: Rgb = [214, 39, 40];

function mix(t: number, color: Rgb): Rgb {
  return [
    Math.round(255 + (color[0] - 255) * t),
    Math.round(255 + (color[1] - 255) * t),
    Math.round(255 + (color[2] - 255) * t),
  ];
}

/**
 * The matrix as a picture: a 56-pixel cell per (true, predicted) pair with its count written in
 * it; diagonal cells (correct) shaded blue by the class's recall, off-diagonal cells (mistakes)
 * shaded red by their count relative to the largest mistake, so the common confusions stand out.
 * Row labels (true) on the left, column labels (predicted) on top, row totals on the right.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { confusionMatrixImage, countConfusions } from "./confusion_matrix.ts";
 * const image = confusionMatrixImage(countConfusions([0, 1, 2, 3], [0, 1, 2, 2]));
 * assert(image.width > 10 * 56 && image.height > 10 * 56);
 * ```
 */
export function confusionMatrixImage(cm: ConfusionMatrix): RgbImage {
  const k = cm.numClasses;
  const lh = lineHeight(2);
  const title = [
    `confusion matrix: ${cm.total} images, accuracy ${percent(cm.correct, cm.total)}`,
    "rows: true label, columns: predicted label",
  ];
  const left = MARGIN + textWidth("T", 2) + 10 + textWidth("00", 2) + 8;
  const top = MARGIN + title.length * lh + 8 + lh + lh;
  const totalWidth = textWidth(String(cm.total), 2) + 16;
  const gridW = k * CELL;
  const width = Math.max(
    left + gridW + 8 + totalWidth + MARGIN,
    MARGIN + textWidth(title[0]!, 2) + MARGIN,
  );
  const height = top + k * CELL + MARGIN;
  const image = createImage(width, height);
  const text = (t: string, x: number, y: number, options: { scale?: number; color?: Rgb } = {}) =>
    drawText(image, t, { x: Math.floor(x), y: Math.floor(y), scale: 2, ...options });
  title.forEach((line, i) => text(line, MARGIN, MARGIN + i * lh));

  // axis names: "PREDICTED" over the columns, "TRUE" down the left edge
  const axisY = MARGIN + title.length * lh + 8;
  text("predicted", left + (gridW - textWidth("predicted", 2)) / 2, axisY);
  "TRUE".split("").forEach((ch, i) => text(ch, MARGIN, top + (k * CELL - 4 * lh) / 2 + i * lh));
  text("total", left + gridW + 8, axisY + lh);

  let maxWrong = 0;
  cm.counts.forEach((row, t) =>
    row.forEach((c, p) => t !== p && (maxWrong = Math.max(maxWrong, c)))
  );
  for (let p = 0; p < k; p++) {
    const label = String(p);
    text(label, left + p * CELL + (CELL - textWidth(label, 2)) / 2, axisY + lh);
  }
  cm.counts.forEach((row, t) => {
    const y = top + t * CELL;
    const rowTotal = row.reduce((a, b) => a + b, 0);
    const label = String(t);
    text(label, left - 8 - textWidth(label, 2), y + (CELL - 14) / 2);
    row.forEach((c, p) => {
      const x = left + p * CELL;
      const shade = t === p
        ? (rowTotal === 0 ? 0 : c / rowTotal)
        : (maxWrong === 0 ? 0 : Math.sqrt(c / maxWrong));
      const color: Rgb = c === 0
        ? [246, 246, 246]
        : mix(0.08 + 0.92 * shade, t === p ? CORRECT : WRONG);
      fillRect(image, { x: x + 1, y: y + 1, width: CELL - 2, height: CELL - 2, color });
      const count = String(c);
      const scale = textWidth(count, 2) <= CELL - 6 ? 2 : 1;
      const ink: Rgb = c === 0 ? [170, 170, 170] : shade > 0.55 ? [255, 255, 255] : [20, 20, 20];
      text(count, x + (CELL - textWidth(count, scale)) / 2, y + (CELL - 7 * scale) / 2, {
        scale,
        color: ink,
      });
    });
    text(String(rowTotal), left + gridW + 8, y + (CELL - 14) / 2);
  });
  return image;
}

/**
 * Writes {@linkcode confusionMatrixImage} as a PNG file.
 *
 * @example
 * ```ts ignore
 * import { confusionMatrix, writeConfusionMatrixPng } from "./confusion_matrix.ts";
 * await writeConfusionMatrixPng(confusionMatrix(model, testSplit), "out/confusion_matrix.png");
 * ```
 */
export async function writeConfusionMatrixPng(cm: ConfusionMatrix, file: string): Promise<void> {
  await writePng(file, confusionMatrixImage(cm));
}
