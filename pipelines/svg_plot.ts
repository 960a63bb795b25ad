/**
 * Training curves as an SVG picture: loss and accuracy per epoch, training and validation, in
 * two side-by-side panels with axes, ticks, labels and a legend; the final test evaluation, when
 * the log has one, as a dotted horizontal line. Reads the JSONL metrics log `deno task train
 * --metrics FILE` writes (`jsonl_log.ts`): one object per epoch `{epoch, loss, accuracy,
 * val_loss?, val_accuracy?, seconds}`, then one `{test_loss, test_accuracy, test_count}`.
 *
 * Plain SVG 1.1, no script or external resource: any browser, Inkscape or `rsvg-convert` shows it.
 *
 * @module
 */

import { dirname } from "node:path";
import { groupThousands } from "../layers/summary.ts";
import { writeTextFileAtomic } from "./atomic_write.ts";

/** One epoch's metrics, as the JSONL log writes them (epochs numbered from 1). */
export interface EpochRecord {
  /** Epoch number, from 1. */
  epoch: number;
  /** Mean training loss of the epoch. */
  loss: number;
  /** Training accuracy of the epoch, in [0, 1]. */
  accuracy: number;
  /** Mean validation loss, when validated. */
  val_loss?: number;
  /** Validation accuracy in [0, 1], when validated. */
  val_accuracy?: number;
  /** Wall time of the epoch in seconds. */
  seconds?: number;
}

/** The final test evaluation line of the log. */
export interface TestRecord {
  /** Mean loss on the test set. */
  test_loss: number;
  /** Accuracy on the test set, in [0, 1]. */
  test_accuracy: number;
  /** Number of test examples evaluated. */
  test_count?: number;
}

/** A line of the metrics log. */
export type MetricsRecord = EpochRecord | TestRecord;

function isEpoch(r: MetricsRecord): r is EpochRecord {
  return "epoch" in r;
}

/**
 * Parses a JSONL metrics log (blank lines are skipped).
 *
 * @throws {SyntaxError} naming the file and line when a line is not JSON, or is neither an epoch
 *   record (`epoch`, `loss`, `accuracy` numbers) nor a test record (`test_loss`, `test_accuracy`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMetricsJsonl } from "./svg_plot.ts";
 * const records = parseMetricsJsonl('{"epoch":1,"loss":0.2,"accuracy":0.9,"seconds":3}\n');
 * assert(records.length === 1);
 * ```
 */
export function parseMetricsJsonl(text: string, file = "metrics.jsonl"): MetricsRecord[] {
  const records: MetricsRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new SyntaxError(`${file}:${i + 1}: not JSON (${(e as Error).message})`);
    }
    const r = value as Record<string, unknown>;
    const num = (k: string) => typeof r[k] === "number";
    if (typeof r === "object" && r !== null && num("epoch") && num("loss") && num("accuracy")) {
      records.push(r as unknown as EpochRecord);
    } else if (typeof r === "object" && r !== null && num("test_loss") && num("test_accuracy")) {
      records.push(r as unknown as TestRecord);
    } else {
      throw new SyntaxError(
        `${file}:${
          i + 1
        }: expected {epoch, loss, accuracy, ...} or {test_loss, test_accuracy, ...}, found ${
          line.slice(0, 100)
        }`,
      );
    }
  });
  return records;
}

/**
 * Reads and parses a JSONL metrics log (see {@linkcode parseMetricsJsonl}).
 *
 * @example
 * ```ts ignore
 * import { readMetricsJsonl } from "./svg_plot.ts";
 * const records = await readMetricsJsonl("metrics.jsonl");
 * ```
 */
export async function readMetricsJsonl(path: string): Promise<MetricsRecord[]> {
  return parseMetricsJsonl(await Deno.readTextFile(path), path);
}

/**
 * The records of a `fit` history (Keras's `history.history`), plus the test evaluation if given:
 * what `writeTrainingPlot` takes when no JSONL log was written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recordsFromHistory } from "./svg_plot.ts";
 * const records = recordsFromHistory(
 *   { epoch: [0, 1], history: { loss: [0.3, 0.1], accuracy: [0.9, 0.97] } },
 *   { loss: 0.08, accuracy: 0.975 },
 * );
 * assert(records.length === 3);
 * ```
 */
export function recordsFromHistory(
  history: { epoch: readonly number[]; history: Record<string, readonly number[]> },
  test?: { loss: number; accuracy: number; count?: number },
): MetricsRecord[] {
  const h = history.history;
  const records: MetricsRecord[] = history.epoch.map((e, i) => {
    const r: EpochRecord = {
      epoch: e + 1,
      loss: h.loss?.[i] ?? NaN,
      accuracy: h.accuracy?.[i] ?? NaN,
    };
    if (h.val_loss?.[i] !== undefined) r.val_loss = h.val_loss[i]!;
    if (h.val_accuracy?.[i] !== undefined) r.val_accuracy = h.val_accuracy[i]!;
    return r;
  });
  if (test !== undefined) {
    records.push({
      test_loss: test.loss,
      test_accuracy: test.accuracy,
      ...(test.count === undefined ? {} : { test_count: test.count }),
    });
  }
  return records;
}

/**
 * About `count` (default 5) ticks of a "nice" step (1, 2, 2.5 or 5 times a power of ten)
 * covering [lo, hi].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { niceTicks } from "./svg_plot.ts";
 * assert(niceTicks(0, 0.7).ticks.join() === "0,0.2,0.4,0.6,0.8");
 * ```
 */
export function niceTicks(
  lo: number,
  hi: number,
  options: { count?: number } = {},
): { lo: number; hi: number; ticks: number[] } {
  const count = options.count ?? 5;
  if (!(hi > lo)) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return niceTicks(lo - pad, hi + pad, options);
  }
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; first + i * step <= last + step * 1e-9; i++) {
    ticks.push(Number((first + i * step).toPrecision(12)));
  }
  return { lo: first, hi: last, ticks };
}

function tickLabel(v: number, ticks: readonly number[]): string {
  const step = ticks.length > 1 ? Math.abs(ticks[1]! - ticks[0]!) : 1;
  const decimals = Math.max(
    0,
    Math.min(
      6,
      -Math.floor(Math.log10(step) + 1e-9) + (/(25|5)$/.test(String(step)) && step < 1 ? 1 : 0),
    ),
  );
  return v.toFixed(decimals);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

const fmt = (x: number) => Number(x.toFixed(2)).toString();

const TRAIN_COLOR = "#1f77b4";
const VAL_COLOR = "#ff7f0e";
const TEST_COLOR = "#2ca02c";

interface Series {
  name: string;
  color: string;
  dash: string | null;
  points: [number, number][];
}

interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
  test: number | undefined;
  /** Accuracy is capped at 1. */
  max?: number;
  /** Loss starts at 0. */
  zeroBased: boolean;
}

const WIDTH = 960;
const HEIGHT = 460;
const PLOT_TOP = 104;
const PLOT_BOTTOM = HEIGHT - 60;

function drawPanel(out: string[], panel: Panel, x0: number, epochs: readonly number[]): void {
  const left = x0 + 72, right = x0 + 460;
  const top = PLOT_TOP, bottom = PLOT_BOTTOM;
  const values = panel.series.flatMap((s) => s.points.map((p) => p[1]));
  if (panel.test !== undefined) values.push(panel.test);
  const finite = values.filter(Number.isFinite);
  let lo = finite.length === 0 ? 0 : Math.min(...finite);
  let hi = finite.length === 0 ? 1 : Math.max(...finite);
  if (panel.zeroBased) lo = Math.min(0, lo);
  const y = niceTicks(lo, hi);
  if (panel.max !== undefined && y.hi > panel.max && hi <= panel.max) {
    y.hi = panel.max;
    y.ticks = y.ticks.filter((t) => t <= panel.max! + 1e-9);
  }
  lo = y.lo;
  hi = y.hi;
  const firstEpoch = Math.min(...epochs), lastEpoch = Math.max(...epochs);
  const xLo = firstEpoch === lastEpoch ? firstEpoch - 0.5 : firstEpoch;
  const xHi = firstEpoch === lastEpoch ? lastEpoch + 0.5 : lastEpoch;
  const px = (e: number) => left + (e - xLo) / (xHi - xLo) * (right - left);
  const py = (v: number) => bottom - (v - lo) / (hi - lo) * (bottom - top);

  out.push(`<g class="panel" data-panel="${escapeXml(panel.yLabel)}">`);
  out.push(
    `<text x="${(left + right) / 2}" y="${
      top - 14
    }" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(panel.title)}</text>`,
  );
  // grid and y ticks
  for (const t of y.ticks) {
    const yy = fmt(py(t));
    out.push(
      `<line x1="${left}" y1="${yy}" x2="${right}" y2="${yy}" stroke="#e5e5e5" stroke-width="1"/>`,
    );
    out.push(
      `<line x1="${left - 5}" y1="${yy}" x2="${left}" y2="${yy}" stroke="#333" stroke-width="1"/>`,
    );
    out.push(
      `<text x="${left - 8}" y="${yy}" dy="0.35em" text-anchor="end" font-size="12">${
        tickLabel(t, y.ticks)
      }</text>`,
    );
  }
  // x ticks: every epoch, or a nice step when there are many
  const xTicks = lastEpoch - firstEpoch <= 12
    ? epochs
    : niceTicks(firstEpoch, lastEpoch, { count: 8 }).ticks.filter((t) =>
      t >= firstEpoch && t <= lastEpoch
    );
  for (const e of xTicks) {
    const xx = fmt(px(e));
    out.push(
      `<line x1="${xx}" y1="${bottom}" x2="${xx}" y2="${
        bottom + 5
      }" stroke="#333" stroke-width="1"/>`,
    );
    out.push(`<text x="${xx}" y="${bottom + 20}" text-anchor="middle" font-size="12">${e}</text>`);
  }
  // axes
  out.push(
    `<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333" stroke-width="1.5"/>`,
  );
  out.push(
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333" stroke-width="1.5"/>`,
  );
  out.push(
    `<text x="${(left + right) / 2}" y="${
      bottom + 44
    }" text-anchor="middle" font-size="14">epoch</text>`,
  );
  const yMid = (top + bottom) / 2;
  out.push(
    `<text x="${x0 + 18}" y="${yMid}" text-anchor="middle" font-size="14" transform="rotate(-90 ${
      x0 + 18
    } ${yMid})">${escapeXml(panel.yLabel)}</text>`,
  );
  // test line
  if (panel.test !== undefined && Number.isFinite(panel.test)) {
    const yy = fmt(py(panel.test));
    out.push(
      `<line class="test" x1="${left}" y1="${yy}" x2="${right}" y2="${yy}" stroke="${TEST_COLOR}" stroke-width="1.5" stroke-dasharray="2 4"/>`,
    );
    out.push(
      `<text x="${left + 6}" y="${yy}" dy="-0.4em" font-size="12" fill="${TEST_COLOR}">test ${
        panel.test.toFixed(4)
      }</text>`,
    );
  }
  // series
  for (const s of panel.series) {
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (pts.length === 0) continue;
    const dash = s.dash === null ? "" : ` stroke-dasharray="${s.dash}"`;
    out.push(
      `<polyline data-series="${
        escapeXml(s.name)
      }" fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${
        pts.map(([e, v]) => `${fmt(px(e))},${fmt(py(v))}`).join(" ")
      }"/>`,
    );
    for (const [e, v] of pts) {
      out.push(`<circle cx="${fmt(px(e))}" cy="${fmt(py(v))}" r="3.5" fill="${s.color}"/>`);
    }
  }
  out.push("</g>");
}

/**
 * The training curves as an SVG document: a loss panel and an accuracy panel, each with the
 * training curve (solid blue), the validation curve when the log has one (dashed orange) and the
 * test result (dotted green), with axes, ticks, labels and a legend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { trainingPlotSvg } from "./svg_plot.ts";
 * const svg = trainingPlotSvg([
 *   { epoch: 1, loss: 0.3, accuracy: 0.9 },
 *   { epoch: 2, loss: 0.1, accuracy: 0.97 },
 * ]);
 * assert(svg.startsWith("<svg") && svg.match(/<polyline/g)!.length === 2);
 * ```
 */
export function trainingPlotSvg(
  records: readonly MetricsRecord[],
  options: { title?: string } = {},
): string {
  const epochs = records.filter(isEpoch).sort((a, b) => a.epoch - b.epoch);
  if (epochs.length === 0) {
    throw new RangeError("Cannot plot training curves: the records hold no epoch");
  }
  const test = records.find((r): r is TestRecord => !isEpoch(r));
  const hasVal = epochs.some((r) => r.val_loss !== undefined || r.val_accuracy !== undefined);
  const series = (
    key: keyof EpochRecord,
    name: string,
    color: string,
    dash: string | null,
  ): Series => ({
    name,
    color,
    dash,
    points: epochs.filter((r) => r[key] !== undefined).map((r) => [r.epoch, r[key] as number]),
  });
  const lossSeries = [series("loss", "train loss", TRAIN_COLOR, null)];
  const accSeries = [series("accuracy", "train accuracy", TRAIN_COLOR, null)];
  if (hasVal) {
    lossSeries.push(series("val_loss", "validation loss", VAL_COLOR, "7 4"));
    accSeries.push(series("val_accuracy", "validation accuracy", VAL_COLOR, "7 4"));
  }
  const title = options.title ?? "Training curves";
  const subtitle = test === undefined
    ? `${epochs.length} epoch${epochs.length === 1 ? "" : "s"}`
    : `${epochs.length} epoch${epochs.length === 1 ? "" : "s"}; test loss ${
      test.test_loss.toFixed(4)
    }, test accuracy ${test.test_accuracy.toFixed(4)}${
      test.test_count === undefined ? "" : ` on ${groupThousands(test.test_count)} images`
    }`;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
  );
  out.push(`<title>${escapeXml(title)}</title>`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  out.push(
    `<text x="${WIDTH / 2}" y="26" text-anchor="middle" font-size="18" font-weight="bold">${
      escapeXml(title)
    }</text>`,
  );
  out.push(
    `<text x="${WIDTH / 2}" y="46" text-anchor="middle" font-size="13" fill="#444">${
      escapeXml(subtitle)
    }</text>`,
  );
  // legend
  const legend: [string, string, string | null][] = [["train", TRAIN_COLOR, null]];
  if (hasVal) legend.push(["validation", VAL_COLOR, "7 4"]);
  if (test !== undefined) legend.push(["test", TEST_COLOR, "2 4"]);
  const itemWidth = 130;
  let lx = WIDTH / 2 - (legend.length * itemWidth) / 2;
  out.push(`<g class="legend">`);
  for (const [name, color, dash] of legend) {
    out.push(
      `<line x1="${lx}" y1="62" x2="${lx + 32}" y2="62" stroke="${color}" stroke-width="${
        dash === "2 4" ? 1.5 : 2
      }"${dash === null ? "" : ` stroke-dasharray="${dash}"`}/>`,
    );
    out.push(`<text x="${lx + 40}" y="62" dy="0.35em" font-size="13">${name}</text>`);
    lx += itemWidth;
  }
  out.push("</g>");
  const epochNumbers = epochs.map((r) => r.epoch);
  drawPanel(
    out,
    {
      title: "Loss",
      yLabel: "loss (categorical cross-entropy)",
      series: lossSeries,
      test: test?.test_loss,
      zeroBased: true,
    },
    0,
    epochNumbers,
  );
  drawPanel(
    out,
    {
      title: "Accuracy",
      yLabel: "accuracy",
      series: accSeries,
      test: test?.test_accuracy,
      max: 1,
      zeroBased: false,
    },
    WIDTH / 2,
    epochNumbers,
  );
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/**
 * Writes the training curves of `records` (the JSONL log's objects) as an SVG file, creating
 * the parent directory if needed.
 *
 * @example
 * ```ts ignore
 * import { readMetricsJsonl, writeTrainingPlot } from "./svg_plot.ts";
 * await writeTrainingPlot(await readMetricsJsonl("metrics.jsonl"), "metrics.svg");
 * ```
 */
export async function writeTrainingPlot(
  records: readonly MetricsRecord[],
  file: string,
  options: { title?: string } = {},
): Promise<void> {
  const svg = trainingPlotSvg(records, options);
  await Deno.mkdir(dirname(file), { recursive: true });
  await writeTextFileAtomic(file, svg);
}
