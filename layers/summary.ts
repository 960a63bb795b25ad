/**
 * `model.summary()` as tf.keras 2.x prints it (Keras 2.9-2.11 `print_summary`): 65 columns, column
 * stops at 29/55/65, a long field cut at its column and continued on the next line, a blank row
 * after each layer, and comma-grouped totals. Derived from shape inference and parameter counts,
 * never written per layer.
 *
 * @module
 */

import { formatShape } from "../engine/tensor.ts";

/** One row of the table: the layer's `name (ClassName)`, output shape and parameter count. */
export interface SummaryRow {
  readonly name: string;
  readonly className: string;
  readonly outputShape: readonly number[];
  readonly params: number;
  readonly trainable: boolean;
}

const LINE_LENGTH = 65;
const POSITIONS = [29, 55, 65];

/** Keras's `print_row`: fields cut at the column stops, continued on following lines. */
function printRow(fields: string[], positions: number[], out: string[]): void {
  const left = [...fields];
  while (left.some((f) => f.length > 0)) {
    let line = "";
    for (let col = 0; col < left.length; col++) {
      const start = col > 0 ? positions[col - 1]! : 0;
      const end = positions[col]!;
      const space = col !== positions.length - 1 ? 2 : 0;
      let cutoff = end - start - space;
      let fit = left[col]!.slice(0, cutoff);
      // Keras prefers to break after the end of a tuple/list element
      const breaks = ["),", "},", "],", "',"]
        .map((b) => (fit.indexOf(b) >= 0 ? fit.indexOf(b) + b.length : -1))
        .filter((c) => c >= 0);
      if (breaks.length > 0) {
        cutoff = Math.min(...breaks);
        fit = fit.slice(0, cutoff);
      }
      if (col === 0) line += " ";
      line += fit + " ".repeat(space);
      left[col] = left[col]!.slice(cutoff);
      line += " ".repeat(Math.max(0, positions[col]! - line.length));
    }
    out.push(line);
  }
}

/** Python's `{:,}` formatting. */
export function groupThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * The summary table's lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summaryLines } from "./summary.ts";
 * const lines = summaryLines("sequential", [
 *   { name: "dense", className: "Dense", outputShape: [10], params: 7850, trainable: true },
 * ]);
 * assert(lines[0] === 'Model: "sequential"');
 * ```
 */
export function summaryLines(modelName: string, rows: readonly SummaryRow[]): string[] {
  const out: string[] = [];
  out.push(`Model: "${modelName}"`);
  out.push("_".repeat(LINE_LENGTH));
  printRow(["Layer (type)", "Output Shape", "Param #"], POSITIONS, out);
  out.push("=".repeat(LINE_LENGTH));
  let trainable = 0, nonTrainable = 0;
  for (const r of rows) {
    printRow(
      [`${r.name} (${r.className})`, formatShape([null, ...r.outputShape]), String(r.params)],
      POSITIONS,
      out,
    );
    out.push(" ".repeat(LINE_LENGTH));
    if (r.trainable) trainable += r.params;
    else nonTrainable += r.params;
  }
  out.push("=".repeat(LINE_LENGTH));
  out.push(`Total params: ${groupThousands(trainable + nonTrainable)}`);
  out.push(`Trainable params: ${groupThousands(trainable)}`);
  out.push(`Non-trainable params: ${groupThousands(nonTrainable)}`);
  out.push("_".repeat(LINE_LENGTH));
  return out;
}
