/**
 * Keras's progress bar (`keras.utils.Progbar` as `fit` drives it), as a training sink:
 *
 * ```
 * Epoch 1/5
 * 938/938 [==============================] - 41s 44ms/step - loss: 0.1428 - accuracy: 0.9557
 * ```
 *
 * On a terminal the line is redrawn in place with an ETA while the epoch runs; otherwise (a pipe,
 * a log file) one line is written per epoch. `verbose: 2` writes Keras's one-line-per-epoch form.
 *
 * @module
 */

import type { StepMetrics } from "../layers/step.ts";
import type { BatchLogs, Callback, EpochLogs } from "./callbacks.ts";

/** Options of the progress bar. */
export interface ProgressBarOptions {
  /** 1: bar (default); 2: one line per epoch. */
  verbose?: 1 | 2;
  /** Steps per epoch, if known (a stream of unknown length shows a counter instead of a bar). */
  steps?: number | undefined;
  epochs?: number;
  /** Where text goes (default: standard output). */
  write?: (text: string) => void;
  /** Redraw in place (default: whether standard output is a terminal). */
  isTTY?: boolean;
  /** Clock in milliseconds (default `performance.now`). */
  now?: () => number;
}

const WIDTH = 30;

/** Keras's metric formatting: `%.4f`, or `%.4e` when |value| <= 1e-3. */
export function formatMetric(value: number): string {
  if (Math.abs(value) > 1e-3) return value.toFixed(4);
  // Python writes exponents with at least two digits: 1.2340e-04
  const [mant, exp] = value.toExponential(4).split("e");
  const sign = exp!.startsWith("-") ? "-" : "+";
  const digits = exp!.replace(/^[+-]/, "").padStart(2, "0");
  return `${mant}e${sign}${digits}`;
}

/** `[=====>........]` for `current` of `target`, Keras's drawing. */
export function formatBar(current: number, target: number): string {
  const digits = String(target).length;
  let bar = `${String(current).padStart(digits)}/${target} [`;
  const progWidth = Math.floor((WIDTH * current) / target);
  if (progWidth > 0) {
    bar += "=".repeat(progWidth - 1);
    bar += current < target ? ">" : "=";
  }
  bar += ".".repeat(WIDTH - progWidth) + "]";
  return bar;
}

/** Keras's ETA format: `1:02:03`, `2:05` or `42s`. */
export function formatEta(seconds: number): string {
  const s = Math.floor(seconds);
  if (s > 3600) {
    return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}:${
      String(s % 60).padStart(2, "0")
    }`;
  }
  if (s > 60) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  return `${s}s`;
}

/** Keras's per-step time: `2s/step`, `44ms/step` or `350us/step`. */
export function formatTimePerStep(seconds: number): string {
  if (seconds >= 1 || seconds === 0) return `${seconds.toFixed(0)}s/step`;
  if (seconds >= 1e-3) return `${(seconds * 1e3).toFixed(0)}ms/step`;
  return `${(seconds * 1e6).toFixed(0)}us/step`;
}

function formatLogs(logs: Record<string, number | undefined>): string {
  let s = "";
  for (const [k, v] of Object.entries(logs)) {
    if (v === undefined || k === "seconds") continue;
    s += ` - ${k}: ${formatMetric(v)}`;
  }
  return s;
}

const encoder = new TextEncoder();

/** The progress bar as a `fit` callback. */
export class ProgressBar implements Callback {
  #verbose: 1 | 2;
  #steps: number | undefined;
  #epochs: number;
  #write: (text: string) => void;
  #tty: boolean;
  #now: () => number;
  #start = 0;
  #current = 0;
  #lastDraw = -Infinity;
  #lastWidth = 0;

  /** Creates a bar writing to stdout by default (verbose 1, redrawn on a terminal). */
  constructor(options: ProgressBarOptions = {}) {
    this.#verbose = options.verbose ?? 1;
    this.#steps = options.steps;
    this.#epochs = options.epochs ?? 1;
    this.#write = options.write ?? ((t) => Deno.stdout.writeSync(encoder.encode(t)));
    this.#tty = options.isTTY ?? Deno.stdout.isTerminal();
    this.#now = options.now ?? (() => performance.now());
  }

  /** Takes the epoch count and, unless given in the options, the steps per epoch. */
  onTrainBegin(info: { epochs: number; steps: number | undefined }): void {
    this.#epochs = info.epochs;
    this.#steps ??= info.steps;
  }

  /** Prints `Epoch i/n` when there are several epochs and resets the timer. */
  onEpochBegin(epoch: number): void {
    // Keras's ProgbarLogger names the epoch only when there are several
    if (this.#epochs > 1) this.#write(`Epoch ${epoch + 1}/${this.#epochs}\n`);
    this.#start = this.#now();
    this.#current = 0;
    this.#lastDraw = -Infinity;
    this.#lastWidth = 0;
  }

  /** Redraws the bar (at most every 50 ms, on a terminal, verbose 1 only). */
  onBatchEnd(step: StepMetrics, logs: BatchLogs): void {
    this.#current = step.step;
    if (!this.#tty || this.#verbose !== 1) return;
    const now = this.#now();
    // redraw at most every 50 ms, as Keras's stateful progbar does
    if (now - this.#lastDraw < 50 && this.#current !== this.#steps) return;
    this.#lastDraw = now;
    const elapsed = (now - this.#start) / 1000;
    const perStep = elapsed / this.#current;
    let line = this.#steps === undefined
      ? `${this.#current}/Unknown`
      : formatBar(this.#current, this.#steps);
    if (this.#steps !== undefined && this.#current < this.#steps) {
      line += ` - ETA: ${formatEta(perStep * (this.#steps - this.#current))}`;
    } else {
      line += ` - ${elapsed.toFixed(0)}s ${formatTimePerStep(perStep)}`;
    }
    line += formatLogs({ loss: logs.loss, accuracy: logs.accuracy });
    const pad = Math.max(0, this.#lastWidth - line.length);
    this.#lastWidth = line.length;
    this.#write(`\r${line}${" ".repeat(pad)}`);
  }

  /** Prints the epoch's summary line with its metrics. */
  onEpochEnd(_epoch: number, logs: EpochLogs): void {
    const elapsed = (this.#now() - this.#start) / 1000;
    const steps = this.#current;
    const perStep = elapsed / Math.max(steps, 1);
    const metrics = formatLogs({
      loss: logs.loss,
      accuracy: logs.accuracy,
      val_loss: logs.val_loss,
      val_accuracy: logs.val_accuracy,
    });
    if (this.#verbose === 2) {
      this.#write(
        `${steps}/${steps} - ${elapsed.toFixed(0)}s${metrics} - ${elapsed.toFixed(0)}s/epoch - ${
          formatTimePerStep(perStep)
        }\n`,
      );
      return;
    }
    const line = `${formatBar(steps, this.#steps ?? steps)} - ${elapsed.toFixed(0)}s ${
      formatTimePerStep(perStep)
    }${metrics}`;
    const pad = Math.max(0, this.#lastWidth - line.length);
    this.#write(this.#tty ? `\r${line}${" ".repeat(pad)}\n` : `${line}\n`);
  }
}
